"""1:N search speed: the blocked search against a bare float32 matmul of the same blocks.

The search (:func:`faceparity.identification.search`) multiplies every probe block by
every gallery block and reduces each product at once (top-R non-mated candidates,
mate rank, per-tier maxima). The limit it can reach is the matrix multiplication it
cannot avoid; this script times exactly those products (numpy ``matmul`` into a
reused output block, the probe blocks shared out over ``--threads`` threads with one
BLAS thread each, as the search does), then the search on the
same data with ``--threads`` worker threads, and prints both throughputs (searches
per second and comparisons per second, a comparison being one probe against one
gallery sample) and their ratio. Both are measured in the same run (the baseline
before and after the search, the faster kept), so the noise of a shared machine mostly
cancels; data generation is timed apart.

Usage::

    python benchmarks/bench_identification.py                 # 100,000 x 50,000, d=512
    python benchmarks/bench_identification.py --quick         # 10,000 x 5,000
    python benchmarks/bench_identification.py --gallery 20000 --probes 10000 --json

Figures go to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from faceparity.identification import SearchConfig, search, split_protocol
from faceparity.identification.search import _gallery_blocks, normalise


def make_data(n_gallery: int, n_probes: int, dim: int, *, seed: int):
    """Random unit gallery templates (one per subject); half the probes mated (noisy copies)."""
    rng = np.random.default_rng(seed)
    gallery = rng.standard_normal((n_gallery, dim), dtype=np.float32)
    n_mated = n_probes // 2
    mates = rng.choice(n_gallery, size=n_mated, replace=False)
    mated = gallery[mates] + 1.2 * rng.standard_normal((n_mated, dim), dtype=np.float32)
    other = rng.standard_normal((n_probes - n_mated, dim), dtype=np.float32)
    x = np.concatenate([gallery, mated, other])
    subject = np.concatenate(
        [np.arange(n_gallery), mates, n_gallery + np.arange(n_probes - n_mated)]
    )
    roles = np.r_[np.ones(n_gallery, bool), np.zeros(n_probes, bool)]
    protocol = split_protocol(subject, np.zeros(len(x), np.int64), roles)
    return x, protocol


def time_baseline(x, protocol, block: int, threads: int) -> float:
    """Seconds for the bare float32 products of every probe block x gallery block.

    Run as the search runs them: probe blocks shared out over ``threads`` Python
    threads, each with one BLAS thread and its own reused output block.
    """
    import queue
    import threading

    from threadpoolctl import threadpool_limits

    gallery = normalise(x, protocol.gallery)
    probes = normalise(x, protocol.probes)
    starts = np.r_[0, np.arange(1, len(gallery)), len(gallery)]
    g_blocks = _gallery_blocks(starts.astype(np.int64), block)
    work: queue.Queue[int] = queue.Queue()
    for p0 in range(0, len(probes), block):
        work.put(p0)

    def worker() -> None:
        out = np.empty(block * block, dtype=np.float32)
        while True:
            try:
                p0 = work.get_nowait()
            except queue.Empty:
                return
            left = probes[p0 : p0 + block]
            for g0, g1 in g_blocks:
                buf = out[: len(left) * (g1 - g0)].reshape(len(left), g1 - g0)
                np.matmul(left, gallery[g0:g1].T, out=buf)

    with threadpool_limits(limits=1, user_api="blas"):
        start = time.perf_counter()
        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gallery", type=int, default=100_000)
    parser.add_argument("--probes", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--block", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="10,000 x 5,000: a fast check")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.gallery, args.probes = 10_000, 5_000

    t0 = time.perf_counter()
    x, protocol = make_data(args.gallery, args.probes, args.dim, seed=args.seed)
    t_data = time.perf_counter() - t0
    print(f"data: {t_data:.1f} s", file=sys.stderr)
    # compile the kernel outside the timing (numba caches it on disk afterwards)
    small = SearchConfig(depth=args.depth, block_size=64, threads=1)
    search(x, _first(protocol, 200), config=small)

    # The baseline is timed before and after the search and the faster run kept, so
    # that a machine that slowed down mid-run does not flatter the search.
    before = time_baseline(x, protocol, args.block, args.threads)
    print(f"bare matmul: {before:.1f} s", file=sys.stderr)
    config = SearchConfig(depth=args.depth, block_size=args.block, threads=args.threads)
    t0 = time.perf_counter()
    result = search(x, protocol, config=config)
    t_search = time.perf_counter() - t0
    print(f"search: {t_search:.1f} s", file=sys.stderr)
    after = time_baseline(x, protocol, args.block, args.threads)
    print(f"bare matmul again: {after:.1f} s", file=sys.stderr)
    t_base = min(before, after)
    n_comparisons = args.gallery * args.probes
    figures = {
        "gallery": args.gallery,
        "probes": args.probes,
        "dim": args.dim,
        "block": args.block,
        "threads": args.threads,
        "depth": args.depth,
        "data_seconds": round(t_data, 2),
        "search_seconds": round(t_search, 2),
        "searches_per_second": args.probes / t_search,
        "comparisons_per_second": n_comparisons / t_search,
        "baseline_seconds": round(t_base, 2),
        "baseline_comparisons_per_second": n_comparisons / t_base,
        "ratio": t_base / t_search,
        "rank1_mated": float(np.mean(result.rank[result.rank > 0] == 1)),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(
            f"1:N search, gallery {args.gallery:,} x probes {args.probes:,}, d = {args.dim}, "
            f"{args.threads} threads, blocks of {args.block}\n"
            f"  search:      {t_search:7.1f} s  {figures['searches_per_second']:,.0f} searches/s  "
            f"{figures['comparisons_per_second']:.3g} comparisons/s\n"
            f"  bare matmul: {t_base:7.1f} s  {figures['baseline_comparisons_per_second']:.3g} "
            f"comparisons/s\n"
            f"  ratio (search / bare matmul throughput): {figures['ratio']:.2f}"
        )
    return 0


def _first(protocol, n: int):
    """A protocol of the first ``n`` probes only (to compile the kernel cheaply)."""
    from dataclasses import replace

    return replace(
        protocol,
        probes=protocol.probes[:n],
        probe_mate=protocol.probe_mate[:n],
        probe_group=protocol.probe_group[:n],
    )


if __name__ == "__main__":
    sys.exit(main())
