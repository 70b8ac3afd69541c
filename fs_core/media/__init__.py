"""Media: reading the frames of a folder or a video as faceswap reads them.

* :mod:`~fs_core.media.frames` -- :class:`FrameSource` (a folder of frames or a video, decoded
  with PyAV), its :class:`SourceInfo`, and the keys faceswap gives frames in an alignments file.

Both ``fs extract`` (which writes the alignments) and ``fs convert`` (which reads them) read
frames here, so the two agree on every frame's key.
"""
