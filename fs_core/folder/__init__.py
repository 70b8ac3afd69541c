"""The model folder: the one package that knows a model folder's on-disk layout.

Weights and state, backups and their generations, snapshots beside the folder, the training
record, logs, previews, archived folders and the leftovers a kill leaves behind: saving, backing
up, snapshotting, restoring, retention and the disk guard all live here, below training, so that
training, the record, the GUI and the commands ask this package instead of building paths.
"""
