"""``fs gui``: a local web application to start, watch and steer training.

The server (:mod:`fs_core.gui.app`) reads model folders through the training record and starts
trainers as their own ``fs train`` processes; the page lives in ``static/`` and needs no internet.
"""
