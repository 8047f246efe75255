"""Euclidean distance of every unordered pair of embeddings, by blocked matrix products.

For models whose templates are compared by distance rather than by cosine (dlib's
ResNet: the same person when the distance is at most 0.6). The squared distance of
rows ``x`` and ``y`` is ``|x|^2 + |y|^2 - 2 x . y``, computed in float64 one
``block_size x block_size`` tile of the Gram matrix at a time, in the pair order of
:mod:`faceparity.scoring.cosine` (pair ``(i, j)`` at ``pair_offsets(n)[i] + j - i - 1``).
Rounding can make that sum slightly negative for near-identical rows; it is clipped
at 0 before the square root.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from faceparity.scoring.cosine import pair_offsets

__all__ = ["euclidean_scores"]


def euclidean_scores(
    embeddings: npt.ArrayLike, *, block_size: int = 2048
) -> npt.NDArray[np.float64]:
    """Euclidean distance of every unordered pair ``i < j`` of rows, ordered by (i, j).

    Parameters
    ----------
    embeddings : array-like of float, shape (n, d)
        One embedding (template) per row; finite.
    block_size : int, default 2048
        Rows and columns per tile.

    Returns
    -------
    ndarray of float64, shape (n (n - 1) / 2,)
        Distance of each pair, at least 0.

    Raises
    ------
    ValueError
        If the embeddings are not 2-D or not finite, or ``block_size`` is below 1.

    Examples
    --------
    >>> euclidean_scores([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]]).tolist()
    [5.0, 1.0, 4.242640687119285]

    """
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("embeddings must be finite")
    n = x.shape[0]
    squares = np.einsum("ij,ij->i", x, x)
    offsets = pair_offsets(n)
    score = np.empty(n * (n - 1) // 2, dtype=np.float64)
    for r0 in range(0, n, block_size):
        r1 = min(r0 + block_size, n)
        for c0 in range(r0, n, block_size):
            c1 = min(c0 + block_size, n)
            tile = squares[r0:r1, None] + squares[None, c0:c1] - 2.0 * (x[r0:r1] @ x[c0:c1].T)
            np.sqrt(np.maximum(tile, 0.0, out=tile), out=tile)
            for r in range(r0, min(r1, c1 - 1)):
                start = max(c0, r + 1)
                at = offsets[r] + start - r - 1
                score[at : at + c1 - start] = tile[r - r0, start - c0 :]
    return score
