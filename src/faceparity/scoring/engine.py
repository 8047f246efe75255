"""The streaming all-vs-all engine: blocks of the similarity matrix, reduced at once.

Samples are sorted by (group, subject), so that a block of the similarity matrix
splits into a few rectangles of one cell each and mated comparisons sit in runs
near the diagonal. Each block ``X_I X_J^T`` (``J >= I``; within a diagonal block only
``j > i``) is computed by one matrix multiplication and reduced into an
:class:`~faceparity.accumulate.Accumulator`: mated scores are kept exactly, non-mated
ones are counted by one compiled pass over the block
(:mod:`faceparity.accumulate.kernels`) and those above the tail edge kept exactly. No
N x N matrix exists; memory is a few blocks per worker, whatever N is.

Scores are computed in float32 from embeddings scaled by ``2**exponent`` of the grid:
scaling by a power of two is exact, so the floor of the product is the bin without
any rounding of its own.

Backends: ``numpy`` (threads, one BLAS thread each, counting with numba) and ``torch``
(CPU, or CUDA with ``device="cuda"``). Work is split into *chunks* of block pairs; with a checkpoint
directory, the accumulator is saved after chunks, and a rerun resumes after the last
saved chunk with identical results.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

# Imported with the module, not when the engine starts: by then another thread may be
# importing the compiled loops (workflow.preload).
from threadpoolctl import threadpool_limits

from faceparity.accumulate.accumulator import DEFAULT_TAIL_CAPACITY, Accumulator
from faceparity.accumulate.grid import COSINE_GRID, ScoreGrid
from faceparity.errors import InputError, UsageError
from faceparity.io import atomic_write_text

__all__ = [
    "BACKENDS",
    "MSG_BAD_BACKEND",
    "MSG_BAD_DEVICE",
    "MSG_CHECKPOINT_OTHER",
    "MSG_CHECKPOINT_UNREADABLE",
    "MSG_CPU_BACKEND",
    "MSG_NO_CUDA",
    "MSG_NO_SUCH_GPU",
    "MSG_NO_TORCH",
    "EngineConfig",
    "check_device",
    "stream_embeddings",
]

CHECKPOINT_STATE = "state.json"
CHECKPOINT_ACCUMULATOR = "accumulator.npz"

BACKENDS = ("numpy", "torch")
"""The backends of the streaming engine."""

MSG_BAD_BACKEND = "--backend: expected 'numpy' or 'torch', got {backend!r}"
MSG_BAD_DEVICE = "--device: expected cpu, cuda or cuda:N (N a CUDA device number), got {device!r}"
MSG_CPU_BACKEND = (
    "--device {device!r}: the {backend} backend runs on the CPU; use --device cpu, "
    "or --backend torch for a CUDA device"
)
MSG_NO_TORCH = (
    "--backend torch needs PyTorch, which is not installed here: pip install 'faceparity[torch]'"
)
MSG_NO_CUDA = (
    "--device {device}: this PyTorch cannot use CUDA ({why}); "
    "install a CUDA build of PyTorch where a GPU is, or use --device cpu"
)
MSG_NO_SUCH_GPU = (
    "--device {device}: expected a CUDA device number from 0 to {last} "
    "(this PyTorch sees {count} CUDA device(s)), got {index}"
)
MSG_CHECKPOINT_OTHER = (
    "checkpoint {directory} belongs to another input or configuration; "
    "use another directory or remove it"
)
MSG_CHECKPOINT_UNREADABLE = (
    "checkpoint file {file} could not be read ({error}); "
    "remove its directory to start afresh, or use another directory"
)
_DEVICE = re.compile(r"cpu|cuda(?::(\d+))?")


def check_device(backend: str, device: str) -> None:
    """Check that ``backend`` can run on ``device`` here, before any work is done.

    The numpy backend runs on the CPU alone. The torch backend needs PyTorch
    installed, and for ``cuda`` / ``cuda:N`` a PyTorch built with CUDA that sees
    device ``N`` (0 for ``cuda``). PyTorch is imported only for the torch backend.

    Parameters
    ----------
    backend : str
        ``"numpy"`` or ``"torch"``.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Raises
    ------
    UsageError
        Naming the option and what was expected: an unknown backend or device, a
        device other than the CPU for the numpy backend, PyTorch missing, no CUDA,
        or no CUDA device ``N``.

    Examples
    --------
    >>> check_device("numpy", "cpu")
    >>> check_device("numpy", "cuda")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    faceparity.errors.UsageError: --device 'cuda': the numpy backend runs on the CPU; ...

    """
    if backend not in BACKENDS:
        raise UsageError(MSG_BAD_BACKEND.format(backend=backend))
    if backend != "torch":
        if device != "cpu":
            raise UsageError(MSG_CPU_BACKEND.format(device=device, backend=backend))
        return
    match = _DEVICE.fullmatch(device)
    if match is None:
        raise UsageError(MSG_BAD_DEVICE.format(device=device))
    torch = _import_torch()
    if device == "cpu":
        return
    if not torch.cuda.is_available():
        built = torch.backends.cuda.is_built()
        why = "it finds no CUDA driver or device" if built else "it was built for the CPU only"
        raise UsageError(MSG_NO_CUDA.format(device=device, why=why))
    count = int(torch.cuda.device_count())
    index = int(match.group(1) or 0)
    if index >= count:
        raise UsageError(
            MSG_NO_SUCH_GPU.format(device=device, last=count - 1, count=count, index=index)
        )


def _import_torch() -> Any:
    """PyTorch, or a :class:`UsageError` with the install hint."""
    try:
        import torch
    except ImportError as err:
        raise UsageError(MSG_NO_TORCH) from err
    return torch


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
        Checked when the configuration is made (:func:`check_device`).
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
        check_device(self.backend, self.device)


@dataclass(frozen=True)
class _Layout:
    """Samples sorted by (group, subject) and the runs the blocks are cut along.

    No normalised copy of the embeddings is made (it would double the memory of the
    input): :meth:`unit_rows` gathers and normalises the rows of a block when needed.
    """

    source: npt.NDArray[np.floating]  # the embeddings as given (not copied)
    order: npt.NDArray[np.int64]  # sorted position -> row of source
    inverse: npt.NDArray[np.float32]  # 1 / norm of each sorted row
    group: npt.NDArray[np.int64]  # group of each sorted sample (n_groups = missing)
    subject: npt.NDArray[np.int64]  # subject code of each sorted sample
    group_starts: npt.NDArray[np.int64]  # start of each group run, plus n
    mated: dict[tuple[int, int], tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]
    # (row, col) of the mated pairs (row < col, sorted positions), by block pair

    @property
    def shape(self) -> tuple[int, int]:
        """Samples and dimension."""
        return int(self.source.shape[0]), int(self.source.shape[1])

    def unit_rows(
        self, start: int, stop: int, out: npt.NDArray[np.float32], scale: float = 1.0
    ) -> npt.NDArray[np.float32]:
        """Sorted rows ``start:stop``, normalised (times ``scale``), into ``out``."""
        rows = out[: stop - start]
        np.copyto(rows, self.source[self.order[start:stop]], casting="same_kind")
        rows *= (self.inverse[start:stop] * np.float32(scale))[:, None]
        return rows


NORM_ROWS = 8192
"""Rows whose norms are taken at a time (a float64 copy of 8,192 x 512 is 34 MB)."""


def _layout(
    embeddings: npt.ArrayLike, subjects: npt.ArrayLike, groups: npt.ArrayLike, block_size: int
) -> _Layout:
    x = np.asarray(embeddings)
    if x.ndim != 2 or x.shape[0] < 2:
        raise InputError(f"expected at least 2 embeddings in a 2-D array, got shape {x.shape}")
    subj = np.asarray(subjects, dtype=np.int64)
    grp = np.asarray(groups, dtype=np.int64)
    order = np.lexsort((subj, grp))
    # The inverse norm of every row, accumulated in float64 a slice at a time (no copy
    # of the whole input); the rows themselves are normalised block by block.
    inverse = np.empty(x.shape[0], dtype=np.float32)
    for start in range(0, x.shape[0], NORM_ROWS):
        wide = np.asarray(x[order[start : start + NORM_ROWS]], dtype=np.float32).astype(np.float64)
        squares = np.einsum("ij,ij->i", wide, wide)
        if np.any(squares == 0) or not np.all(np.isfinite(squares)):
            raise InputError(
                "embeddings must be finite and non-zero (readers leave out the others)"
            )
        inverse[start : start + len(wide)] = (1.0 / np.sqrt(squares)).astype(np.float32)
    g = grp[order]
    new_group = np.r_[True, g[1:] != g[:-1]]
    starts = np.r_[np.flatnonzero(new_group), len(g)].astype(np.int64)
    return _Layout(
        source=x,
        order=order,
        inverse=inverse,
        group=g,
        subject=subj[order],
        group_starts=starts,
        mated=_mated_pairs(subj[order], block_size),
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


def _rectangles(
    layout: _Layout, lut: npt.NDArray[np.int32], i0: int, i1: int, j0: int, j1: int
) -> npt.NDArray[np.int64]:
    """``(r0, r1, c0, c1, cell)`` of each one-cell rectangle of a block, in block coordinates."""
    rects = [
        (a0 - i0, a1 - i0, b0 - j0, b1 - j0, int(lut[layout.group[a0], layout.group[b0]]))
        for a0, a1 in _ranges(i0, i1, layout.group_starts)
        for b0, b1 in _ranges(j0, j1, layout.group_starts)
    ]
    return np.array(rects, dtype=np.int64).reshape(-1, 5)


class _Reducer:
    """Reduces blocks of scaled similarities into an accumulator (the backend-free part)."""

    def __init__(self, layout: _Layout, acc: Accumulator) -> None:
        self.layout, self.acc = layout, acc

    def reduce(self, i0: int, j0: int, scaled: npt.NDArray[np.float32]) -> None:
        """Add block ``[i0:i0+r) x [j0:j0+c)`` of similarities times ``2**exponent``.

        Mated entries are kept exactly and left out of the counts; the rest is counted
        by the accumulator's compiled loop, rectangle by rectangle (one cell each).
        """
        lay, acc = self.layout, self.acc
        rows, cols = scaled.shape
        skip = skip_cells = None
        pairs = lay.mated.get((i0, j0))
        if pairs is not None:
            r, c = pairs[0] - i0, pairs[1] - j0
            values = np.ldexp(scaled[r, c].astype(np.float64), -acc.grid.exponent)
            acc.add_mated(values, lay.group[pairs[0]], lay.group[pairs[1]], lay.subject[pairs[0]])
            skip, skip_cells = r * cols + c, acc.lut[lay.group[pairs[0]], lay.group[pairs[1]]]
        rects = _rectangles(lay, acc.lut, i0, i0 + rows, j0, j0 + cols)
        acc.add_block(
            scaled,
            rects,
            diagonal=i0 == j0,
            skip=skip,
            skip_cells=skip_cells,
            subjects=(lay.subject[i0 : i0 + rows], lay.subject[j0 : j0 + cols]),
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
    ready: Callable[[], None] | None = None,
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
    ready : callable, optional
        Waited for (called, on any thread) before the first score is counted: the
        first blocks' products are computed meanwhile, while another thread loads the
        compiled counting loops (:func:`faceparity.accumulate.kernels.warm`).

    Returns
    -------
    Accumulator
        Every unordered pair of distinct samples counted once; not yet finalised.

    """
    config = config or EngineConfig()
    ready = ready or _nothing
    layout = _layout(embeddings, subjects, groups, config.block_size)
    n = len(layout.group)
    pairs = _block_pairs(n, config.block_size)
    size = config.block_size
    sizes = [_pair_count(i, j, n, size) for i, j in pairs]
    total = n * (n - 1) // 2
    # Chunks are where a checkpoint can be saved; without one, a single chunk keeps the
    # worker threads busy to the end instead of waiting for each other chunk by chunk.
    chunk = max(4 * config.threads, 1) if config.checkpoint is not None else max(len(pairs), 1)
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
    workers = max(1, config.threads if config.backend == "numpy" else 1)

    def fresh_parts() -> list[Accumulator]:
        parts = [Accumulator(grid, n_groups, capacity=config.capacity) for _ in range(workers)]
        for part in parts:  # start where the merged tail is: at or below the final edge
            part.tail_bin = main.tail_bin
        return parts

    parts = fresh_parts()
    products = [] if on_device else [_Product(layout, grid, size) for _ in range(workers)]
    last_save = time.monotonic()

    def block_done(i0: int, j0: int) -> None:
        nonlocal done
        done += _pair_count(i0, j0, n, size)
        if progress is not None:
            progress(done, total)

    if device is not None:
        ready()
    with _blas_threads(1 if workers > 1 else None):
        for k in range(done_chunks, len(chunks)):
            if device is not None:
                for i0, j0 in chunks[k]:
                    device.reduce(i0, j0, parts[0])
                    block_done(i0, j0)
            else:
                _run_chunk(chunks[k], parts, products, layout, size, n, block_done, ready)
            ready()  # before the parts are merged (no block may have been counted yet)
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


def _nothing() -> None:
    """A ``ready`` that waits for nothing."""


def _pair_count(i0: int, j0: int, n: int, block: int) -> int:
    rows, cols = min(block, n - i0), min(block, n - j0)
    return rows * (rows - 1) // 2 if i0 == j0 else rows * cols


class _DeviceReducer:
    """The whole block on a torch device (CPU or CUDA): product, bins, counts and tail stay there.

    Counts are kept in a device histogram over all cells (plus one bin, last, for the
    entries not counted) and copied into an accumulator by :meth:`flush`; only mated
    and tail scores (few) cross to the host.
    """

    def __init__(
        self, layout: _Layout, grid: ScoreGrid, config: EngineConfig, lut: npt.NDArray[np.int32]
    ) -> None:
        torch = _import_torch()
        self.torch, self.layout, self.grid, self.config = torch, layout, grid, config
        device = torch.device(config.device)
        n, d = layout.shape
        self.right = torch.empty((n, d), dtype=torch.float32, device=device)
        chunk = np.empty((min(n, 65536), d), dtype=np.float32)
        for start in range(0, n, 65536):
            stop = min(start + 65536, n)
            rows = layout.unit_rows(start, stop, chunk)
            self.right[start:stop] = torch.from_numpy(rows).to(device)
        self.left = self.right * float(np.ldexp(1.0, grid.exponent))  # exact: a power of two
        self.low, self.high = float(grid.offset), float(grid.offset + grid.n_bins - 1)
        self.n_cells = int(lut.max()) + 1
        self.unused = self.n_cells * grid.n_bins  # the bin of entries not counted
        if self.unused >= np.iinfo(np.int32).max:
            raise UsageError(
                f"the torch backend counts cells x bins in int32: {self.n_cells} cells of "
                f"{grid.n_bins} bins is too many; use fewer groups or the numpy backend"
            )
        self.hist = torch.zeros(self.unused + 1, dtype=torch.int64, device=device)
        self.total = torch.zeros(grid.n_bins, dtype=torch.int64, device=device)
        self.lut, self.device = lut, device
        block = config.block_size
        self.lower = torch.tril(torch.ones((block, block), dtype=torch.bool, device=device))
        self.mated = {
            key: (torch.from_numpy(r).to(device), torch.from_numpy(c).to(device), r, c)
            for key, (r, c) in layout.mated.items()
        }

    def reduce(self, i0: int, j0: int, acc: Accumulator) -> None:
        torch, lay, grid, block = self.torch, self.layout, self.grid, self.config.block_size
        n = len(lay.group)
        i1, j1 = min(i0 + block, n), min(j0 + block, n)
        scaled = self.left[i0:i1] @ self.right[j0:j1].T  # 2**e s
        # Keys in int32 (cells x bins < 2**31): floor, then clamp and the cell's offset
        # in place, rectangle by rectangle.
        keys = torch.floor(scaled).to(torch.int32)
        rows, cols = keys.shape
        low, high = grid.offset, grid.offset + grid.n_bins - 1
        for r0, r1, c0, c1, cell in _rectangles(lay, self.lut, i0, i1, j0, j1).tolist():
            part = keys[r0:r1, c0:c1]
            part.clamp_(low, high).add_(cell * grid.n_bins - grid.offset)
        if i0 == j0:
            keys.masked_fill_(self.lower[:rows, :cols], self.unused)
        pairs = self.mated.get((i0, j0))
        if pairs is not None:
            r_dev, c_dev, r, c = pairs
            values = scaled[r_dev - i0, c_dev - j0].double().cpu().numpy()
            acc.add_mated(
                np.ldexp(values, -grid.exponent), lay.group[r], lay.group[c], lay.subject[r]
            )
            keys[r_dev - i0, c_dev - j0] = self.unused
        counts = torch.bincount(keys.reshape(-1), minlength=self.unused + 1)
        self.hist += counts
        self.total += counts[: self.unused].view(self.n_cells, grid.n_bins).sum(dim=0)
        above = torch.flip(torch.cumsum(torch.flip(self.total, [0]), 0), [0])
        fits = torch.nonzero(above <= acc.capacity)
        edge = int(fits[0, 0]) if fits.numel() else grid.n_bins
        acc.tail_bin = max(acc.tail_bin, edge)
        if acc.tail_bin >= grid.n_bins:
            return
        if acc.tail_bin > 0:
            r_t, c_t = torch.nonzero(scaled >= float(grid.offset + acc.tail_bin), as_tuple=True)
        else:
            r_t, c_t = torch.nonzero(keys != self.unused, as_tuple=True)
        if r_t.numel():
            counted = keys[r_t, c_t] != self.unused  # not below the diagonal, not mated
            r_t, c_t = r_t[counted], c_t[counted]
            values = scaled[r_t, c_t].double().cpu().numpy()
            r, c = r_t.cpu().numpy() + i0, c_t.cpu().numpy() + j0
            acc.add_tail(
                np.ldexp(values, -grid.exponent),
                self.lut[lay.group[r], lay.group[c]],
                np.column_stack([lay.subject[r], lay.subject[c]]),
            )

    def flush(self, acc: Accumulator) -> None:
        """Move the device counts into ``acc`` and start counting afresh."""
        counts = self.hist[: self.unused].view(self.n_cells, self.grid.n_bins).cpu().numpy()
        for cell in range(self.n_cells):
            acc.count_cell(cell, counts[cell])
        self.hist.zero_()


def _run_chunk(
    items: list[tuple[int, int]],
    parts: list[Accumulator],
    products: list[_Product],
    layout: _Layout,
    block: int,
    n: int,
    block_done: Callable[[int, int], None] | None = None,
    ready: Callable[[], None] = _nothing,
) -> None:
    """Blocks ``items`` over one thread per part (and its product buffers).

    ``block_done(i0, j0)`` is called after each block, on the calling thread; each
    worker calls ``ready()`` after computing a block's product, before counting it.
    """
    work: queue.Queue[tuple[int, int]] = queue.Queue()
    for item in items:
        work.put(item)
    finished: queue.Queue[tuple[int, int]] = queue.Queue()
    errors: list[BaseException] = []

    def worker(acc: Accumulator, compute: _Product, done: Callable[[int, int], None]) -> None:
        reducer = _Reducer(layout, acc)
        while not errors:
            try:
                i0, j0 = work.get_nowait()
            except queue.Empty:
                return
            try:
                scaled = compute(i0, min(i0 + block, n), j0, min(j0 + block, n))
                ready()
                reducer.reduce(i0, j0, scaled)
            except BaseException as err:  # noqa: BLE001 - re-raised in the caller
                errors.append(err)
            else:
                done(i0, j0)

    report = block_done or (lambda i0, j0: None)
    if len(parts) == 1:
        worker(parts[0], products[0], report)
    else:
        threads = [
            threading.Thread(target=worker, args=(acc, product, lambda *b: finished.put(b)))
            for acc, product in zip(parts, products, strict=True)
        ]
        for t in threads:
            t.start()
        # Progress is reported here, on the calling thread, as the workers finish blocks.
        try:
            while any(t.is_alive() for t in threads) or not finished.empty():
                try:
                    report(*finished.get(timeout=0.1))
                except queue.Empty:
                    continue
        except BaseException as err:  # an interrupt or a failing callback: workers stop
            errors.append(err)
            raise
        finally:
            for t in threads:
                t.join()
    if errors:
        raise errors[0]


class _Product:
    """Blocks ``2**e X_I X_J^T`` with numpy, into buffers reused from block to block.

    The left rows are scaled by ``2**e`` first (exact), so the float32 product is the
    float32 similarity times ``2**e``, and its bin needs no rounding of its own. Each
    worker thread has its own (the returned block is overwritten by the next call).
    """

    def __init__(self, layout: _Layout, grid: ScoreGrid, block: int) -> None:
        self.layout, self.factor = layout, float(np.ldexp(1.0, grid.exponent))
        n, d = layout.shape
        rows = min(block, n)
        self.left = np.empty((rows, d), dtype=np.float32)
        self.right = np.empty((rows, d), dtype=np.float32)
        self.out = np.empty(rows * rows, dtype=np.float32)
        self.left_at = self.right_at = (-1, -1)  # the rows the buffers hold

    def __call__(self, i0: int, i1: int, j0: int, j1: int) -> npt.NDArray[np.float32]:
        if self.left_at != (i0, i1):  # consecutive blocks often share their rows
            self.layout.unit_rows(i0, i1, self.left, self.factor)
            self.left_at = (i0, i1)
        if self.right_at != (j0, j1):
            self.layout.unit_rows(j0, j1, self.right)
            self.right_at = (j0, j1)
        out = self.out[: (i1 - i0) * (j1 - j0)].reshape(i1 - i0, j1 - j0)
        return np.matmul(self.left[: i1 - i0], self.right[: j1 - j0].T, out=out)


def _blas_threads(limit: int | None):  # type: ignore[no-untyped-def]
    if limit is None:
        return nullcontext()
    return threadpool_limits(limits=limit, user_api="blas")


def _fingerprint(layout: _Layout, config: EngineConfig, grid: ScoreGrid) -> str:
    digest = hashlib.sha256()
    n, d = layout.shape
    rows = np.empty((min(n, 65536), d), dtype=np.float32)
    for start in range(0, n, 65536):
        digest.update(layout.unit_rows(start, min(start + 65536, n), rows).tobytes())
    for array in (layout.group, layout.subject):
        digest.update(np.ascontiguousarray(array).tobytes())
    for (i0, j0), (r, c) in sorted(layout.mated.items()):
        digest.update(np.array([i0, j0]).tobytes() + r.tobytes() + c.tobytes())
    digest.update(repr((config.block_size, config.threads, config.capacity, grid)).encode())
    return digest.hexdigest()


def _resume(directory: Path, fingerprint: str, fresh: Accumulator) -> tuple[Accumulator, int]:
    """The accumulator and chunks done saved in ``directory``; ``fresh`` and 0 if none."""
    state_path = Path(directory) / CHECKPOINT_STATE
    if not state_path.exists():
        return fresh, 0

    def unreadable(file: Path, error: object) -> UsageError:
        return UsageError(MSG_CHECKPOINT_UNREADABLE.format(file=file, error=error))

    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise unreadable(state_path, err) from err
    if not isinstance(state, dict):
        raise unreadable(state_path, f"expected a JSON object, got {type(state).__name__}")
    if state.get("fingerprint") != fingerprint:
        raise UsageError(MSG_CHECKPOINT_OTHER.format(directory=directory))
    done = state.get("chunks_done")
    if not isinstance(done, int) or isinstance(done, bool) or done < 0:
        raise unreadable(state_path, f"expected chunks_done, a count, got {done!r}")
    saved = Path(directory) / CHECKPOINT_ACCUMULATOR
    if not zipfile.is_zipfile(saved):  # np.load would leave the file open
        raise unreadable(saved, "not a complete NumPy archive")
    try:
        return Accumulator.load(saved), done
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise unreadable(saved, err) from err


def _save(directory: Path, fingerprint: str, acc: Accumulator, chunks_done: int) -> None:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    acc.save(directory / CHECKPOINT_ACCUMULATOR)
    atomic_write_text(
        directory / CHECKPOINT_STATE,
        json.dumps({"fingerprint": fingerprint, "chunks_done": chunks_done}) + "\n",
        mode=0o600,
    )
