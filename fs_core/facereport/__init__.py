"""The face-set report (``fs faces report`` and the GUI's Faces tab): what in a face set will make
a swap fail -- pose gaps between A and B, blurred faces, near-duplicates, bad alignments and
faces of another person -- measured in one pass over the faces (see docs/face-report.md)."""
