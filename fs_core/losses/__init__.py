"""How the training objective is built from the configured loss functions and masks.

:mod:`fs_core.losses.selection` checks the ``[global.loss]``/``[global.mask]`` options against the
installed losses and the face set, and decides which losses and masks are active;
:mod:`fs_core.losses.compose` turns one side's model outputs and batch into the side's total loss.
"""
