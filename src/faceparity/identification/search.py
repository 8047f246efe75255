"""1:N searches by blocked matrix multiplication, reduced at once to what the metrics need.

Every probe is compared with every gallery sample by cosine similarity: blocks of the
probe x gallery score matrix are float32 matrix products (numpy, BLAS), computed into a
buffer reused from block to block, one worker thread per probe block, each with one
BLAS thread (as :mod:`faceparity.scoring.engine` does). No probe x gallery matrix is
ever held: a compiled pass over each block (numba, GIL released) keeps, per probe,

* the ``depth`` highest scores of **non-mated** enrolled subjects and their indices
  (a subject's score is the highest over its gallery samples: max-fusion), in
  descending score order, ties in ascending subject index;
* the highest non-mated score within each tier of the nested sub-galleries
  (:mod:`faceparity.identification.protocol`);
* for a mated search, the number of non-mated subjects, per tier, whose score is at
  or above the mated score.

The mated score itself (the highest over the gallery samples of the probe's subject)
is computed before the blocks, in float64 from the same float32 templates and rounded
to float32, so every score is a float32 and ties are judged on one number.

Memory: the templates in float32, one block buffer per thread
(``block_size**2 x 4`` bytes, 64 MB at 4096), and per probe ``depth`` scores and
indices plus two small arrays per tier, whatever the gallery size.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from faceparity.errors import InputError, UsageError
from faceparity.identification.protocol import Protocol

__all__ = ["SearchConfig", "SearchResult", "normalise", "search"]

_kernels: dict[str, Any] = {}


@dataclass(frozen=True)
class SearchConfig:
    """How the searches run.

    Parameters
    ----------
    depth : int
        Non-mated candidates kept per search (at least the candidate list length R).
    block_size : int
        Probes, and gallery samples, per block of the score matrix.
    threads : int
        Worker threads, each with one BLAS thread.

    """

    depth: int = 20
    block_size: int = 4096
    threads: int = max(os.cpu_count() or 1, 1)

    def __post_init__(self) -> None:
        if self.depth < 1 or self.block_size < 1 or self.threads < 1:
            raise UsageError("depth, block size and threads must be at least 1")


@dataclass(frozen=True, eq=False)
class SearchResult:
    """What every search found (rows in the order of ``Protocol.probes``).

    Attributes
    ----------
    top_score : ndarray of float32, shape (n_probes, depth)
        Highest non-mated subject scores, descending; ``-inf`` where the gallery has
        fewer non-mated subjects.
    top_subject : ndarray of int64, shape (n_probes, depth)
        Enrolled-subject index of each; -1 where none.
    mated_score : ndarray of float32, shape (n_probes,)
        Score of the probe's own subject; NaN for non-mated searches.
    n_above : ndarray of int64, shape (n_probes, n_tiers)
        Non-mated subjects of each tier scoring at or above the mated score (0 for
        non-mated searches).
    tier_max : ndarray of float32, shape (n_probes, n_tiers)
        Highest non-mated subject score within each tier (``-inf`` if none).

    """

    top_score: npt.NDArray[np.float32]
    top_subject: npt.NDArray[np.int64]
    mated_score: npt.NDArray[np.float32]
    n_above: npt.NDArray[np.int64]
    tier_max: npt.NDArray[np.float32]

    @property
    def rank(self) -> npt.NDArray[np.int64]:
        """Rank of the mated subject in the whole gallery (ties against it); 0 if non-mated."""
        rank = 1 + self.n_above.sum(axis=1)
        return np.where(np.isnan(self.mated_score), 0, rank).astype(np.int64)


def _compiled() -> dict[str, Any]:
    if _kernels:
        return _kernels
    from faceparity._jit import jit

    @jit()
    def reduce_block(  # type: ignore[no-untyped-def]
        block, col_subject, mate, mated_score, tier, top_s, top_i, n_above, tier_max
    ):
        # Rows are probes, columns gallery samples ordered by subject; a subject's
        # samples never straddle two blocks, and blocks come in gallery order, so a
        # later subject with an equal score never displaces an earlier one.
        depth = top_s.shape[1]
        cols = block.shape[1]
        for i in range(block.shape[0]):
            m = mate[i]
            sm = mated_score[i]
            j = 0
            while j < cols:
                s = col_subject[j]
                v = block[i, j]
                j += 1
                while j < cols and col_subject[j] == s:
                    if block[i, j] > v:
                        v = block[i, j]
                    j += 1
                if s == m:
                    continue
                t = tier[s]
                if v > tier_max[i, t]:
                    tier_max[i, t] = v
                if m >= 0 and v >= sm:
                    n_above[i, t] += 1
                if v > top_s[i, depth - 1]:
                    k = depth - 1
                    while k > 0 and top_s[i, k - 1] < v:
                        top_s[i, k] = top_s[i, k - 1]
                        top_i[i, k] = top_i[i, k - 1]
                        k -= 1
                    top_s[i, k] = v
                    top_i[i, k] = s

    @jit()
    def reduce_single(  # type: ignore[no-untyped-def]
        block, g0, segments, mate, mated_score, top_s, top_i, n_above, tier_max
    ):
        # One gallery sample per subject: column j is subject g0 + j, and ``segments``
        # cut the block at the tier boundaries (subjects are numbered so that tiers are
        # contiguous). Per row and segment, one tight pass for the maximum, one for the
        # count at or above the mated score (mated searches only), and a pass for the
        # top list only when the segment's maximum can enter it. The mate's column is set
        # to -inf first (the buffer is ours and rewritten by the next product).
        depth = top_s.shape[1]
        cols = block.shape[1]
        for i in range(block.shape[0]):
            m = mate[i]
            sm = mated_score[i]
            row = block[i]
            if m >= g0 and m < g0 + cols:
                row[m - g0] = -np.inf
            for k in range(segments.shape[0]):
                c0, c1, t = segments[k, 0], segments[k, 1], segments[k, 2]
                mx = np.float32(-np.inf)
                for j in range(c0, c1):
                    mx = max(mx, row[j])
                if mx > tier_max[i, t]:
                    tier_max[i, t] = mx
                if m >= 0:  # a separate pass: the count only for mated searches
                    cnt = 0
                    for j in range(c0, c1):
                        cnt += row[j] >= sm
                    n_above[i, t] += cnt
                if mx > top_s[i, depth - 1]:
                    for j in range(c0, c1):
                        v = row[j]
                        if v > top_s[i, depth - 1]:
                            q = depth - 1
                            while q > 0 and top_s[i, q - 1] < v:
                                top_s[i, q] = top_s[i, q - 1]
                                top_i[i, q] = top_i[i, q - 1]
                                q -= 1
                            top_s[i, q] = v
                            top_i[i, q] = g0 + j

    _kernels["reduce_block"] = reduce_block
    _kernels["reduce_single"] = reduce_single
    return _kernels


def normalise(
    embeddings: npt.ArrayLike, rows: npt.NDArray[np.int64] | None = None
) -> npt.NDArray[np.float32]:
    """Unit-norm float32 rows (norms accumulated in float64), as the engine scores them.

    ``rows`` picks rows of ``embeddings`` (all by default); they are gathered a slice
    at a time, so no float64 copy of the picked rows is made.

    Raises
    ------
    InputError
        For a row that is not finite or has zero norm.

    """
    x = np.asarray(embeddings)
    if x.ndim != 2:
        raise InputError(f"expected a 2-D array of embeddings, got shape {x.shape}")
    picked = np.arange(x.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
    out = np.empty((len(picked), x.shape[1]), dtype=np.float32)
    for start in range(0, len(picked), 65536):
        part = np.asarray(x[picked[start : start + 65536]], dtype=np.float32)
        wide = part.astype(np.float64)
        squares = np.einsum("ij,ij->i", wide, wide)
        if np.any(squares == 0) or not np.all(np.isfinite(squares)):
            raise InputError("embeddings must be finite and non-zero")
        inverse = (1.0 / np.sqrt(squares)).astype(np.float32)
        np.multiply(part, inverse[:, None], out=out[start : start + len(part)])
    return out


def _mated_scores(
    probes: npt.NDArray[np.float32],
    gallery: npt.NDArray[np.float32],
    starts: npt.NDArray[np.int64],
    mate: npt.NDArray[np.int64],
) -> npt.NDArray[np.float32]:
    """Highest score of each mated probe against its subject's gallery samples."""
    out = np.full(len(mate), np.nan, dtype=np.float32)
    rows = np.flatnonzero(mate >= 0)
    for lo in range(0, len(rows), 8192):
        r = rows[lo : lo + 8192]
        first, last = starts[mate[r]], starts[mate[r] + 1]
        counts = last - first
        owner = np.repeat(np.arange(len(r)), counts)
        cols = np.repeat(first - np.r_[0, np.cumsum(counts)[:-1]], counts) + np.arange(owner.size)
        scores = np.einsum(
            "ij,ij->i", probes[r][owner].astype(np.float64), gallery[cols].astype(np.float64)
        )
        best = np.maximum.reduceat(scores, np.r_[0, np.cumsum(counts)[:-1]])
        out[r] = best.astype(np.float32)
    return out


def _segments(g0: int, g1: int, bounds: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``(c0, c1, tier)`` of the parts of gallery columns [g0, g1) in one tier each.

    With one sample per subject, column ``g`` is enrolled subject ``g``, whose tier is
    the number of sub-gallery sizes at or below ``g``.
    """
    cuts = [g0, *(int(b) for b in bounds if g0 < b < g1), g1]
    rows = [
        (lo - g0, hi - g0, int(np.searchsorted(bounds, lo, side="right")))
        for lo, hi in zip(cuts[:-1], cuts[1:], strict=True)
    ]
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def _gallery_blocks(starts: npt.NDArray[np.int64], block: int) -> list[tuple[int, int]]:
    """Column ranges of about ``block`` gallery samples, cut at subject boundaries."""
    n = int(starts[-1])
    out, lo = [], 0
    while lo < n:
        k = int(np.searchsorted(starts, lo + block, side="right")) - 1
        hi = int(starts[k])
        if hi <= lo:  # one subject with more samples than a block: take it whole
            hi = int(starts[np.searchsorted(starts, lo, side="right")])
        out.append((lo, hi))
        lo = hi
    return out


def search(
    embeddings: npt.ArrayLike,
    protocol: Protocol,
    *,
    config: SearchConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SearchResult:
    """Run every search of ``protocol`` against its gallery.

    Parameters
    ----------
    embeddings : array-like, shape (n, d)
        The samples the protocol indexes (normalised here).
    protocol : Protocol
        Gallery and searches.
    config : SearchConfig, optional
        Depth, block size, threads.
    progress : callable, optional
        Called with (comparisons done, comparisons in all) after each block.

    Returns
    -------
    SearchResult

    """
    config = config or SearchConfig()
    x = np.asarray(embeddings)
    gallery = normalise(x, protocol.gallery)
    probes = normalise(x, protocol.probes)
    n_p, n_g = len(probes), len(gallery)
    subj = protocol.gallery_subject
    starts = np.r_[0, np.flatnonzero(subj[1:] != subj[:-1]) + 1, n_g].astype(np.int64)
    mate = protocol.probe_mate
    mated_score = _mated_scores(probes, gallery, starts, mate)
    n_tiers = len(protocol.gallery_sizes)
    depth = config.depth
    top_s = np.full((n_p, depth), -np.inf, dtype=np.float32)
    top_i = np.full((n_p, depth), -1, dtype=np.int64)
    n_above = np.zeros((n_p, n_tiers), dtype=np.int64)
    tier_max = np.full((n_p, n_tiers), -np.inf, dtype=np.float32)
    kernels = _compiled()
    g_blocks = _gallery_blocks(starts, config.block_size)
    single = len(starts) - 1 == n_g  # one gallery sample per subject: the fast kernel
    bounds = np.asarray(protocol.gallery_sizes, dtype=np.int64)
    segments = {g0: _segments(g0, g1, bounds) for g0, g1 in g_blocks} if single else {}
    p_blocks = [(lo, min(lo + config.block_size, n_p)) for lo in range(0, n_p, config.block_size)]
    total, done = n_p * n_g, [0]
    lock = threading.Lock()
    work: queue.Queue[tuple[int, int]] = queue.Queue()
    for item in p_blocks:
        work.put(item)
    errors: list[BaseException] = []
    width = max((hi - lo for lo, hi in g_blocks), default=0)
    if progress is not None:
        progress(0, total)

    def worker() -> None:
        buffer = np.empty(min(config.block_size, n_p) * width, dtype=np.float32)
        while not errors:
            try:
                p0, p1 = work.get_nowait()
            except queue.Empty:
                return
            try:
                left = probes[p0:p1]
                for g0, g1 in g_blocks:
                    out = buffer[: (p1 - p0) * (g1 - g0)].reshape(p1 - p0, g1 - g0)
                    np.matmul(left, gallery[g0:g1].T, out=out)
                    if single:
                        kernels["reduce_single"](
                            out,
                            g0,
                            segments[g0],
                            mate[p0:p1],
                            mated_score[p0:p1],
                            top_s[p0:p1],
                            top_i[p0:p1],
                            n_above[p0:p1],
                            tier_max[p0:p1],
                        )
                    else:
                        kernels["reduce_block"](
                            out,
                            subj[g0:g1],
                            mate[p0:p1],
                            mated_score[p0:p1],
                            protocol.tier,
                            top_s[p0:p1],
                            top_i[p0:p1],
                            n_above[p0:p1],
                            tier_max[p0:p1],
                        )
                    with lock:
                        done[0] += (p1 - p0) * (g1 - g0)
                        if progress is not None:
                            progress(done[0], total)
            except BaseException as err:  # noqa: BLE001 - re-raised in the caller
                errors.append(err)

    workers = min(config.threads, len(p_blocks))
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1 if workers > 1 else None, user_api="blas"):
        if workers == 1:
            worker()
        else:
            threads = [threading.Thread(target=worker) for _ in range(workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    if errors:
        raise errors[0]
    return SearchResult(
        top_score=top_s,
        top_subject=top_i,
        mated_score=mated_score,
        n_above=n_above,
        tier_max=tier_max,
    )
