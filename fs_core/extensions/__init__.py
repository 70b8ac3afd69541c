"""Training-step extensions: what adds models, loss terms or an update filter to the step.

DeepFaceLab's quality tools (patch GAN, true face, style losses, LR dropout) are built-in
extensions registered through the ``fs_training_extensions`` hook like any pack's. The pieces:
:mod:`.api` (what an extension is and sees), :mod:`.forward` (the forward pass that also gives the
encoder's code and the swap), :mod:`.step` (the compiled step with extensions), :mod:`.saved`
(their parts and optimizer state in ``weights.h5``), :mod:`.activate` (turning them on for a
session) and the built-ins themselves.
"""
