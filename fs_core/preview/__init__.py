"""Pictures of what a model does: the preview grid, and running faces through a model.

Shared by the preview and timelapse built-ins (which draw the grid at each save) and by ``fs swap``
(which runs faces through one decoder):

* :mod:`~fs_core.preview.faces` -- choosing and preparing the faces a preview shows (no
  augmentation);
* :mod:`~fs_core.preview.predict` -- feeding faces to a model and picking a side's face and mask;
* :mod:`~fs_core.preview.layout` -- tiles, coverage brackets, mask overlay, header and the grid.
"""
