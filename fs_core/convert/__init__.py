"""The convert step: put swapped faces back into the frames they came from (``fs convert``).

Built in parts. So far: :mod:`fs_core.convert.alignments`, which reads faceswap's alignments file
(``.fsa``) without running code from it, and writes one in faceswap's format (for the demo clip
and tests).
"""
