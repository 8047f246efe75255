"""All-vs-all speed: the streaming engine against a bare float32 matrix multiplication.

The limit an all-vs-all engine can reach is the matrix multiplication it cannot
avoid: the Gram matrix of ``n`` unit-norm float32 templates, computed tile by tile
over the upper-triangle block pairs ``(r, c)``, ``r <= c``, of ``block x block``
tiles. This script times exactly that (numpy ``matmul`` into a reused output tile,
BLAS limited to ``--threads`` threads), then, when it exists, the engine
(``faceparity.scoring.engine.stream_embeddings``) on the same data, and prints both
throughputs in comparisons per second, where a comparison is one unordered pair
``i < j`` (``n (n - 1) / 2`` in all), and their ratio.

Only the ratio is a target (engine / baseline >= 0.7 at n=50,000, d=512, 8 groups,
2 threads): both are measured in the same run on the same machine, so the noise of
a shared 2-core machine mostly cancels. Data generation is excluded from every
timing and reported on its own.

Usage::

    python benchmarks/bench_matmul_baseline.py            # n=50,000, d=512, block 4096
    python benchmarks/bench_matmul_baseline.py --quick    # n=8,000: a fast check
    python benchmarks/bench_matmul_baseline.py --n 20000 --dim 256 --block 2048 --json

Figures go to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

N_GROUPS = 8
SAMPLES_PER_SUBJECT = 5
QUICK_N = 8_000
TARGET_RATIO = 0.7

ENGINE_MODULE = "faceparity.scoring.engine"
ENGINE_FUNCTION = "stream_embeddings"
NOT_AVAILABLE = "engine not available yet"


@dataclass(frozen=True)
class Templates:
    """Synthetic all-vs-all input: unit-norm templates with their subjects and groups."""

    embeddings: npt.NDArray[np.float32]
    subjects: npt.NDArray[np.int64]
    groups: npt.NDArray[np.int32]
    n_subjects: int


def make_templates(n: int, dim: int, *, seed: int) -> Templates:
    """Random unit vectors; about 5 samples per subject; each subject in one of 8 groups.

    Samples per subject are ``1 + Poisson(4)`` (mean 5), in random order, so a
    subject's samples are not adjacent.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    counts = 1 + rng.poisson(SAMPLES_PER_SUBJECT - 1, size=n)
    n_subjects = int(np.searchsorted(np.cumsum(counts), n)) + 1
    subjects = np.repeat(np.arange(n_subjects, dtype=np.int64), counts[:n_subjects])[:n]
    subjects = rng.permutation(subjects)
    subject_group = rng.integers(0, N_GROUPS, size=n_subjects).astype(np.int32)
    return Templates(x, subjects, subject_group[subjects], n_subjects)


def block_pairs(n: int, block: int) -> Iterator[tuple[slice, slice]]:
    """Row and column slices of the upper-triangle tiles ``r <= c``."""
    for r0 in range(0, n, block):
        for c0 in range(r0, n, block):
            yield slice(r0, min(r0 + block, n)), slice(c0, min(c0 + block, n))


@contextlib.contextmanager
def blas_threads(threads: int) -> Iterator[str]:
    """Limit BLAS to ``threads`` threads (with threadpoolctl); yield what is in effect."""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        yield "unknown (threadpoolctl is not installed; the BLAS default applies)"
        return
    with threadpool_limits(limits=threads, user_api="blas"):
        pools = [p for p in threadpool_info() if p["user_api"] == "blas"]
        used = sorted({f"{p['internal_api']} x{p['num_threads']}" for p in pools})
        yield ", ".join(used) or "none found"


def time_baseline(x: npt.NDArray[np.float32], block: int) -> float:
    """Seconds for the bare float32 products of every upper-triangle tile."""
    n = x.shape[0]
    tile = np.empty((min(block, n), min(block, n)), dtype=np.float32)
    rows, cols = next(block_pairs(n, block))
    np.matmul(x[rows], x[cols].T, out=tile[: rows.stop - rows.start, : cols.stop - cols.start])
    start = time.perf_counter()
    for rows, cols in block_pairs(n, block):
        out = tile[: rows.stop - rows.start, : cols.stop - cols.start]
        np.matmul(x[rows], x[cols].T, out=out)
    return time.perf_counter() - start


# --- The engine: kept apart, since its API is not settled yet ---------------------------


def load_engine() -> tuple[Callable[..., Any], dict[str, Any]] | None:
    """``stream_embeddings`` and the options type of its module; None while there is none."""
    try:
        module = importlib.import_module(ENGINE_MODULE)
        return getattr(module, ENGINE_FUNCTION), vars(module)
    except (ImportError, AttributeError) as err:
        print(f"{ENGINE_MODULE}.{ENGINE_FUNCTION}: {err}", file=sys.stderr)
        return None


def run_engine(data: Templates, *, block: int, threads: int, repeat: int) -> list[float] | None:
    """Seconds of each of ``repeat`` engine runs over all pairs; None while there is no engine.

    The API is not settled. Where the module defines ``EngineConfig``, the call is::

        stream_embeddings(embeddings, subjects, groups, *, n_groups: int,
                          config=EngineConfig(block_size=..., threads=...)) -> Accumulator

    and otherwise::

        stream_embeddings(embeddings: ndarray float32 (n, d) unit-norm,
                          subjects: ndarray int, groups: ndarray int, *,
                          n_groups: int, block_size: int, threads: int) -> Accumulator
    """
    engine = load_engine()
    if engine is None:
        return None
    stream_embeddings, namespace = engine
    if "EngineConfig" in namespace:
        options = {"config": namespace["EngineConfig"](block_size=block, threads=threads)}
    else:
        options = {"block_size": block, "threads": threads}
    print(f"engine: {repeat} run(s) ...", file=sys.stderr)
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        stream_embeddings(data.embeddings, data.subjects, data.groups, n_groups=N_GROUPS, **options)
        runs.append(time.perf_counter() - start)
    return runs


# --- Command line ------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50_000, help="templates (default 50000)")
    parser.add_argument("--dim", type=int, default=512, help="dimensions (default 512)")
    parser.add_argument("--block", type=int, default=4096, help="tile size (default 4096)")
    parser.add_argument("--threads", type=int, default=2, help="BLAS/engine threads (default 2)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="timed runs of each side, the best kept (default 3)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--only",
        choices=("baseline", "engine"),
        help="run one side only (engine: for bench_memory.py at large n)",
    )
    parser.add_argument("--quick", action="store_true", help=f"n={QUICK_N}: a fast check")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    ns = parser.parse_args(argv)
    if ns.quick:
        ns.n = QUICK_N
    for name in ("n", "dim", "block", "threads", "repeat"):
        if getattr(ns, name) < 1:
            parser.error(f"--{name}: expected a positive integer, got {getattr(ns, name)}")
    if ns.n < 2:
        parser.error(f"--n: expected at least 2 templates, got {ns.n}")
    return ns


def main(argv: list[str] | None = None) -> int:
    ns = parse_args(argv)
    n, dim, block = ns.n, ns.dim, ns.block
    comparisons = n * (n - 1) // 2
    tiles = list(block_pairs(n, block))
    flops = sum(2 * dim * (r.stop - r.start) * (c.stop - c.start) for r, c in tiles)

    print(f"generating {n} templates of {dim} dims ...", file=sys.stderr)
    start = time.perf_counter()
    data = make_templates(n, dim, seed=ns.seed)
    generation_s = time.perf_counter() - start
    data_mb = (data.embeddings.nbytes + data.subjects.nbytes + data.groups.nbytes) / 1e6

    figures: dict[str, Any] = {
        "n": n,
        "dim": dim,
        "block": block,
        "groups": N_GROUPS,
        "subjects": data.n_subjects,
        "threads": ns.threads,
        "comparisons": comparisons,
        "tiles": len(tiles),
        "generation_s": generation_s,
        "data_mb": data_mb,
    }
    lines = [
        f"bench_matmul_baseline  n={n} dim={dim} block={block} groups={N_GROUPS} "
        f"subjects={data.n_subjects} threads={ns.threads}",
        f"comparisons:                {comparisons:,} (pairs i < j; {len(tiles)} tiles r <= c)",
        f"generation_s:               {generation_s:.2f} (excluded from the timings)",
        f"data_mb:                    {data_mb:.1f} (float32 embeddings, subjects, groups)",
    ]

    def baseline_runs() -> list[float]:
        print(f"baseline: {ns.repeat} run(s) of {len(tiles)} float32 tiles ...", file=sys.stderr)
        with blas_threads(ns.threads) as in_effect:
            figures["blas"] = in_effect
            return [time_baseline(data.embeddings, block) for _ in range(ns.repeat)]

    run_baseline = ns.only != "engine"
    baseline = baseline_runs() if run_baseline else []
    engine = None
    if ns.only != "baseline":
        engine = run_engine(data, block=block, threads=ns.threads, repeat=ns.repeat)
    if engine is not None and run_baseline:
        # Once more after the engine, so that a machine that slowed down mid-run
        # does not flatter the engine; the best baseline is the limit.
        baseline += baseline_runs()

    if baseline:
        best = min(baseline)
        figures.update(
            baseline_s=best,
            baseline_runs_s=baseline,
            baseline_comparisons_per_s=comparisons / best,
            baseline_gflop_per_s=flops / best / 1e9,
        )
        lines += [
            f"blas threads:               {figures['blas']}",
            f"baseline_s:                 {best:.3f} (best of {len(baseline)}: "
            + ", ".join(f"{s:.3f}" for s in baseline)
            + ")",
            f"baseline_comparisons_per_s: {comparisons / best:.4g}",
            f"baseline_gflop_per_s:       {flops / best / 1e9:.1f} (tiles computed in full)",
        ]
    else:
        figures["baseline"] = "skipped"
        lines.append("baseline:                   skipped")
    if engine is not None:
        fastest = min(engine)
        figures.update(
            engine_s=fastest,
            engine_runs_s=engine,
            engine_comparisons_per_s=comparisons / fastest,
        )
        lines += [
            f"engine_s:                   {fastest:.3f} (best of {len(engine)})",
            f"engine_comparisons_per_s:   {comparisons / fastest:.4g}",
        ]
        if baseline:
            ratio = min(baseline) / fastest
            figures["ratio_engine_over_baseline"] = ratio
            lines.append(
                f"ratio engine/baseline:      {ratio:.3f} (target >= {TARGET_RATIO} at n=50000, "
                f"dim=512, {N_GROUPS} groups, 2 threads)"
            )
    else:
        figures["engine"] = "skipped" if ns.only == "baseline" else NOT_AVAILABLE
        lines.append(f"engine:                     {figures['engine']}")

    if ns.json:
        print(json.dumps(figures))
    else:
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
