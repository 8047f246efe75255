"""All-vs-all on a GPU: the streaming engine with the torch backend on CUDA.

Prints, for each N, the comparisons, the engine's wall time and comparisons/s, and
the time of the bare float32 matrix products of the same blocks on the same GPU
(the limit), with the ratio. Run on a machine with a CUDA GPU:

    PYTHONPATH=src python3 benchmarks/bench_gpu.py --n 100000 1000000
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, nargs="+", default=[100_000])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--block", type=int, default=16384)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()

    import torch

    from faceparity.scoring.engine import EngineConfig, stream_embeddings

    print(f"device: {torch.cuda.get_device_name(0)}  torch {torch.__version__}", flush=True)
    for n in args.n:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, args.dim), dtype=np.float32)
        subjects = np.arange(n) // 5
        groups = subjects % 8
        total = n * (n - 1) // 2
        config = EngineConfig(block_size=args.block, backend="torch", device=args.device)
        torch.cuda.synchronize()
        start = time.perf_counter()
        acc = stream_embeddings(x, subjects, groups, n_groups=8, config=config)
        torch.cuda.synchronize()
        engine_s = time.perf_counter() - start
        assert int(acc.histogram.sum()) + len(acc.mated()[0]) == total

        # The limit: the same upper-triangle block products, nothing else.
        xd = torch.from_numpy(x).to(args.device)
        xd = xd / xd.norm(dim=1, keepdim=True)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for i in range(0, n, args.block):
            for j in range(i, n, args.block):
                _ = xd[i : i + args.block] @ xd[j : j + args.block].T
        torch.cuda.synchronize()
        matmul_s = time.perf_counter() - start
        print(
            f"n={n} comparisons={total:.3e} engine_s={engine_s:.2f} "
            f"engine_comparisons_per_s={total / engine_s:.3e} matmul_s={matmul_s:.2f} "
            f"ratio engine/matmul={matmul_s / engine_s:.3f}",
            flush=True,
        )
        del xd


if __name__ == "__main__":
    main()
