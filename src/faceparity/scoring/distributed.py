"""The streaming engine on a Dask cluster: chunks of blocks reduced on the workers.

The samples are laid out once, on the client, exactly as the in-process engine lays
them out (:mod:`faceparity.scoring.engine`), and the layout is broadcast to every
worker. Each task takes a *chunk* (a list of block pairs), computes and reduces its
blocks into a fresh :class:`~faceparity.accumulate.Accumulator` with the engine's own
code, and returns it; the client merges the accumulators as they complete. Merging
is exact and independent of order (see :mod:`faceparity.accumulate.accumulator`), so,
once finalised, the result equals the in-process engine's: the same histograms, tail
edge, tail scores and mated scores (the exact scores possibly in another order).

Tasks are submitted a few per worker thread at a time; each starts its tail edge at
the merged one known when it is submitted (at or below the final edge, so nothing
the final tail needs is dropped), which keeps the tails the workers return short.

The workers need faceparity installed (the same version as the client); they run the
numpy backend, and their BLAS threads are left as Dask sets them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import islice
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy.typing as npt

from faceparity.accumulate.accumulator import Accumulator
from faceparity.accumulate.grid import COSINE_GRID, ScoreGrid
from faceparity.errors import UsageError
from faceparity.scoring.engine import (
    EngineConfig,
    _block_pairs,
    _Layout,
    _layout,
    _pair_count,
    _Product,
    _run_chunk,
)

if TYPE_CHECKING:
    import distributed

__all__ = ["stream_embeddings_dask"]

DASK_MISSING = "the Dask backend needs dask.distributed: pip install 'faceparity[dask]'"
DASK_BACKEND = "the Dask backend multiplies with numpy on the workers; got backend {backend!r}"
DASK_CHECKPOINT = "checkpoints are not available with the Dask backend; got checkpoint {path}"
DASK_SCHEDULER = "scheduler: expected an address or a distributed.Client, got {kind}"
DASK_CONNECT = "cannot connect to the Dask scheduler at {address}: {error}"
DASK_NO_WORKERS = "the Dask cluster at {address} has no workers"

TASKS_PER_THREAD = 4
"""Chunks per worker thread over the whole run: enough to balance the load, few enough
that each task's work outweighs sending its accumulator back."""


def _import_distributed() -> ModuleType:
    """``dask.distributed``, or a :class:`UsageError` with the install hint."""
    try:
        import distributed
    except ImportError as err:
        raise UsageError(DASK_MISSING) from err
    return distributed


def stream_embeddings_dask(
    embeddings: npt.ArrayLike,
    subjects: npt.ArrayLike,
    groups: npt.ArrayLike,
    *,
    n_groups: int,
    config: EngineConfig | None = None,
    scheduler: str | distributed.Client,
    grid: ScoreGrid = COSINE_GRID,
    progress: Callable[[int, int], None] | None = None,
) -> Accumulator:
    """All-vs-all cosine comparisons of ``embeddings`` on a Dask cluster, into an accumulator.

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
        Block size and tail capacity; ``threads`` is not used (the workers' threads
        run the tasks), the backend must be ``"numpy"`` and there is no checkpoint.
    scheduler : str or distributed.Client
        Address of a running Dask scheduler (``"tcp://host:8786"``), or a client
        connected to one (left open).
    grid : ScoreGrid
        Bins of the non-mated histograms (cosine similarity by default).
    progress : callable, optional
        Called with (comparisons done, comparisons in all) after each chunk merged.

    Returns
    -------
    Accumulator
        Every unordered pair of distinct samples counted once; not yet finalised.
        Once finalised, equal to :func:`~faceparity.scoring.engine.stream_embeddings`'s.

    Raises
    ------
    UsageError
        When dask.distributed is not installed, the scheduler cannot be reached or
        has no workers, or ``config`` asks for torch or a checkpoint.

    """
    dd = _import_distributed()
    config = config or EngineConfig()
    if config.backend != "numpy":
        raise UsageError(DASK_BACKEND.format(backend=config.backend))
    if config.checkpoint is not None:
        raise UsageError(DASK_CHECKPOINT.format(path=config.checkpoint))
    if not isinstance(scheduler, str | dd.Client):
        raise UsageError(DASK_SCHEDULER.format(kind=type(scheduler).__name__))
    layout = _layout(embeddings, subjects, groups, config.block_size)
    if isinstance(scheduler, str):
        try:
            dd.comm.resolve_address(scheduler)  # a bad address fails here, not half-connected
            client = dd.Client(scheduler, set_as_default=False)
        except (ValueError, OSError) as err:  # TimeoutError is an OSError
            raise UsageError(DASK_CONNECT.format(address=scheduler, error=err)) from err
        with client:
            return _run(client, layout, n_groups, config, grid, progress)
    return _run(scheduler, layout, n_groups, config, grid, progress)


def _run(
    client: distributed.Client,
    layout: _Layout,
    n_groups: int,
    config: EngineConfig,
    grid: ScoreGrid,
    progress: Callable[[int, int], None] | None,
) -> Accumulator:
    """Broadcast the layout, keep a few chunks per worker thread in flight, merge as they come."""
    dd = _import_distributed()
    dask: Any = client  # the Client methods used here carry no type hints
    threads = sum(dask.nthreads().values())
    if threads == 0:
        raise UsageError(DASK_NO_WORKERS.format(address=dask.scheduler.address))
    n, block = len(layout.group), config.block_size
    chunks = _chunks(_block_pairs(n, block), TASKS_PER_THREAD * threads)
    total = n * (n - 1) // 2
    main = Accumulator(grid, n_groups, capacity=config.capacity)
    done = 0
    if progress is not None:
        progress(done, total)

    shared = dask.scatter(layout, broadcast=True, hash=False)
    in_flight: dict[distributed.Future[Accumulator], int] = {}  # comparisons of each task
    completed = dd.as_completed(loop=dask.loop)

    def submit(chunk: list[tuple[int, int]]) -> None:
        future = dask.submit(
            _reduce_chunk,
            shared,
            chunk,
            n_groups=n_groups,
            config=config,
            grid=grid,
            tail_bin=main.tail_bin,
            pure=False,
        )
        in_flight[future] = sum(_pair_count(i0, j0, n, block) for i0, j0 in chunk)
        completed.add(future)

    waiting = iter(chunks)
    try:
        for chunk in islice(waiting, 2 * threads):
            submit(chunk)
        for future in completed:
            main.merge(future.result())
            done += in_flight.pop(future)
            future.release()
            if progress is not None:
                progress(done, total)
            following = next(waiting, None)
            if following is not None:
                submit(following)
    finally:
        dask.cancel([*in_flight, shared])
    return main


def _chunks(pairs: Sequence[tuple[int, int]], n_tasks: int) -> list[list[tuple[int, int]]]:
    """``pairs`` cut into at most ``n_tasks`` consecutive chunks of nearly equal length."""
    size = max(math.ceil(len(pairs) / max(n_tasks, 1)), 1)
    return [list(pairs[k : k + size]) for k in range(0, len(pairs), size)]


def _reduce_chunk(
    layout: _Layout,
    chunk: list[tuple[int, int]],
    *,
    n_groups: int,
    config: EngineConfig,
    grid: ScoreGrid,
    tail_bin: int,
) -> Accumulator:
    """The task run on a worker: the blocks of ``chunk`` reduced into a fresh accumulator."""
    acc = Accumulator(grid, n_groups, capacity=config.capacity)
    acc.tail_bin = tail_bin  # the merged edge when submitted: at or below the final one
    product = _Product(layout, grid, config.block_size)
    _run_chunk(chunk, [acc], [product], layout, config.block_size, len(layout.group))
    return acc
