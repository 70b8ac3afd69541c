"""The report's rules: from the faces' measurements to the faces worth a look.

Each rule is relative to the set itself (a median, a robust z-score), so it needs no calibration
per camera or face size, and every threshold is a named constant the docs state
(docs/face-report.md). The functions take plain arrays and return indices, so they are tested on
numbers alone.
"""

from __future__ import annotations

import numpy as np

#: pose histogram cells (degrees); faces beyond the ends count in the outer cells
YAW_EDGES = tuple(float(v) for v in range(-60, 61, 10))
PITCH_EDGES = tuple(float(v) for v in range(-40, 41, 10))
#: a pose cell is a gap when A has at least this many faces there (and this share of A) ...
GAP_MIN_A = 3
GAP_MIN_A_SHARE = 0.005
#: ... and B's share of its faces there is below this fraction of A's share
GAP_B_RATIO = 0.25
#: a face is blurred when its sharpness is below this fraction of the set's median
BLUR_RATIO = 0.35
#: two faces are near-duplicates when their 256-bit pHashes differ in at most this many bits
DUPLICATE_BITS = 14
#: ... and their 4x4 colour thumbnails differ by at most this much (mean absolute, 0-255)
DUPLICATE_COLOUR = 16.0
#: the robust z-score (Iglewicz and Hoaglin's modified z) above which a face is an outlier
OUTLIER_Z = 3.5
#: alignment: faces are compared with the median shape of faces turned alike (yaw bins this wide,
#: when a bin holds ALIGN_MIN_BIN faces; else with the whole set's median shape)
ALIGN_YAW_BIN = 15.0
ALIGN_MIN_BIN = 10
#: identity: a face is another person when its distance from the set's centre is an outlier
#: (robust z above OUTLIER_Z) and at least this large (dlib's descriptors of one person's
#: photographs lie within about 0.6 of each other, so within about 0.3 of their centre)
IDENTITY_DISTANCE = 0.35
#: set statistics (median, MAD) need at least this many faces
MIN_FACES = 8


def robust_z(values: np.ndarray) -> np.ndarray:
    """The modified z-score 0.6745 (x - median) / MAD of each value: like a z-score, but one
    wild value cannot hide others by inflating the spread."""
    values = np.asarray(values, np.float64)
    median = np.median(values)
    mad = np.median(np.abs(values - median))
    if mad <= 0:  # over half the values equal: fall back to the mean absolute deviation
        mad = np.mean(np.abs(values - median)) / 1.2533
    if mad <= 0:
        return np.zeros_like(values)
    return 0.6745 * (values - median) / mad


def _cell(values: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    inner = np.asarray(edges[1:-1])
    return np.searchsorted(inner, np.asarray(values, np.float64), side="right")


def pose_cells(poses: np.ndarray) -> np.ndarray:
    """Each face's (pitch row, yaw column) in the pose histogram: ``poses`` (N, 2) degrees."""
    poses = np.asarray(poses, np.float64).reshape(-1, 2)
    return np.stack([_cell(poses[:, 0], PITCH_EDGES), _cell(poses[:, 1], YAW_EDGES)], 1)


def pose_histogram(poses: np.ndarray) -> np.ndarray:
    """Face counts per pose cell: int (pitch rows, yaw columns), pitch rising downwards."""
    counts = np.zeros((len(PITCH_EDGES) - 1, len(YAW_EDGES) - 1), np.int64)
    cells = pose_cells(poses)
    np.add.at(counts, (cells[:, 0], cells[:, 1]), 1)
    return counts


def pose_gaps(counts_a: np.ndarray, counts_b: np.ndarray) -> list[tuple[int, int]]:
    """The (pitch row, yaw column) cells where A has faces and B too few for the swap: A holds at
    least :data:`GAP_MIN_A` faces and :data:`GAP_MIN_A_SHARE` of its set there, and B's share of
    its set is under :data:`GAP_B_RATIO` of A's share. Most A faces first."""
    total_a, total_b = max(int(counts_a.sum()), 1), max(int(counts_b.sum()), 1)
    share_a, share_b = counts_a / total_a, counts_b / total_b
    enough = (counts_a >= GAP_MIN_A) & (share_a >= GAP_MIN_A_SHARE)
    cells = np.argwhere(enough & (share_b < GAP_B_RATIO * share_a))
    order = np.argsort(-counts_a[cells[:, 0], cells[:, 1]], kind="stable")
    return [(int(r), int(c)) for r, c in cells[order]]


def blurred(scores: np.ndarray) -> np.ndarray:
    """Indices of the faces whose sharpness is below :data:`BLUR_RATIO` of the set's median,
    blurriest first (none for a set under :data:`MIN_FACES`)."""
    scores = np.asarray(scores, np.float64)
    if len(scores) < MIN_FACES:
        return np.zeros(0, np.int64)
    found = np.flatnonzero(scores < BLUR_RATIO * np.median(scores))
    return found[np.argsort(scores[found], kind="stable")]


def hamming_pairs(hashes: np.ndarray, limit: int, block: int = 128) -> np.ndarray:
    """All pairs (i < j) of rows of ``hashes`` (N, W) uint64 that differ in at most ``limit`` bits:
    int (P, 2). All pairs are compared, a block of rows against the rows from it on, one 64-bit
    word at a time (XOR, population count, summed in uint16): at 10,000 faces under a
    second, with no index to get wrong. Small blocks keep the work in the CPU's cache."""
    words = np.ascontiguousarray(np.asarray(hashes, np.uint64).T)  # (W, N): one row per word
    count = words.shape[1]
    pairs = [np.zeros((0, 2), np.int64)]
    for start in range(0, count, block):
        stop = min(start + block, count)
        distance = np.zeros((stop - start, count - start), np.uint16)
        for word in words:
            distance += np.bitwise_count(word[start:stop, None] ^ word[None, start:])
        i, j = np.nonzero(distance <= limit)
        keep = j > i  # both count from ``start``: j > i is the upper triangle
        pairs.append(np.stack([i[keep] + start, j[keep] + start], 1))
    return np.concatenate(pairs)


def same_colour(pairs: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """The ``pairs`` whose colour signatures (N, K) uint8 differ by at most
    :data:`DUPLICATE_COLOUR` on average."""
    colours = np.asarray(colours, np.float32)
    if not len(pairs):
        return pairs
    diff = np.abs(colours[pairs[:, 0]] - colours[pairs[:, 1]]).mean(-1)
    return pairs[diff <= DUPLICATE_COLOUR]


def clusters(count: int, pairs: np.ndarray) -> list[list[int]]:
    """The groups of items joined by ``pairs`` (union-find; a chain of near pairs is one group),
    only groups of two or more, largest first, each in index order."""
    parent = np.arange(count)

    def root(item: int) -> int:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return int(item)

    for a, b in pairs:
        ra, rb = root(int(a)), root(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for item in np.unique(pairs):
        groups.setdefault(root(int(item)), []).append(int(item))
    found = [sorted(group) for group in groups.values() if len(group) > 1]
    return sorted(found, key=lambda group: (-len(group), group[0]))


def alignment_residuals(shapes: np.ndarray, yaws: np.ndarray) -> np.ndarray:
    """Per face, the RMS distance (unit aligned space, about a face's width) of its 68 aligned
    landmarks from the median shape of the faces turned alike (yaw within the same
    :data:`ALIGN_YAW_BIN`; the whole set's median when that bin holds under
    :data:`ALIGN_MIN_BIN`), so that a turned head is not taken for a bad alignment."""
    shapes = np.asarray(shapes, np.float64)
    bins = np.floor(np.asarray(yaws, np.float64) / ALIGN_YAW_BIN).astype(np.int64)
    overall = np.median(shapes, axis=0)
    out = np.empty(len(shapes))
    for value in np.unique(bins):
        members = bins == value
        enough = members.sum() >= ALIGN_MIN_BIN
        reference = np.median(shapes[members], axis=0) if enough else overall
        out[members] = np.sqrt(((shapes[members] - reference) ** 2).sum(-1).mean(-1))
    return out


def outliers(values: np.ndarray) -> np.ndarray:
    """Indices whose robust z-score exceeds :data:`OUTLIER_Z` (high side), worst first (none
    for a set under :data:`MIN_FACES`)."""
    values = np.asarray(values, np.float64)
    if len(values) < MIN_FACES:
        return np.zeros(0, np.int64)
    z = robust_z(values)
    found = np.flatnonzero(z > OUTLIER_Z)
    return found[np.argsort(-z[found], kind="stable")]


def identity_distances(descriptors: np.ndarray) -> np.ndarray:
    """Each face's distance from the set's own centre: the element-wise median of its dlib
    descriptors, which the faces of the set's main person dominate."""
    descriptors = np.asarray(descriptors, np.float64)
    centre = np.median(descriptors, axis=0)
    return np.linalg.norm(descriptors - centre, axis=1)


def identity_outliers(distances: np.ndarray) -> np.ndarray:
    """Indices of faces whose distance from the centre is an outlier (robust z above
    :data:`OUTLIER_Z`) and above :data:`IDENTITY_DISTANCE`, furthest first."""
    distances = np.asarray(distances, np.float64)
    if len(distances) < MIN_FACES:
        return np.zeros(0, np.int64)
    found = np.flatnonzero((distances > IDENTITY_DISTANCE) & (robust_z(distances) > OUTLIER_Z))
    return found[np.argsort(-distances[found], kind="stable")]
