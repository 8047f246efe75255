"""Cosine similarity of every unordered pair of embeddings, by blocked matrix products.

A plain blocked implementation: rows are L2-normalised in float64 and the upper
triangle of the Gram matrix is computed one ``block_size x block_size`` tile at a
time, so no ``n x n`` matrix is ever held. The output itself has ``n (n - 1) / 2``
entries, which is fine up to about ``10**7`` pairs.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["all_pairs_cosine", "normalize_rows", "pair_offsets"]


def normalize_rows(embeddings: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Rows scaled to unit Euclidean (L2) norm, in float64.

    Each row is first divided by its largest absolute value, so that neither
    overflow (values near 1e200) nor underflow (values near 1e-200) can spoil
    the norm.

    Parameters
    ----------
    embeddings : array-like of float, shape (n, d)
        Finite values; no row may be all zeros.

    Returns
    -------
    ndarray of float64, shape (n, d)
        The normalised rows.

    Raises
    ------
    ValueError
        If the input is not 2-D, holds a non-finite value or an all-zero row.

    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("embeddings must be finite")
    if x.shape[1] == 0:
        raise ValueError("embeddings must have at least one dimension")
    scale = np.max(np.abs(x), axis=1, keepdims=True, initial=0.0)
    if np.any(scale == 0.0):
        row = int(np.flatnonzero(scale[:, 0] == 0.0)[0])
        raise ValueError(f"embedding row {row} has zero norm; cosine similarity is undefined")
    x = x / scale
    unit: npt.NDArray[np.float64] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return unit


def pair_offsets(n: int) -> npt.NDArray[np.int64]:
    """Position of the first pair ``(i, i + 1)`` of each row ``i`` in the (i, j) order.

    Pair ``(i, j)`` with ``i < j`` sits at ``pair_offsets(n)[i] + (j - i - 1)``;
    row ``i`` holds ``n - 1 - i`` pairs, so the offset is
    ``i (n - 1) - i (i - 1) / 2``.

    Examples
    --------
    >>> pair_offsets(4).tolist()
    [0, 3, 5, 6]

    """
    i = np.arange(n, dtype=np.int64)
    return i * (n - 1) - i * (i - 1) // 2


def all_pairs_cosine(
    embeddings: npt.ArrayLike, *, block_size: int = 2048
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Cosine similarity of every unordered pair ``i < j`` of rows, ordered by (i, j).

    The cosine similarity of ``x`` and ``y`` is ``x . y / (|x| |y|)``; rows are
    normalised once (:func:`normalize_rows`) and the scores are the entries above
    the diagonal of the Gram matrix of the normalised rows, computed tile by tile.
    Scores are clipped to [-1, 1] to remove rounding excess.

    Parameters
    ----------
    embeddings : array-like of float, shape (n, d)
        One embedding (template) per row; finite, no all-zero row.
    block_size : int, default 2048
        Rows and columns per tile; memory beyond the output is about
        ``block_size**2`` float64 values.

    Returns
    -------
    i, j : ndarray of int64, shape (n (n - 1) / 2,)
        Row indices of the two embeddings, ``i < j``, in lexicographic order.
    score : ndarray of float64, shape (n (n - 1) / 2,)
        Cosine similarity of rows ``i`` and ``j``.

    Raises
    ------
    ValueError
        If the embeddings are not 2-D, not finite, have an all-zero row, or
        ``block_size`` is below 1.

    Examples
    --------
    >>> i, j, s = all_pairs_cosine([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    >>> i.tolist(), j.tolist(), s.round(4).tolist()
    ([0, 0, 1], [1, 2, 2], [0.7071, 0.0, 0.7071])

    """
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
    x = normalize_rows(embeddings)
    n = x.shape[0]
    n_pairs = n * (n - 1) // 2
    offsets = pair_offsets(n)
    counts = np.arange(n - 1, -1, -1, dtype=np.int64)
    i = np.repeat(np.arange(n, dtype=np.int64), counts)
    j = np.arange(n_pairs, dtype=np.int64) - offsets[i] + i + 1
    score = np.empty(n_pairs, dtype=np.float64)
    for r0 in range(0, n, block_size):
        r1 = min(r0 + block_size, n)
        for c0 in range(r0, n, block_size):
            c1 = min(c0 + block_size, n)
            tile = x[r0:r1] @ x[c0:c1].T
            # Row r of the tile holds pairs (r, j) for j in [max(c0, r + 1), c1): one
            # contiguous run of the output.
            for r in range(r0, min(r1, c1 - 1)):
                start = max(c0, r + 1)
                at = offsets[r] + start - r - 1
                score[at : at + c1 - start] = tile[r - r0, start - c0 :]
    np.clip(score, -1.0, 1.0, out=score)
    return i, j, score
