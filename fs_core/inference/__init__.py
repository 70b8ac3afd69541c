"""Using a trained model: loading it as it was built (:mod:`~fs_core.inference.trained`), feeding it
faces and picking a side's face and mask (:mod:`~fs_core.inference.predict`), and swapping a
folder of faces (:mod:`~fs_core.inference.swap`, ``fs swap``). ``fs convert``, ``fs export`` and the
preview build on these.
"""
