"""Cosine similarity of every unordered pair of embeddings, by blocked matrix products.

A plain blocked implementation: rows are L2-normalised in float64 and the upper
triangle of the Gram matrix is computed one ``block_size x block_size`` tile at a
time, so no ``n x n`` matrix is ever held. The output itself has ``n (n - 1) / 2``
entries: 8 bytes per pair for the scores, and 8 more when the two int32 index
arrays are asked for (:func:`all_pairs_cosine`). Callers that only need per-pair
values of the samples (their subject, their attributes) can take the scores alone
(:func:`cosine_scores`) and expand per-sample values with :func:`pair_sides`, with
no index arrays at all.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

__all__ = [
    "all_pairs_cosine",
    "cosine_scores",
    "normalize_rows",
    "pair_indices",
    "pair_offsets",
    "pair_sides",
]

_Scalar = TypeVar("_Scalar", bound=np.generic)

MAX_ROWS = 2**31
"""Most rows whose pair indices fit in int32 (indices run to ``n - 1``)."""


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


def _fill_sides(
    values: npt.NDArray[np.generic], first: npt.NDArray[np.generic], second: npt.NDArray[np.generic]
) -> None:
    """Write ``values[i]`` into ``first`` and ``values[j]`` into ``second`` for every pair.

    One slice assignment per row ``i`` (``n`` Python steps, not ``n**2``), writing
    straight into the outputs: no index array is made.
    """
    n = values.shape[0]
    offsets = pair_offsets(n)
    for r in range(n - 1):
        start, stop = int(offsets[r]), int(offsets[r]) + n - 1 - r
        first[start:stop] = values[r]
        second[start:stop] = values[r + 1 :]


def pair_indices(n: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """Row indices ``i < j`` of every unordered pair of ``n`` rows, ordered by (i, j).

    Parameters
    ----------
    n : int
        Number of rows; at most :data:`MAX_ROWS` (so that indices fit in int32).

    Returns
    -------
    i, j : ndarray of int32, shape (n (n - 1) / 2,)
        The pairs, in lexicographic order.

    Raises
    ------
    ValueError
        If ``n`` is negative or above :data:`MAX_ROWS`.

    Examples
    --------
    >>> i, j = pair_indices(4)
    >>> i.tolist(), j.tolist()
    ([0, 0, 0, 1, 1, 2], [1, 2, 3, 2, 3, 3])

    """
    if not 0 <= n <= MAX_ROWS:
        raise ValueError(f"n must be between 0 and {MAX_ROWS}, got {n}")
    n_pairs = n * (n - 1) // 2
    i = np.empty(n_pairs, dtype=np.int32)
    j = np.empty(n_pairs, dtype=np.int32)
    _fill_sides(np.arange(n, dtype=np.int32), i, j)
    return i, j


def pair_sides(values: npt.NDArray[_Scalar]) -> npt.NDArray[_Scalar]:
    """Per-row values expanded to both sides of every pair, in the order of the pairs.

    Row ``k`` of the result is ``(values[i], values[j])`` for the ``k``-th pair
    ``(i, j)`` of :func:`pair_indices`; this is ``np.stack([values[i], values[j]], 1)``
    without the two index arrays and their gathered copies, so the result is the
    only allocation (``2 * itemsize`` bytes per pair).

    Parameters
    ----------
    values : ndarray, shape (n,)
        One value per row (a subject code, an attribute code, a sample number).

    Returns
    -------
    ndarray, shape (n (n - 1) / 2, 2)
        Of the dtype of ``values``, C-contiguous.

    Raises
    ------
    ValueError
        If ``values`` is not 1-D.

    Examples
    --------
    >>> pair_sides(np.array([10, 20, 30])).tolist()
    [[10, 20], [10, 30], [20, 30]]

    """
    if values.ndim != 1:
        raise ValueError(f"values must be a 1-D array, got shape {values.shape}")
    n = values.shape[0]
    out = np.empty((n * (n - 1) // 2, 2), dtype=values.dtype)
    _fill_sides(values, out[:, 0], out[:, 1])
    return out


def cosine_scores(embeddings: npt.ArrayLike, *, block_size: int = 2048) -> npt.NDArray[np.float64]:
    """Cosine similarity of every unordered pair ``i < j`` of rows, ordered by (i, j).

    The scores of :func:`all_pairs_cosine` without its index arrays; pair ``(i, j)``
    sits at ``pair_offsets(n)[i] + (j - i - 1)``.

    Parameters
    ----------
    embeddings : array-like of float, shape (n, d)
        One embedding (template) per row; finite, no all-zero row.
    block_size : int, default 2048
        Rows and columns per tile; memory beyond the output is about
        ``block_size**2`` float64 values.

    Returns
    -------
    ndarray of float64, shape (n (n - 1) / 2,)
        Cosine similarity of each pair, clipped to [-1, 1].

    Raises
    ------
    ValueError
        If the embeddings are not 2-D, not finite, have an all-zero row, or
        ``block_size`` is below 1.

    Examples
    --------
    >>> cosine_scores([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]]).round(4).tolist()
    [0.7071, 0.0, 0.7071]

    """
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
    x = normalize_rows(embeddings)
    n = x.shape[0]
    offsets = pair_offsets(n)
    score = np.empty(n * (n - 1) // 2, dtype=np.float64)
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
    return score


def all_pairs_cosine(
    embeddings: npt.ArrayLike, *, block_size: int = 2048
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], npt.NDArray[np.float64]]:
    """Cosine similarity of every unordered pair ``i < j`` of rows, ordered by (i, j).

    The cosine similarity of ``x`` and ``y`` is ``x . y / (|x| |y|)``; rows are
    normalised once (:func:`normalize_rows`) and the scores are the entries above
    the diagonal of the Gram matrix of the normalised rows, computed tile by tile
    (:func:`cosine_scores`). Scores are clipped to [-1, 1] to remove rounding excess.

    Parameters
    ----------
    embeddings : array-like of float, shape (n, d)
        One embedding (template) per row; finite, no all-zero row; at most
        :data:`MAX_ROWS` rows.
    block_size : int, default 2048
        Rows and columns per tile; memory beyond the output is about
        ``block_size**2`` float64 values.

    Returns
    -------
    i, j : ndarray of int32, shape (n (n - 1) / 2,)
        Row indices of the two embeddings, ``i < j``, in lexicographic order
        (:func:`pair_indices`).
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
    score = cosine_scores(embeddings, block_size=block_size)
    i, j = pair_indices(np.shape(embeddings)[0])
    return i, j, score
