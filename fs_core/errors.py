"""The one exception type for mistakes a user can fix.

Everything the user got wrong (a missing folder, a bad option, a corrupt model file) is raised as
:class:`FsUserError`. The CLI turns it into a single line and exit code 1; any other exception is a
bug in fs and exits with code 2.
"""

from __future__ import annotations

import os


class FsUserError(Exception):
    """A problem the user can fix, with the file it concerns (when there is one)."""

    def __init__(self, message: str, path: str | os.PathLike | None = None) -> None:
        self.message = message
        self.path = os.fspath(path) if path is not None else None
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The message as the CLI prints it: ``path: message`` on one line."""
        text = " ".join(self.message.split())
        return f"{self.path}: {text}" if self.path else text
