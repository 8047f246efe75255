"""The streaming all-vs-all engine: blocks of the similarity matrix, reduced at once.

Samples are sorted by (group, subject), so that a block of the similarity matrix
splits into a few rectangles of one cell each and mated comparisons sit in runs
near the diagonal. Each block ``X_I X_J^T`` (``J >= I``; within a diagonal block only
``j > i``) is computed by one matrix multiplication and reduced into an
:class:`~faceparity.accumulate.Accumulator`: mated scores are kept exactly, non-mated
ones are binned (one ``bincount`` per rectangle) and those above the tail edge kept
exactly. No N x N matrix exists; memory is a few blocks per worker, whatever N is.

Scores are computed in float32 from embeddings scaled by ``2**exponent`` of the grid:
scaling by a power of two is exact, so the floor of the product is the bin without
any rounding of its own.

Backends: ``numpy`` (threads, one BLAS thread each) and ``torch`` (CPU, or CUDA with
``device="cuda"``). Work is split into *chunks* of block pairs; with a checkpoint
directory, the accumulator is saved after chunks, and a rerun resumes after the last
saved chunk with identical results.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from faceparity.accumulate.accumulator import DEFAULT_TAIL_CAPACITY, Accumulator
from faceparity.accumulate.grid import COSINE_GRID, ScoreGrid
from faceparity.errors import InputError, UsageError
from faceparity.io import atomic_write_text

__all__ = ["EngineConfig", "stream_embeddings"]

CHECKPOINT_STATE = "state.json"
CHECKPOINT_ACCUMULATOR = "accumulator.npz"


@dataclass(frozen=True)
class EngineConfig:
    """How the streaming engine runs.

    Parameters
    ----------
    block_size : int
        Rows and columns of a block of the similarity matrix.
    threads : int
        Worker threads (numpy backend); each runs its own single-threaded BLAS.
    backend : str
        ``"numpy"`` or ``"torch"``.
    device : str
        Torch device (``"cpu"``, ``"cuda"``, ``"cuda:1"``); numpy runs on the CPU.
    capacity : int
        Exact non-mated scores kept in the tail (see :mod:`faceparity.accumulate`).
    checkpoint : Path, optional
        Directory to save progress in and resume from.
    checkpoint_every : float
        Seconds between checkpoints.

    """

    block_size: int = 4096
    threads: int = max(os.cpu_count() or 1, 1)
    backend: str = "numpy"
    device: str = "cpu"
    capacity: int = DEFAULT_TAIL_CAPACITY
    checkpoint: Path | None = None
    checkpoint_every: float = 30.0

    def __post_init__(self) -> None:
        if self.block_size < 1 or self.threads < 1:
            raise UsageError("block size and threads must be at least 1")
        if self.backend not in ("numpy", "torch"):
            raise UsageError(f"backend: expected 'numpy' or 'torch', got {self.backend!r}")
        if self.backend == "numpy" and self.device != "cpu":
            raise UsageError(f"device {self.device!r} needs the torch backend (--backend torch)")


@dataclass(frozen=True)
class _Layout:
    """Samples sorted by (group, subject) and the runs the blocks are cut along."""

    x: npt.NDArray[np.float32]  # normalised embeddings, sorted, with a last column of ones
    group: npt.NDArray[np.int64]  # group of each sorted sample (n_groups = missing)
    group_starts: npt.NDArray[np.int64]  # start of each group run, plus n
    mated: dict[tuple[int, int], tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]
    # (row, col) of the mated pairs (row < col, sorted positions), by block pair


def _layout(
    embeddings: npt.ArrayLike, subjects: npt.ArrayLike, groups: npt.ArrayLike, block_size: int
) -> _Layout:
    x = np.asarray(embeddings)
    if x.ndim != 2 or x.shape[0] < 2:
        raise InputError(f"expected at least 2 embeddings in a 2-D array, got shape {x.shape}")
    subj = np.asarray(subjects, dtype=np.int64)
    grp = np.asarray(groups, dtype=np.int64)
    order = np.lexsort((subj, grp))
    # The rows, normalised, sorted, with a column of ones (see _compute_function), built
    # a slice at a time in float32: no float64 copy of the whole input.
    unit = np.empty((x.shape[0], x.shape[1] + 1), dtype=np.float32)
    unit[:, -1] = 1.0
    for start in range(0, x.shape[0], 65536):
        rows = np.asarray(x[order[start : start + 65536]], dtype=np.float64)
        norms = np.linalg.norm(rows, axis=1)
        if np.any(norms == 0) or not np.all(np.isfinite(norms)):
            raise InputError(
                "embeddings must be finite and non-zero (readers leave out the others)"
            )
        unit[start : start + len(rows), :-1] = rows / norms[:, None]
    g = grp[order]
    new_group = np.r_[True, g[1:] != g[:-1]]
    starts = np.r_[np.flatnonzero(new_group), len(g)].astype(np.int64)
    return _Layout(
        x=unit, group=g, group_starts=starts, mated=_mated_pairs(subj[order], block_size)
    )


def _mated_pairs(
    subject: npt.NDArray[np.int64], block: int
) -> dict[tuple[int, int], tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """Positions of every pair of samples of one subject, bucketed by block pair.

    A subject's samples need not be contiguous (they may fall in different groups,
    an age band changing between captures), so pairs are found by subject, not by run.
    """
    by_subject = np.argsort(subject, kind="stable")
    s = subject[by_subject]
    bounds = np.r_[0, np.flatnonzero(s[1:] != s[:-1]) + 1, len(s)]
    counts = np.diff(bounds)
    rows, cols = [], []
    for k in np.unique(counts[counts > 1]).tolist():
        starts = bounds[:-1][counts == k]
        members = by_subject[starts[:, None] + np.arange(k)[None, :]]
        a, b = np.triu_indices(k, 1)
        p, q = members[:, a].ravel(), members[:, b].ravel()
        rows.append(np.minimum(p, q))
        cols.append(np.maximum(p, q))
    if not rows:
        return {}
    r, c = np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64)
    key = (r // block) * (len(subject) // block + 1) + c // block
    order = np.argsort(key, kind="stable")
    r, c, key = r[order], c[order], key[order]
    edges = np.r_[0, np.flatnonzero(key[1:] != key[:-1]) + 1, len(key)]
    width = len(subject) // block + 1
    out = {}
    for lo, hi in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        bi, bj = divmod(int(key[lo]), width)
        out[(bi * block, bj * block)] = (r[lo:hi], c[lo:hi])
    return out


def _block_pairs(n: int, block: int) -> list[tuple[int, int]]:
    starts = range(0, n, block)
    return [(i, j) for i in starts for j in starts if j >= i]


def _ranges(start: int, stop: int, starts: npt.NDArray[np.int64]) -> Iterator[tuple[int, int]]:
    """The group runs cut to [start, stop), as (run start, run stop)."""
    first = int(np.searchsorted(starts, start, side="right")) - 1
    for k in range(first, len(starts) - 1):
        lo, hi = max(int(starts[k]), start), min(int(starts[k + 1]), stop)
        if lo >= stop:
            break
        yield lo, hi


_MARGIN = 2
"""Blocks hold ``code = floor(2**e s) - offset + _MARGIN``: a non-negative integer code for
every cosine (GEMM rounding can step just outside [-1, 1]); code 0 marks what is not
counted (the lower triangle of a diagonal block, mated pairs)."""


def _bincount() -> Callable[[npt.NDArray[np.int32], int], npt.NDArray[np.int64]]:
    """``bincount`` of int32 codes: torch's when installed (3x faster on int32), else numpy's."""
    try:
        import torch
    except ImportError:
        return lambda codes, n: np.bincount(codes.ravel(), minlength=n)

    def count(codes: npt.NDArray[np.int32], n: int) -> npt.NDArray[np.int64]:
        flat = torch.from_numpy(np.ascontiguousarray(codes).reshape(-1))
        return np.asarray(torch.bincount(flat, minlength=n).numpy(), dtype=np.int64)

    return count


def _single_threaded_torch() -> contextlib.AbstractContextManager[None]:
    """Hold torch to one thread while the engine's own workers share the cores."""
    try:
        import torch
    except ImportError:
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def hold() -> Iterator[None]:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    return hold()


class _Reducer:
    """Reduces blocks of integer codes into an accumulator (the backend-free part)."""

    def __init__(self, layout: _Layout, acc: Accumulator, block: int) -> None:
        self.layout, self.acc, self.grid = layout, acc, acc.grid
        self.shift = _MARGIN - acc.grid.offset  # code = 2**e s + shift, floored
        self.scale = float(np.ldexp(1.0, -acc.grid.exponent))
        self.lower = np.tril(np.ones((block, block), dtype=bool))
        self.count = _bincount()

    def score(self, shifted: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Similarities of shifted block entries, exactly (a power-of-two scale)."""
        return (shifted.astype(np.float64) - self.shift) * self.scale

    def reduce(self, i0: int, j0: int, shifted: npt.NDArray[np.float32]) -> None:
        """Add block ``[i0:i0+r) x [j0:j0+c)`` of shifted, scaled similarities."""
        lay, acc, grid = self.layout, self.acc, self.grid
        rows, cols = shifted.shape
        i1, j1 = i0 + rows, j0 + cols
        codes = shifted.astype(np.int32)  # truncation is the floor: entries are >= 0
        if i0 == j0:  # a diagonal block: only j > i
            np.putmask(codes, self.lower[:rows, :cols], 0)
        pairs = lay.mated.get((i0, j0))
        if pairs is not None:
            r, c = pairs[0] - i0, pairs[1] - j0
            acc.add_mated(self.score(shifted[r, c]), lay.group[pairs[0]], lay.group[pairs[1]])
            codes[r, c] = 0
        # One count over all cells: each rectangle's codes are moved to its cell's range.
        n_codes = grid.n_bins + 2 * _MARGIN
        for a0, a1 in _ranges(i0, i1, lay.group_starts):
            ga = int(lay.group[a0])
            for b0, b1 in _ranges(j0, j1, lay.group_starts):
                cell = int(acc.lut[ga, lay.group[b0]])
                if cell:
                    codes[a0 - i0 : a1 - i0, b0 - j0 : b1 - j0] += cell * n_codes
        counts = self.count(codes, acc.n_cells * n_codes).reshape(acc.n_cells, n_codes)
        for cell in np.flatnonzero(counts[:, 1:].any(axis=1)).tolist():
            row = counts[cell]
            binned = row[_MARGIN : _MARGIN + grid.n_bins].copy()
            binned[0] += row[1:_MARGIN].sum()  # just below -1: the first bin
            binned[-1] += row[_MARGIN + grid.n_bins :].sum()  # just above 1: the last
            acc.count_cell(cell, binned)
        acc.tighten()
        tail_code = acc.tail_bin + _MARGIN
        if counts[:, tail_code:].any():
            flat = np.flatnonzero(shifted.ravel() >= np.float32(tail_code))
            flat = flat[(codes.ravel()[flat] % n_codes) != 0]  # not masked out
            if flat.size:
                r, c = np.divmod(flat, cols)
                acc.add_tail(
                    self.score(shifted[r, c]), acc.lut[lay.group[i0 + r], lay.group[j0 + c]]
                )


def stream_embeddings(
    embeddings: npt.ArrayLike,
    subjects: npt.ArrayLike,
    groups: npt.ArrayLike,
    *,
    n_groups: int,
    config: EngineConfig | None = None,
    grid: ScoreGrid = COSINE_GRID,
    progress: Callable[[int, int], None] | None = None,
) -> Accumulator:
    """All-vs-all cosine comparisons of ``embeddings``, reduced into an accumulator.

    Parameters
    ----------
    embeddings : array-like, shape (n, d)
        One embedding per sample (normalised here).
    subjects : array-like of int, shape (n,)
        Subject code of each sample; equal codes make a comparison mated.
    groups : array-like of int, shape (n,)
        Group of each sample, ``0 .. n_groups - 1``, or ``n_groups`` where missing.
    n_groups : int
        Number of groups.
    config : EngineConfig, optional
        Block size, threads, backend, checkpoint.
    grid : ScoreGrid
        Bins of the non-mated histograms (cosine similarity by default).
    progress : callable, optional
        Called with (comparisons done, comparisons in all) after each block.

    Returns
    -------
    Accumulator
        Every unordered pair of distinct samples counted once; not yet finalised.

    """
    config = config or EngineConfig()
    layout = _layout(embeddings, subjects, groups, config.block_size)
    n = len(layout.group)
    pairs = _block_pairs(n, config.block_size)
    size = config.block_size
    sizes = [_pair_count(i, j, n, size) for i, j in pairs]
    total = n * (n - 1) // 2
    chunk = max(2 * config.threads, 1)
    chunks = [pairs[k : k + chunk] for k in range(0, len(pairs), chunk)]
    fingerprint = "" if config.checkpoint is None else _fingerprint(layout, config, grid)

    main = Accumulator(grid, n_groups, capacity=config.capacity)
    done_chunks = 0
    if config.checkpoint is not None:
        main, done_chunks = _resume(config.checkpoint, fingerprint, main)
    done = sum(sizes[: done_chunks * chunk])
    if progress is not None:
        progress(done, total)

    on_device = config.backend == "torch"
    device = _DeviceReducer(layout, grid, config, main.lut) if on_device else None
    compute = None if on_device else _compute_function(layout, config, grid)
    workers = max(1, config.threads if config.backend == "numpy" else 1)

    def fresh_parts() -> list[Accumulator]:
        parts = [Accumulator(grid, n_groups, capacity=config.capacity) for _ in range(workers)]
        for part in parts:  # start where the merged tail is: at or below the final edge
            part.tail_bin = main.tail_bin
        return parts

    parts = fresh_parts()
    last_save = time.monotonic()
    threads_held = _single_threaded_torch() if workers > 1 else contextlib.nullcontext()
    with _blas_threads(1 if workers > 1 else None), threads_held:
        for k in range(done_chunks, len(chunks)):
            if device is not None:
                for i0, j0 in chunks[k]:
                    device.reduce(i0, j0, parts[0])
            else:
                assert compute is not None
                _run_chunk(chunks[k], parts, layout, compute, size, n)
            done += sum(sizes[k * chunk : (k + 1) * chunk])
            if progress is not None:
                progress(done, total)
            last = k == len(chunks) - 1
            due = time.monotonic() - last_save >= config.checkpoint_every
            if last or (config.checkpoint is not None and due):
                if device is not None:
                    device.flush(parts[0])
                for part in parts:
                    main.merge(part)
                parts = fresh_parts()
                if config.checkpoint is not None:
                    _save(config.checkpoint, fingerprint, main, k + 1)
                    last_save = time.monotonic()
    return main


def _pair_count(i0: int, j0: int, n: int, block: int) -> int:
    rows, cols = min(block, n - i0), min(block, n - j0)
    return rows * (rows - 1) // 2 if i0 == j0 else rows * cols


class _DeviceReducer:
    """The whole block on a torch device (CPU or CUDA): product, codes, counts and tail stay there.

    Counts are kept in a device histogram over all cells and copied into an
    accumulator by :meth:`flush`; only mated and tail scores (few) cross to the host.
    """

    def __init__(
        self, layout: _Layout, grid: ScoreGrid, config: EngineConfig, lut: npt.NDArray[np.int32]
    ) -> None:
        try:
            import torch
        except ImportError as err:
            raise UsageError(
                "the torch backend needs PyTorch: pip install 'faceparity[torch]'"
            ) from err

        self.torch, self.layout, self.grid, self.config = torch, layout, grid, config
        device = torch.device(config.device)
        shift = float(_MARGIN - grid.offset)
        self.right = torch.from_numpy(layout.x).to(device)
        self.left = self.right * float(np.ldexp(1.0, grid.exponent))
        self.left[:, -1] = shift
        self.shift, self.scale = shift, float(np.ldexp(1.0, -grid.exponent))
        self.n_codes = grid.n_bins + 2 * _MARGIN
        self.n_cells = int(lut.max()) + 1
        self.hist = torch.zeros(self.n_cells * self.n_codes, dtype=torch.int64, device=device)
        self.total = torch.zeros(self.n_codes, dtype=torch.int64, device=device)
        self.lut, self.device = lut, device
        block = config.block_size
        self.lower = torch.tril(torch.ones((block, block), dtype=torch.bool, device=device))
        self.mated = {
            key: (torch.from_numpy(r).to(device), torch.from_numpy(c).to(device), r, c)
            for key, (r, c) in layout.mated.items()
        }

    def reduce(self, i0: int, j0: int, acc: Accumulator) -> None:
        torch, lay, block = self.torch, self.layout, self.config.block_size
        n = len(lay.group)
        i1, j1 = min(i0 + block, n), min(j0 + block, n)
        shifted = self.left[i0:i1] @ self.right[j0:j1].T
        codes = shifted.to(torch.int32)  # truncation is the floor: entries are >= 0
        rows, cols = codes.shape
        if i0 == j0:
            codes.masked_fill_(self.lower[:rows, :cols], 0)
        pairs = self.mated.get((i0, j0))
        if pairs is not None:
            r_dev, c_dev, r, c = pairs
            values = shifted[r_dev - i0, c_dev - j0].double().cpu().numpy()
            acc.add_mated((values - self.shift) * self.scale, lay.group[r], lay.group[c])
            codes[r_dev - i0, c_dev - j0] = 0
        keys = codes.to(torch.int64)
        for a0, a1 in _ranges(i0, i1, lay.group_starts):
            ga = int(lay.group[a0])
            for b0, b1 in _ranges(j0, j1, lay.group_starts):
                cell = int(self.lut[ga, lay.group[b0]])
                keys[a0 - i0 : a1 - i0, b0 - j0 : b1 - j0] += cell * self.n_codes
        counts = torch.bincount(keys.reshape(-1), minlength=self.n_cells * self.n_codes)
        counts.view(self.n_cells, self.n_codes)[:, 0] = 0  # the masked entries
        self.hist += counts
        self.total += counts.view(self.n_cells, self.n_codes).sum(dim=0)
        above = torch.flip(torch.cumsum(torch.flip(self.total, [0]), 0), [0])
        fits = torch.nonzero(above <= acc.capacity)
        edge_code = int(fits[0, 0]) if fits.numel() else self.n_codes
        acc.tail_bin = max(acc.tail_bin, min(max(edge_code - _MARGIN, 0), self.grid.n_bins))
        tail_code = acc.tail_bin + _MARGIN
        r_t, c_t = torch.nonzero(codes >= tail_code, as_tuple=True)
        if r_t.numel():
            values = shifted[r_t, c_t].double().cpu().numpy()
            r, c = r_t.cpu().numpy() + i0, c_t.cpu().numpy() + j0
            acc.add_tail((values - self.shift) * self.scale, self.lut[lay.group[r], lay.group[c]])

    def flush(self, acc: Accumulator) -> None:
        """Move the device counts into ``acc`` and start counting afresh."""
        counts = self.hist.view(self.n_cells, self.n_codes).cpu().numpy()
        for cell in range(self.n_cells):
            row = counts[cell]
            binned = row[_MARGIN : _MARGIN + self.grid.n_bins].copy()
            binned[0] += row[1:_MARGIN].sum()
            binned[-1] += row[_MARGIN + self.grid.n_bins :].sum()
            acc.count_cell(cell, binned)
        self.hist.zero_()


def _run_chunk(
    items: list[tuple[int, int]],
    parts: list[Accumulator],
    layout: _Layout,
    compute: Callable[[int, int, int, int], npt.NDArray[np.float32]],
    block: int,
    n: int,
) -> None:
    work: queue.Queue[tuple[int, int]] = queue.Queue()
    for item in items:
        work.put(item)
    errors: list[BaseException] = []

    def worker(acc: Accumulator) -> None:
        reducer = _Reducer(layout, acc, block)
        while not errors:
            try:
                i0, j0 = work.get_nowait()
            except queue.Empty:
                return
            try:
                scaled = compute(i0, min(i0 + block, n), j0, min(j0 + block, n))
                reducer.reduce(i0, j0, scaled)
            except BaseException as err:  # noqa: BLE001 - re-raised in the caller
                errors.append(err)

    if len(parts) == 1:
        worker(parts[0])
    else:
        threads = [threading.Thread(target=worker, args=(acc,)) for acc in parts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if errors:
        raise errors[0]


def _compute_function(
    layout: _Layout, config: EngineConfig, grid: ScoreGrid
) -> Callable[[int, int, int, int], npt.NDArray[np.float32]]:
    """``(i0, i1, j0, j1) -> 2**e s + shift`` for the block, with numpy.

    The rows are augmented so that the product carries the shift itself: left rows
    ``[2**e x, shift]``, right rows ``[y, 1]``. The similarity of an entry is read
    back exactly as ``(entry - shift) * 2**-e``.
    """
    shift = np.float32(_MARGIN - grid.offset)
    factor = np.float32(np.ldexp(1.0, grid.exponent))
    right = layout.x

    def multiply(i0: int, i1: int, j0: int, j1: int) -> npt.NDArray[np.float32]:
        left = right[i0:i1] * factor  # one block of rows: exact, a power of two
        left[:, -1] = shift
        return np.asarray(left @ right[j0:j1].T, dtype=np.float32)

    return multiply


def _blas_threads(limit: int | None):  # type: ignore[no-untyped-def]
    from contextlib import nullcontext

    if limit is None:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=limit, user_api="blas")


def _fingerprint(layout: _Layout, config: EngineConfig, grid: ScoreGrid) -> str:
    digest = hashlib.sha256()
    for array in (layout.x, layout.group):
        digest.update(np.ascontiguousarray(array).tobytes())
    for (i0, j0), (r, c) in sorted(layout.mated.items()):
        digest.update(np.array([i0, j0]).tobytes() + r.tobytes() + c.tobytes())
    digest.update(repr((config.block_size, config.threads, config.capacity, grid)).encode())
    return digest.hexdigest()


def _resume(directory: Path, fingerprint: str, fresh: Accumulator) -> tuple[Accumulator, int]:
    state_path = Path(directory) / CHECKPOINT_STATE
    if not state_path.exists():
        return fresh, 0
    state = json.loads(state_path.read_text())
    if state.get("fingerprint") != fingerprint:
        raise UsageError(
            f"checkpoint {directory} belongs to another input or configuration; "
            "use another directory or remove it"
        )
    return Accumulator.load(Path(directory) / CHECKPOINT_ACCUMULATOR), int(state["chunks_done"])


def _save(directory: Path, fingerprint: str, acc: Accumulator, chunks_done: int) -> None:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    acc.save(directory / CHECKPOINT_ACCUMULATOR)
    atomic_write_text(
        directory / CHECKPOINT_STATE,
        json.dumps({"fingerprint": fingerprint, "chunks_done": chunks_done}) + "\n",
        mode=0o600,
    )
