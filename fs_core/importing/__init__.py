"""``fs import``: a faceswap model folder (faceswap 3, Keras 3 ``.keras``) as an fs model folder.

Small steps, one module each: :mod:`.archive` reads the untrusted ``.keras`` zip as data only,
:mod:`.faceswap_state` the ``<name>_state.json``, :mod:`.names` maps faceswap's trainer and option
names to fs's, :mod:`.weights_map` puts every faceswap weight on the fs variable it belongs to, and
:mod:`.writer` writes the fs folder atomically. faceswap, torch and faceswap's code are never
needed; the format facts this relies on are in ``docs/moving-from-faceswap.md``.
"""

from __future__ import annotations

from fs_core.importing.writer import ImportResult, import_faceswap_model

__all__ = ["ImportResult", "import_faceswap_model"]
