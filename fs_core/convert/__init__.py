"""The convert step: put swapped faces back into the frames they came from (``fs convert``).

It reads faceswap's alignments file (``.fsa``) through :mod:`fs_core.faces.alignments_file`, which
lives with the faces because the demo data and extraction write it too.
"""
