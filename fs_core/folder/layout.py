"""Names of the files and folders inside a model folder."""

from __future__ import annotations

#: TensorBoard event files, one ``session_<N>`` folder per training session
LOG_DIR = "logs"
