"""``python -m fs_core`` is the ``fs`` command."""
import sys

from fs_core.cli.main import main

sys.exit(main())
