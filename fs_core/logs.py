"""``-L LOGLEVEL`` and ``-F LOGFILE``: where ``fs train``'s messages go, through Python logging.

The run reports through one ``notify(text)`` function (see :func:`fs_core.training.run.run_train`);
here it becomes ``logging.getLogger("fs").info``. Two handlers listen on the ``fs`` logger only
(not the root logger, so TensorFlow's and absl's records stay out):

* the console (stdout, the bare message, as fs printed before) at ``-L``'s level;
* with ``-F``, a file (timestamp, level, message) at the same level.

Records of the ``fs.logfile`` child logger go to the file alone: the status line at each save (the
console already shows it live) and the traceback of an internal error (the console prints its own).
The live status line itself is a display, not a message: it is shown whatever ``-L`` says.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOGGER = "fs"
FILE_ONLY = "fs.logfile"


class _ConsoleFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(FILE_ONLY)


class _FileFormatter(logging.Formatter):
    """Timestamped lines; the leading newlines messages carry to leave the status line are
    dropped."""

    def format(self, record: logging.LogRecord) -> str:
        record.msg = str(record.msg).strip("\n")
        return super().format(record)


@contextlib.contextmanager
def logging_to(level: str = "INFO", logfile: str | None = None) -> Iterator[Callable[[str], None]]:
    """Attach the console (and file) handlers for one command; yields the ``notify`` function.

    The handlers are removed again on exit, so a second command in the same process (tests, the
    Python API) starts clean. A log file that cannot be opened raises ``OSError`` naming it, which
    the CLI turns into a one-line error before anything is trained or saved.
    """
    logger = logging.getLogger(LOGGER)
    numeric = getattr(logging, level.upper())
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(logging.Formatter("%(message)s"))
    console.addFilter(_ConsoleFilter())
    handlers: list[logging.Handler] = [console]
    if logfile:
        path = Path(logfile)
        if path.is_dir():
            raise IsADirectoryError(21, "is a folder; -F needs a file name", str(path))
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(_FileFormatter("%(asctime)s %(levelname)-8s %(message)s"))
        handlers.append(handler)
    previous = (logger.level, logger.propagate)
    logger.setLevel(numeric)
    logger.propagate = False
    for each in handlers:
        each.setLevel(numeric)
        logger.addHandler(each)
    try:
        yield logger.info
    finally:
        for each in handlers:
            logger.removeHandler(each)
            each.close()
        logger.setLevel(previous[0])
        logger.propagate = previous[1]


def log_to_file(
    message: str, *args: object, level: int = logging.INFO, exc_info: bool = False
) -> None:
    """A record for the log file only (nothing is written when no ``-F`` file is open)."""
    logging.getLogger(FILE_ONLY).log(level, message, *args, exc_info=exc_info)
