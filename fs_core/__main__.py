"""``python -m fs_core`` is the ``fs`` command."""

import sys

from fs_core.cli.main import main

if __name__ == "__main__":  # not when a worker process (fs_core.parallel) re-imports this module
    sys.exit(main())
