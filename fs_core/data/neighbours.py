"""Nearest faces of the other side, by landmark distance, for warp-to-landmarks.

Found once when the loader starts: the Euclidean distance between two faces is taken over all 136
landmark coordinates in the training crop, and for every face the ``k`` nearest faces of the other
side are kept. Distances are computed in blocks so a pair of large sets never needs an N×M matrix.
"""

from __future__ import annotations

import numpy as np

DEFAULT_NEIGHBOURS = 10
_BLOCK = 1024


def nearest_faces(
    queries: np.ndarray, pool: np.ndarray, k: int = DEFAULT_NEIGHBOURS, exclude_self: bool = False
) -> np.ndarray:
    """Indices into ``pool`` (M, 68, 2) of the ``k`` faces nearest each of ``queries`` (N, 68, 2).

    Returns int64 (N, min(k, M)) ordered nearest first. ``exclude_self`` is for a set searched
    against itself (queries is pool): a face is then never its own neighbour.
    """
    query = queries.reshape(len(queries), -1).astype(np.float64)
    base = pool.reshape(len(pool), -1).astype(np.float64)
    available = len(base) - (1 if exclude_self else 0)
    k = min(k, available)
    if k < 1:
        raise ValueError("need at least one face to search among")
    base_norms = np.einsum("ij,ij->i", base, base)
    result = np.empty((len(query), k), np.int64)
    for start in range(0, len(query), _BLOCK):
        block = query[start : start + _BLOCK]
        distances = (
            np.einsum("ij,ij->i", block, block)[:, None]
            + base_norms[None, :]
            - 2.0 * block @ base.T
        )
        if exclude_self:
            rows = np.arange(len(block))
            distances[rows, start + rows] = np.inf
        nearest = (
            np.argpartition(distances, k - 1, axis=1)[:, :k]
            if k < len(base)
            else np.tile(np.arange(len(base)), (len(block), 1))
        )
        order = np.take_along_axis(distances, nearest, axis=1).argsort(axis=1, kind="stable")
        result[start : start + len(block)] = np.take_along_axis(nearest, order, axis=1)[:, :k]
    return result
