"""Pictures of what a model does: the preview grid the preview and timelapse built-ins draw at each
save (running faces through the model is :mod:`fs_core.inference`).

* :mod:`~fs_core.preview.faces` -- choosing and preparing the faces a preview shows (no
  augmentation);
* :mod:`~fs_core.preview.layout` -- tiles, coverage brackets, mask overlay, header and the grid.
"""
