"""``fs extract``: from a folder of frames or a video to a faceswap face set, without faceswap.

Modules, each with one job:

* :mod:`~fs_core.extract.models` -- dlib's detectors (HOG, MMOD CNN), 68-point landmarker and
  face-recognition network, from the optional ``extract`` extra;
* :mod:`~fs_core.extract.identity` -- the ``-f``/``-n`` identity filter;
* :mod:`~fs_core.extract.existing` -- what an earlier run left (resuming, ``-s``, ``-e``);
* :mod:`~fs_core.extract.run` -- :func:`extract`: the frame loop that writes the faces and the
  alignments file;
* :mod:`~fs_core.extract.sort` -- ``fs sort``: a face set put in order for cleaning by eye.
"""
