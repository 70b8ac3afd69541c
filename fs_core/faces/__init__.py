"""Faces: reading face images and their faceswap headers, alignment, training crops, demo data.

Modules, each with one job:

* :mod:`~fs_core.faces.pngmeta` -- the ``faceswap`` iTXt header of a face PNG (read, encode, write);
* :mod:`~fs_core.faces.alignment` -- Umeyama, pose, centering offsets, aligned crops and sub-crops;
* :mod:`~fs_core.faces.read` -- :func:`read_face` -> :class:`FaceRecord` (image, landmarks, masks);
* :mod:`~fs_core.faces.prepare` -- :func:`prepare_face`: the training crop and its mask channels;
* :mod:`~fs_core.faces.faceset` -- :func:`index_faceset`: a folder's faces and what they provide;
* :mod:`~fs_core.faces.alignments_file` -- faceswap's alignments file (``.fsa``), read safely and
  written;
* :mod:`~fs_core.faces.header` -- the faceswap header of an extracted face and its matching
  alignments-file entry (``fs extract`` and the demo data);
* :mod:`~fs_core.faces.images` -- :func:`write_image`: an image file written atomically;
* :mod:`~fs_core.faces.demo` -- :func:`write_demo_data`: two synthetic identities.
"""
