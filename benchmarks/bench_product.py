"""The product as a user runs it: ``faceparity audit`` commands, whole processes, from files.

The other benchmarks time components on arrays in memory. This one writes input files
(a Parquet pair table, an ``.npy`` of embeddings with a metadata CSV), runs the
commands a user runs on them with their defaults, each in its own process, and times
the same work done by the shortest program a user could write instead, in the same
run. Every figure is a whole process: wall time from start to exit and peak RSS from
``os.wait4`` (``bench_memory.measure``), interpreter start, imports, reading the file,
the work and the writing of the outputs included.

Sections and targets (each printed with its ratio and PASS or FAIL; a FAIL is not an
exit code, the machine is noisy):

* **pairs**: a Parquet table of S rows (``--rows``, default 5e7; ``--quick`` 1e6),
  8 groups, S / 50 subjects (1e6 at 5e7), 1% mated, half of the non-mated comparisons
  demographically matched. Runs: (1) pyarrow + ``sklearn.metrics.roc_curve`` per
  group, the threshold at FMR 1e-4 and the FNMR there; (2) the same with pyeer, where
  it is installed; (3) ``faceparity audit pairs FILE ... --policy per-group --fmr
  1e-4`` with every other default (1,000-replicate subject bootstrap, report);
  (4) the same with ``--intervals none --no-report``; (5) defaults with
  ``--no-report``; (6) defaults with ``--intervals none``; and a process that only
  reads the table with faceparity's reader. Targets: (3) no slower than (1) and at
  most its peak RSS; (4) at least 10x faster than (1).
* **embeddings**: N x 512 float32 unit vectors (``--n``, default 64,000 and 20,000),
  5 consecutive samples per subject, a metadata CSV (sample, subject, sex);
  ``faceparity audit embeddings`` with its defaults against a process that loads the
  ``.npy`` and computes the upper-triangle block products with numpy, at the
  engine's default block size and threads. Targets: the default run within 1.5x of
  the bare products at the first N, within 4x at the second. Also run with
  ``--intervals none --no-report`` for the breakdown.
* **memory** (``--with-memory``; long): peak RSS of the default ``audit embeddings``
  at N = 200,000, target below 1.5 GB.
* **gpu** (``--gpu``; where torch sees CUDA): N = 1,000,000 with ``--backend torch
  --device cuda`` and every other default, target at most 15 s, beside the bare
  torch products of the same blocks.

Usage::

    python benchmarks/bench_product.py --quick          # small sizes, a few minutes
    python benchmarks/bench_product.py                  # S = 5e7, N = 64,000 and 20,000
    python benchmarks/bench_product.py --with-memory --gpu --json
    python benchmarks/bench_product.py --only pairs --rows 1e7 --keep /tmp/bench-files

Figures go to stdout, progress (and the commands' own messages) to stderr. Exit 0
unless a run fails.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_matmul_baseline import blas_threads, block_pairs  # noqa: E402
from bench_memory import Measurement, measure  # noqa: E402

# --- Sizes and targets --------------------------------------------------------------------

SECTIONS = ("pairs", "embeddings", "memory", "gpu")
FULL_ROWS = 50_000_000
QUICK_ROWS = 1_000_000
SUBJECTS_PER_ROW = 1_000_000 / FULL_ROWS  # 1e6 subjects at 5e7 rows, scaled with S
N_GROUPS = 8
GROUP_NAMES = tuple(f"g{g}" for g in range(N_GROUPS))
MATED_FRACTION = 0.01
MATCHED_NON_MATED_FRACTION = 0.5
TARGET_FMR = 1e-4
ROW_GROUP = 1 << 20  # rows generated and written at a time: one Parquet row group

DIM = 512
SAMPLES_PER_SUBJECT = 5
FULL_N = (64_000, 20_000)
QUICK_N = (16_000, 11_000)
FULL_MEMORY_N = 200_000
QUICK_MEMORY_N = 20_000
FULL_GPU_N = 1_000_000
QUICK_GPU_N = 100_000
EMBEDDING_CHUNK = SAMPLES_PER_SUBJECT * 13_107  # whole subjects per chunk

TARGET_PAIRS_TIME = 1.0  # (3) wall / (1) wall, at most
TARGET_PAIRS_MEMORY = 1.0  # (3) peak / (1) peak, at most
TARGET_PAIRS_LEAN_SPEEDUP = 10.0  # (1) wall / (4) wall, at least
TARGET_EMBEDDINGS = (1.5, 4.0)  # default run / bare products, at most, at each N
TARGET_MEMORY_MB = 1500.0  # peak RSS, below
TARGET_GPU_S = 15.0  # wall, at most

TARGETS = {
    "pairs_time": "pair table, defaults (3) no slower than sklearn (1)",
    "pairs_memory": "pair table, defaults (3) at most the peak RSS of sklearn (1)",
    "pairs_lean_speedup": "pair table, --intervals none --no-report (4) >= 10x faster than (1)",
    "embeddings_large": "embeddings, defaults within 1.5x of the bare products (first N)",
    "embeddings_small": "embeddings, defaults within 4x of the bare products (second N)",
    "memory": "embeddings at N = 200,000, defaults: peak RSS below 1.5 GB",
    "gpu": "embeddings at N = 1,000,000, --backend torch --device cuda: at most 15 s",
}
"""Every target, by key: the test checks that each one gets its line."""

PYEER_MISSING = "pyeer is not installed (pip install pyeer); skipped"
NO_CUDA = "torch does not see CUDA here; skipped"

FACEPARITY = [sys.executable, "-m", "faceparity.cli"]
"""The ``faceparity`` command (what the console script runs), with this interpreter."""

PAIR_OPTIONS = (
    "--score", "score", "--score-kind", "similarity", "--mated", "mated",
    "--subjects", "subject_a,subject_b", "--attribute", "group=group_a,group_b",
    "--group-by", "group", "--policy", "per-group", "--fmr", f"{TARGET_FMR:g}",
)  # fmt: skip
EMBEDDING_OPTIONS = (
    "--sample-id", "sample", "--subject", "subject", "--attribute", "sex=sex",
    "--group-by", "sex",
)  # fmt: skip
LEAN = ("--intervals", "none", "--no-report")
STARTUP_LABEL = "startup (interpreter, import faceparity.cli)"

READ_ONLY = """
import json, sys, time
from pathlib import Path
start = time.perf_counter()
from faceparity.model.config import ScoreKind
from faceparity.readers.attributes import AttributeSpec
from faceparity.readers.pairs import read_pairs
from faceparity.readers.pairs_stream import accumulate_pairs
from faceparity.workflow.audit import streams
from faceparity.workflow.request import PairsInput
imported = time.perf_counter()
columns = dict(score="score", score_kind=ScoreKind.SIMILARITY,
               subjects=("subject_a", "subject_b"), mated="mated")
attributes = [AttributeSpec("group", ("group_a", "group_b"))]
if streams(PairsInput(path=Path(sys.argv[1]), stream=None, **columns)):
    reader = "accumulate_pairs"
    sp = accumulate_pairs(sys.argv[1], **columns, attributes=attributes, group_by=["group"])
    rows = int(sp.accumulator.histogram.sum() + sp.accumulator.mated()[0].size)
else:
    reader = "read_pairs"
    rows = int(read_pairs(sys.argv[1], **columns, attributes=attributes).score.shape[0])
print(json.dumps({"imports_s": imported - start, "read_s": time.perf_counter() - imported,
                  "rows": rows, "reader": reader}))
"""
"""A process that reads the pair table as the command's ``--engine auto`` does: whole with
``read_pairs``, or streamed with ``accumulate_pairs`` (with the degrees the bootstrap needs)."""

READ_EMBEDDINGS = """
import json, sys, time
start = time.perf_counter()
from faceparity.readers.attributes import AttributeSpec
from faceparity.readers.embeddings import load_embeddings
imported = time.perf_counter()
table = load_embeddings(sys.argv[1], metadata=sys.argv[2], sample_id="sample",
                        subject="subject", attributes=[AttributeSpec("sex", ("sex",))])
print(json.dumps({"imports_s": imported - start, "read_s": time.perf_counter() - imported,
                  "samples": int(table.values.shape[0])}))
"""
"""A process that reads embeddings and metadata with faceparity's reader, as the command does."""

CUDA_CHECK = """
import json
try:
    import torch
except ImportError:
    print(json.dumps({"cuda": False}))
else:
    print(json.dumps({"cuda": bool(torch.cuda.is_available())}))
"""
"""Whether torch is installed and sees a CUDA device (in a process of its own)."""


def progress(text: str) -> None:
    """One line of progress on stderr."""
    print(f"[bench_product {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def load_average() -> str:
    """The 1-minute load average, or ``?`` where the platform has none."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


# --- Input files --------------------------------------------------------------------------


def pair_chunk(
    n: int, *, subjects_per_group: int, seed: int, index: int
) -> dict[str, npt.NDArray[Any]]:
    """Rows of chunk ``index`` of the pair table (the generation of ``bench_pairs_sklearn``).

    Subject ``k * 8 + g`` belongs to group ``g``. A mated comparison has both sides on
    one subject; a non-mated one two different subjects, of one group with probability
    1/2, else of two groups. Similarities are normal, with group-dependent means.
    """
    rng = np.random.default_rng([seed, index])
    mated = rng.random(n) < MATED_FRACTION
    same_group = mated | (rng.random(n) < MATCHED_NON_MATED_FRACTION)
    ga = rng.integers(0, N_GROUPS, size=n)
    gb = np.where(same_group, ga, (ga + rng.integers(1, N_GROUPS, size=n)) % N_GROUPS)
    ka = rng.integers(0, subjects_per_group, size=n)
    other = np.where(
        same_group,
        (ka + rng.integers(1, subjects_per_group, size=n)) % subjects_per_group,
        rng.integers(0, subjects_per_group, size=n),
    )
    kb = np.where(mated, ka, other)
    noise = rng.standard_normal(n)
    score = np.where(mated, 0.6 - 0.03 * ga + 0.12 * noise, 0.01 * (ga + gb) + 0.1 * noise)
    return {
        "score": score,
        "subject_a": ka * N_GROUPS + ga,
        "subject_b": kb * N_GROUPS + gb,
        "mated": mated,
        "group_a": ga,
        "group_b": gb,
    }


def write_pairs(path: Path, rows: int, *, seed: int) -> dict[str, Any]:
    """Write the pair table, one row group per chunk (memory bounded by a chunk)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    n_subjects = max(2 * N_GROUPS, round(rows * SUBJECTS_PER_ROW))
    subjects_per_group = n_subjects // N_GROUPS
    names = pa.array(GROUP_NAMES)
    schema = pa.schema(
        [
            ("score", pa.float64()),
            ("subject_a", pa.int64()),
            ("subject_b", pa.int64()),
            ("mated", pa.bool_()),
            ("group_a", pa.string()),
            ("group_b", pa.string()),
        ]
    )
    start = time.perf_counter()
    with pq.ParquetWriter(path, schema) as writer:
        for index, first in enumerate(range(0, rows, ROW_GROUP)):
            chunk = pair_chunk(
                min(ROW_GROUP, rows - first),
                subjects_per_group=subjects_per_group,
                seed=seed,
                index=index,
            )
            columns = {
                name: pc.take(names, pa.array(values)) if name.startswith("group") else values
                for name, values in chunk.items()
            }
            writer.write_table(pa.table(columns, schema=schema), row_group_size=ROW_GROUP)
    return {
        "rows": rows,
        "subjects": subjects_per_group * N_GROUPS,
        "row_groups": -(-rows // ROW_GROUP),
        "file_mb": path.stat().st_size / 1e6,
        "generation_s": time.perf_counter() - start,
    }


def write_embeddings(directory: Path, n: int, *, seed: int) -> dict[str, Any]:
    """``embeddings.npy`` (n x 512 float32, unit rows) and ``metadata.csv``, chunk by chunk.

    Subjects of 5 consecutive samples; each sample is its subject's random centre plus
    as much noise again, normalised (mated similarities about 0.5, non-mated about 0).
    Each subject has a sex, F or M, at random.
    """
    start = time.perf_counter()
    embeddings = directory / "embeddings.npy"
    metadata = directory / "metadata.csv"
    array = np.lib.format.open_memmap(embeddings, mode="w+", dtype=np.float32, shape=(n, DIM))
    with metadata.open("w") as out:
        out.write("sample,subject,sex\n")
        for index, first in enumerate(range(0, n, EMBEDDING_CHUNK)):
            rng = np.random.default_rng([seed, index])
            m = min(EMBEDDING_CHUNK, n - first)
            subject = (first + np.arange(m)) // SAMPLES_PER_SUBJECT
            local = subject - subject[0]
            centres = rng.standard_normal((int(local[-1]) + 1, DIM), dtype=np.float32)
            x = centres[local] + rng.standard_normal((m, DIM), dtype=np.float32)
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            array[first : first + m] = x
            sex = np.where(rng.random(int(local[-1]) + 1) < 0.5, "F", "M")[local]
            out.writelines(
                f"{first + i},{s},{x_}\n"
                for i, (s, x_) in enumerate(zip(subject, sex, strict=True))
            )
    array.flush()
    del array
    return {
        "n": n,
        "dim": DIM,
        "subjects": -(-n // SAMPLES_PER_SUBJECT),
        "comparisons": n * (n - 1) // 2,
        "file_mb": embeddings.stat().st_size / 1e6,
        "generation_s": time.perf_counter() - start,
    }


# --- Baseline processes (this script with --worker) ----------------------------------------


def read_baseline_columns(path: str) -> tuple[npt.NDArray[Any], ...]:
    """Score, mated flag and the group code of each side, read with pyarrow.

    The group columns are read as dictionaries and both sides mapped onto the codes of
    ``GROUP_NAMES``; rows whose groups differ get ``-1`` as their matched group.
    """
    import pyarrow.parquet as pq

    table = pq.read_table(
        path,
        columns=["score", "mated", "group_a", "group_b"],
        read_dictionary=["group_a", "group_b"],
    )
    score = table.column("score").to_numpy()
    mated = table.column("mated").to_numpy()
    codes = []
    for name in ("group_a", "group_b"):
        parts = []
        for chunk in table.column(name).chunks:
            lookup = np.array([GROUP_NAMES.index(v) for v in chunk.dictionary.to_pylist()])
            parts.append(lookup[chunk.indices.to_numpy()])
        codes.append(np.concatenate(parts))
    del table
    matched_group = np.where(codes[0] == codes[1], codes[0], -1)
    return score, mated, matched_group


def worker_sklearn(path: str) -> dict[str, Any]:
    """Per group, ``roc_curve`` of the matched comparisons; the point at FMR 1e-4."""
    start = time.perf_counter()
    from sklearn.metrics import roc_curve

    imported = time.perf_counter()
    score, mated, group = read_baseline_columns(path)
    read = time.perf_counter()
    rows = []
    for g, name in enumerate(GROUP_NAMES):
        in_group = group == g
        y, s = mated[in_group], score[in_group]
        fpr, tpr, thresholds = roc_curve(y, s)
        i = int(np.searchsorted(fpr, TARGET_FMR, side="right")) - 1
        rows.append({"group": name, "threshold": float(thresholds[i]), "fnmr": 1.0 - float(tpr[i])})
    done = time.perf_counter()
    return {
        "imports_s": imported - start,
        "read_s": read - imported,
        "compute_s": done - read,
        "results": rows,
    }


PAIR_COLUMNS = ["score", "subject_a", "subject_b", "mated", "group_a", "group_b"]
"""Every column of the pair table the audit reads."""


def worker_decode(path: str) -> dict[str, Any]:
    """Only decode the columns the audit reads, row group by row group, as its reader does.

    No check, no conversion, no count: a floor under any reader that looks at every row
    (the ``--intervals none --no-report`` run among them).
    """
    start = time.perf_counter()
    import pyarrow.parquet as pq

    imported = time.perf_counter()
    parquet = pq.ParquetFile(path, read_dictionary=["group_a", "group_b"])
    rows = 0
    for i in range(parquet.metadata.num_row_groups):
        rows += parquet.read_row_group(i, columns=PAIR_COLUMNS).num_rows
    return {"imports_s": imported - start, "read_s": time.perf_counter() - imported, "rows": rows}


def worker_pyeer(path: str) -> dict[str, Any]:
    """Per group, pyeer's ROC (``calculate_roc``) and its operating point at FMR 1e-4."""
    start = time.perf_counter()
    from pyeer.eer_stats import calculate_roc, get_fmr_op

    imported = time.perf_counter()
    score, mated, group = read_baseline_columns(path)
    read = time.perf_counter()
    rows = []
    for g, name in enumerate(GROUP_NAMES):
        in_group = group == g
        genuine, impostor = score[in_group & mated], score[in_group & ~mated]
        thresholds, fmr, fnmr = calculate_roc(genuine, impostor, ds_scores=False, rates=True)
        i, fnmr_at = get_fmr_op(fmr, fnmr, TARGET_FMR)
        rows.append({"group": name, "threshold": float(thresholds[i]), "fnmr": float(fnmr_at)})
    done = time.perf_counter()
    return {
        "imports_s": imported - start,
        "read_s": read - imported,
        "compute_s": done - read,
        "results": rows,
    }


def worker_products(path: str, block: int, threads: int) -> dict[str, Any]:
    """Load the ``.npy``; the float32 products of every upper-triangle block, BLAS threads."""
    start = time.perf_counter()
    x = np.load(path)
    loaded = time.perf_counter()
    n = x.shape[0]
    tile = np.empty((min(block, n), min(block, n)), dtype=np.float32)
    with blas_threads(threads) as in_effect:
        begun = time.perf_counter()
        for rows, cols in block_pairs(n, block):
            out = tile[: rows.stop - rows.start, : cols.stop - cols.start]
            np.matmul(x[rows], x[cols].T, out=out)
        done = time.perf_counter()
    return {"load_s": loaded - start, "products_s": done - begun, "blas": in_effect}


def worker_torch(path: str, block: int, device: str) -> dict[str, Any]:
    """Load the ``.npy`` onto the device; the torch float32 products of the same blocks."""
    start = time.perf_counter()
    import torch

    imported = time.perf_counter()
    x = torch.from_numpy(np.load(path)).to(device)
    if x.is_cuda:
        torch.cuda.synchronize()
    loaded = time.perf_counter()
    n = x.shape[0]
    for rows, cols in block_pairs(n, block):
        _ = x[rows] @ x[cols].T
    if x.is_cuda:
        torch.cuda.synchronize()
    done = time.perf_counter()
    return {"imports_s": imported - start, "load_s": loaded - imported, "products_s": done - loaded}


def worker_probe() -> dict[str, Any]:
    """Import the command line; the product's version and ``audit embeddings`` defaults.

    Measured, this is the cost of starting ``faceparity``: the interpreter and its imports.
    """
    start = time.perf_counter()
    import faceparity.cli  # noqa: F401
    from faceparity import __version__
    from faceparity.scoring.engine import EngineConfig
    from faceparity.workflow.request import EngineSettings

    settings = EngineSettings()
    return {
        "imports_s": time.perf_counter() - start,
        "version": __version__,
        "block": settings.block_size,
        "threads": EngineConfig().threads,
        "max_comparisons": settings.max_comparisons,
    }


WORKERS: dict[str, Callable[..., dict[str, Any]]] = {
    "write-pairs": lambda path, rows, seed: write_pairs(Path(path), rows, seed=seed),
    "write-embeddings": lambda path, n, seed: write_embeddings(Path(path), n, seed=seed),
    "probe": worker_probe,
    "sklearn": worker_sklearn,
    "decode": worker_decode,
    "pyeer": worker_pyeer,
    "products": worker_products,
    "torch": worker_torch,
}


# --- Running and reporting ----------------------------------------------------------------


class RunFailed(Exception):
    """A measured process exited with an error."""


@dataclass
class Run:
    """One measured process: wall time, CPU time and peak RSS, and what it printed.

    With repeats, ``wall_s`` and ``cpu_s`` are those of the fastest run (``walls_s`` all
    of them) and ``peak_rss_mb`` the highest peak.
    """

    label: str
    command: list[str]
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    walls_s: list[float] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "command": self.command,
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "peak_rss_mb": self.peak_rss_mb,
            "walls_s": self.walls_s,
            **self.figures,
        }


def children_cpu_s() -> float:
    """User and system CPU seconds of every child this process has waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(label: str, argv: Sequence[str], *, json_output: bool = False, repeat: int = 1) -> Run:
    """Measure ``argv`` as a whole process, ``repeat`` times; keep the fastest run.

    Wall time and peak RSS come from ``bench_memory.measure`` (``os.wait4``); CPU time
    is the growth of this process's children's usage across the run (less noisy than
    wall time on a shared machine). The command's stdout is captured, and parsed when
    it prints JSON. A child's peak RSS on Linux is at least this process's peak when it
    started it (``exec`` records the old address space's high-water mark), so this
    process keeps no data: the inputs are written by worker processes.

    Raises
    ------
    RunFailed
        When the command exits with an error.

    """
    best: Run | None = None
    walls = []
    peak = 0.0
    for attempt in range(repeat):
        suffix = f" [{attempt + 1}/{repeat}]" if repeat > 1 else ""
        progress(f"{label}{suffix}: {' '.join(argv)}  (load {load_average()})")
        cpu_before = children_cpu_s()
        m: Measurement = measure(list(argv), capture_stdout=True)
        cpu = children_cpu_s() - cpu_before
        if m.exit_code != 0:
            raise RunFailed(f"{label}: exit code {m.exit_code}: {' '.join(argv)}")
        figures: dict[str, Any] = {}
        if json_output:
            assert m.stdout is not None
            figures = json.loads(m.stdout.strip().splitlines()[-1])
        progress(f"{label}{suffix}: {m.wall_s:.2f} s, CPU {cpu:.2f} s, peak {m.peak_rss_mb:.1f} MB")
        walls.append(m.wall_s)
        peak = max(peak, m.peak_rss_mb)
        if best is None or m.wall_s < best.wall_s:
            best = Run(label, list(argv), m.wall_s, cpu, m.peak_rss_mb, figures=figures)
    assert best is not None
    best.peak_rss_mb, best.walls_s = peak, walls
    return best


@dataclass(frozen=True)
class Spec:
    """A process to measure: its label, command line and whether it prints JSON."""

    label: str
    argv: list[str]
    json_output: bool = False


def alternated(specs: Sequence[Spec], repeat: int) -> list[Run]:
    """Measure every process of ``specs`` in turn, ``repeat`` rounds; the fastest of each.

    On a shared machine the load changes from minute to minute: measured in rounds,
    each process and its baseline meet the same spells of load, where ``run`` with
    ``repeat`` would measure all of one before any of the other.
    """
    rounds = [
        [run(spec.label, spec.argv, json_output=spec.json_output) for spec in specs]
        for _ in range(max(repeat, 1))
    ]
    best = []
    for runs in zip(*rounds, strict=True):
        fastest = min(runs, key=lambda r: r.wall_s)
        fastest.walls_s = [r.wall_s for r in runs]
        fastest.peak_rss_mb = max(r.peak_rss_mb for r in runs)
        best.append(fastest)
    return best


def worker_argv(kind: str, *args: object) -> list[str]:
    """This script run as a baseline worker."""
    return [sys.executable, __file__, "--worker", kind, *(str(a) for a in args)]


@dataclass
class Target:
    """A target: its ratio, how it compares with the limit, and the verdict."""

    key: str
    ratio: float | None
    limit: float
    at_most: bool  # True: ratio <= limit passes; False: ratio >= limit passes
    detail: str
    skipped: str | None = None

    @property
    def passed(self) -> bool | None:
        if self.skipped is not None or self.ratio is None:
            return None
        return self.ratio <= self.limit if self.at_most else self.ratio >= self.limit

    def line(self) -> str:
        head = f"target {self.key}: {TARGETS[self.key]}:"
        if self.passed is None:
            return f"{head} SKIP ({self.skipped})"
        sign = "<=" if self.at_most else ">="
        verdict = "PASS" if self.passed else "FAIL"
        return f"{head} {self.ratio:.2f} (target {sign} {self.limit:g}) {verdict}; {self.detail}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "ratio": self.ratio,
            "limit": self.limit,
            "at_most": self.at_most,
            "passed": self.passed,
            "detail": self.detail,
            "skipped": self.skipped,
        }


def skipped(key: str, why: str) -> Target:
    """A target that was not measured in this run."""
    return Target(key, None, 0.0, True, "", skipped=why)


def row(run_: Run, note: str = "") -> str:
    """A table line of one run."""
    figures = f"{run_.wall_s:>9.2f}{run_.cpu_s:>8.2f}{run_.peak_rss_mb:>13.1f}"
    return f"  {run_.label:<44}{figures}  {note}".rstrip()


HEADER = f"  {'run':<44}{'wall_s':>9}{'cpu_s':>8}{'peak_rss_mb':>13}"


@dataclass
class Options:
    """What to run (the parsed command line)."""

    rows: int
    sizes: tuple[int, int]
    memory_n: int
    gpu_n: int
    sections: tuple[str, ...]
    replicates: int | None
    device: str
    seed: int
    quick: bool
    repeat: int = 1
    product: dict[str, Any] = field(default_factory=dict)
    startup: Run | None = None
    generated: dict[str, dict[str, Any]] = field(default_factory=dict)
    default_runs: dict[int, Run] = field(default_factory=dict)  # audit embeddings, by N


def generate(options: Options, kind: str, path: Path, size: int) -> dict[str, Any]:
    """Write an input file in a worker process (this process stays small; see ``run``).

    A file already written in this run (the same kind, place and size) is not written again.
    """
    key = f"{kind} {path} {size}"
    if key not in options.generated:
        argv = worker_argv(kind, path, size, options.seed)
        options.generated[key] = run(f"{kind} {size:,}", argv, json_output=True).figures
    return options.generated[key]


def faceparity_defaults(options: Options) -> list[str]:
    """Options added to every command: none, unless ``--replicates`` was given."""
    return [] if options.replicates is None else ["--replicates", str(options.replicates)]


# --- pairs ----------------------------------------------------------------------------------


def bench_pairs(options: Options, work: Path) -> tuple[list[str], dict[str, Any], list[Target]]:
    """The pair-table section: its report lines, figures and targets."""
    measured = functools.partial(run, repeat=options.repeat)
    path = work / "pairs.parquet"
    data = generate(options, "write-pairs", path, options.rows)
    out = work / "out-pairs"
    extra = faceparity_defaults(options)

    def audit(name: str, slug: str, *flags: str) -> Run:
        command = [*FACEPARITY, "audit", "pairs", str(path), *PAIR_OPTIONS]
        return measured(name, [*command, *extra, *flags, "-o", str(out / slug)])

    startup = options.startup
    assert startup is not None
    sklearn = measured(
        "(1) pyarrow + sklearn roc_curve", worker_argv("sklearn", path), json_output=True
    )
    pyeer = None
    if importlib.util.find_spec("pyeer") is not None:
        pyeer = measured("(2) pyarrow + pyeer", worker_argv("pyeer", path), json_output=True)
    default = audit("(3) faceparity defaults", "default")
    lean = audit("(4) --intervals none --no-report", "lean", *LEAN)
    no_report = audit("(5) --no-report", "no-report", "--no-report")
    no_intervals = audit("(6) --intervals none", "no-intervals", "--intervals", "none")
    read = measured(
        "reader only (as --engine auto reads)",
        [sys.executable, "-c", READ_ONLY, str(path)],
        json_output=True,
    )
    floor = measured(
        "decoding the columns, nothing else", worker_argv("decode", path), json_output=True
    )

    sk = sklearn.figures
    agreement = fnmr_agreement(sk["results"], out / "lean" / "results.json")
    bootstrap = default.wall_s - no_intervals.wall_s
    report = default.wall_s - no_report.wall_s
    audit_only = lean.wall_s - read.wall_s
    lines = [
        f"[pairs] {data['rows']:,} rows, {N_GROUPS} groups, {data['subjects']:,} subjects, "
        f"{MATED_FRACTION:.0%} mated, {MATCHED_NON_MATED_FRACTION:.0%} of the non-mated "
        f"demographically matched; Parquet {data['file_mb']:.1f} MB in {data['row_groups']} "
        f"row groups, written in {data['generation_s']:.1f} s; per-group policy, FMR "
        f"{TARGET_FMR:g}",
        f"  faceparity bootstrap replicates: {options.replicates or 'default (1000)'}",
        HEADER,
        row(startup),
        row(
            sklearn,
            f"imports {sk['imports_s']:.2f} s, read {sk['read_s']:.2f} s, "
            f"roc_curve {sk['compute_s']:.2f} s",
        ),
    ]
    if pyeer is not None:
        lines.append(
            row(
                pyeer,
                f"read {pyeer.figures['read_s']:.2f} s, calculate_roc "
                f"{pyeer.figures['compute_s']:.2f} s",
            )
        )
    else:
        lines.append(f"  {'(2) pyarrow + pyeer':<44}{PYEER_MISSING}")
    lines += [
        row(default),
        row(lean),
        row(no_report),
        row(no_intervals),
        row(
            read,
            f"imports {read.figures['imports_s']:.2f} s, {read.figures['reader']} "
            f"{read.figures['read_s']:.2f} s",
        ),
        row(
            floor,
            f"imports {floor.figures['imports_s']:.2f} s, read {floor.figures['read_s']:.2f} s",
        ),
        "  breakdown of (3):",
        f"    read (reader-only process, start and imports included) {read.wall_s:8.2f} s",
        f"    audit, no intervals, no report: (4) - read             {audit_only:8.2f} s",
        f"    bootstrap: (3) - (6)                                    {bootstrap:8.2f} s",
        f"    report: (3) - (5)                                       {report:8.2f} s",
        f"    rest: (3) - (4) - bootstrap - report                    "
        f"{default.wall_s - lean.wall_s - bootstrap - report:8.2f} s",
        f"    report without intervals: (6) - (4)                     "
        f"{no_intervals.wall_s - lean.wall_s:8.2f} s",
        f"  CPU seconds: bootstrap {default.cpu_s - no_intervals.cpu_s:.2f}, report "
        f"{default.cpu_s - no_report.cpu_s:.2f}, report without intervals "
        f"{no_intervals.cpu_s - lean.cpu_s:.2f} (less noisy than wall time on a shared machine)",
        f"  same work: FNMR at FMR {TARGET_FMR:g}, sklearn (1) and faceparity (4), equal in "
        f"{agreement['equal']} of {agreement['groups']} groups (largest difference "
        f"{agreement['max_difference']:.2e})",
    ]
    if pyeer is not None:
        lines.append(
            f"  against pyeer (2): (3) / (2) {default.wall_s / pyeer.wall_s:.2f}, "
            f"(2) / (4) {pyeer.wall_s / lean.wall_s:.2f}, peak (3) / (2) "
            f"{default.peak_rss_mb / pyeer.peak_rss_mb:.2f}"
        )
    targets = [
        Target(
            "pairs_time",
            default.wall_s / sklearn.wall_s,
            TARGET_PAIRS_TIME,
            True,
            f"(3) {default.wall_s:.2f} s / (1) {sklearn.wall_s:.2f} s",
        ),
        Target(
            "pairs_memory",
            default.peak_rss_mb / sklearn.peak_rss_mb,
            TARGET_PAIRS_MEMORY,
            True,
            f"(3) {default.peak_rss_mb:.0f} MB / (1) {sklearn.peak_rss_mb:.0f} MB",
        ),
        Target(
            "pairs_lean_speedup",
            sklearn.wall_s / lean.wall_s,
            TARGET_PAIRS_LEAN_SPEEDUP,
            False,
            f"(1) {sklearn.wall_s:.2f} s / (4) {lean.wall_s:.2f} s; a process that only decodes "
            f"the columns the audit reads takes {floor.wall_s:.2f} s "
            f"((1) / decoding {sklearn.wall_s / floor.wall_s:.1f})",
        ),
    ]
    figures = {
        "data": data,
        "runs": {
            key: r.as_dict()
            for key, r in (
                ("startup", startup),
                ("sklearn", sklearn),
                ("pyeer", pyeer),
                ("default", default),
                ("lean", lean),
                ("no_report", no_report),
                ("no_intervals", no_intervals),
                ("read", read),
                ("decode", floor),
            )
            if r is not None
        },
        "agreement": agreement,
        "breakdown_s": {
            "read": read.wall_s,
            "audit": audit_only,
            "bootstrap": bootstrap,
            "report": report,
        },
    }
    return lines, figures, targets


def fnmr_agreement(baseline: list[dict[str, Any]], results_json: Path) -> dict[str, Any]:
    """Per group, the baseline's FNMR at the target against the one in ``results.json``.

    Equal within 1e-12: the same comparisons were counted. ``roc_curve`` drops points
    inside runs of non-mated scores (``drop_intermediate``), which can move its point a
    few false matches down at the same FNMR, so FNMR is what is compared.
    """
    result = json.loads(results_json.read_text())
    ours = {g["label"]: g["fnmr"] for g in result["operating_points"][0]["groups"]}
    differences = [abs(ours[r["group"]] - r["fnmr"]) for r in baseline if r["group"] in ours]
    return {
        "groups": len(baseline),
        "equal": sum(d <= 1e-12 for d in differences),
        "max_difference": max(differences, default=float("nan")),
    }


# --- embeddings, memory, gpu -----------------------------------------------------------------


def embeddings_command(directory: Path, out: Path, *flags: str) -> list[str]:
    """``faceparity audit embeddings`` on the files of ``write_embeddings``."""
    return [
        *FACEPARITY,
        "audit",
        "embeddings",
        str(directory / "embeddings.npy"),
        "--metadata",
        str(directory / "metadata.csv"),
        *EMBEDDING_OPTIONS,
        *flags,
        "-o",
        str(out),
    ]


def engine_chosen(comparisons: int, max_comparisons: int) -> str:
    """Which engine ``--engine auto`` takes for this many comparisons."""
    return "exact" if comparisons <= max_comparisons else "stream"


def bench_embeddings(
    options: Options, work: Path
) -> tuple[list[str], dict[str, Any], list[Target]]:
    """The embeddings section at both sizes: report lines, figures, targets.

    With ``--repeat``, the runs of a size are measured in rounds (:func:`alternated`).
    """
    block, threads = options.product["block"], options.product["threads"]
    max_comparisons = options.product["max_comparisons"]
    extra = faceparity_defaults(options)
    lines: list[str] = []
    figures: dict[str, Any] = {"block": block, "threads": threads, "sizes": {}}
    targets = []
    for key, n, limit in zip(
        ("embeddings_large", "embeddings_small"), options.sizes, TARGET_EMBEDDINGS, strict=True
    ):
        directory = work / f"embeddings-{n}"
        directory.mkdir(exist_ok=True)
        data = generate(options, "write-embeddings", directory, n)
        npy = directory / "embeddings.npy"
        products, default, no_report, lean, read = alternated(
            [
                Spec(
                    f"bare numpy products, N={n:,}",
                    worker_argv("products", npy, block, threads),
                    json_output=True,
                ),
                Spec(
                    f"faceparity defaults, N={n:,}",
                    embeddings_command(directory, directory / "out-default", *extra),
                ),
                Spec(
                    f"--no-report, N={n:,}",
                    embeddings_command(
                        directory, directory / "out-no-report", *extra, "--no-report"
                    ),
                ),
                Spec(
                    f"--intervals none --no-report, N={n:,}",
                    embeddings_command(directory, directory / "out-lean", *extra, *LEAN),
                ),
                Spec(
                    f"reader only (load_embeddings), N={n:,}",
                    [
                        sys.executable,
                        "-c",
                        READ_EMBEDDINGS,
                        str(npy),
                        str(directory / "metadata.csv"),
                    ],
                    json_output=True,
                ),
            ],
            options.repeat,
        )
        options.default_runs[n] = default
        engine = engine_chosen(data["comparisons"], max_comparisons)
        parts = breakdown(read, lean, no_report, default)
        lines += [
            f"[embeddings] N={n:,} x {DIM} float32 ({data['file_mb']:.0f} MB .npy), "
            f"{data['subjects']:,} subjects, {data['comparisons']:,} comparisons "
            f"(--engine auto takes {engine}), 2 groups (sex); written in "
            f"{data['generation_s']:.1f} s; block {block}, {threads} threads",
            HEADER,
            row(
                products,
                f"load {products.figures['load_s']:.2f} s, products "
                f"{products.figures['products_s']:.2f} s ({products.figures['blas']})",
            ),
            row(default),
            row(no_report),
            row(lean),
            row(
                read,
                f"imports {read.figures['imports_s']:.2f} s, read {read.figures['read_s']:.2f} s",
            ),
            f"  breakdown of the default run ({default.wall_s:.2f} s), by differences of the "
            "runs above:",
            *(f"    {name:<58}{seconds:8.2f} s" for name, seconds in parts.items()),
            f"  in CPU seconds: reader process {read.cpu_s:.2f}, score "
            f"{lean.cpu_s - read.cpu_s:.2f}, bootstrap {no_report.cpu_s - lean.cpu_s:.2f}, "
            f"report {default.cpu_s - no_report.cpu_s:.2f}",
            f"  defaults / bare products {default.wall_s / products.wall_s:.2f}; lean / bare "
            f"products {lean.wall_s / products.wall_s:.2f}; defaults / the products' own time "
            f"in the bare process {default.wall_s / products.figures['products_s']:.2f}",
        ]
        targets.append(
            Target(
                key,
                default.wall_s / products.wall_s,
                limit,
                True,
                f"defaults {default.wall_s:.2f} s / bare products {products.wall_s:.2f} s "
                f"at N={n:,} (CPU seconds {default.cpu_s:.2f} / {products.cpu_s:.2f} = "
                f"{default.cpu_s / products.cpu_s:.2f}, less moved by a busy machine)",
            )
        )
        figures["sizes"][str(n)] = {
            "data": data,
            "engine": engine,
            "runs": {
                "products": products.as_dict(),
                "default": default.as_dict(),
                "no_report": no_report.as_dict(),
                "lean": lean.as_dict(),
                "read": read.as_dict(),
            },
            "breakdown_s": parts,
        }
    return lines, figures, targets


def breakdown(read: Run, lean: Run, no_report: Run, default: Run) -> dict[str, float]:
    """The default run's wall time in parts that add up to it, from whole processes.

    start: the reader's process less its reading (interpreter, imports); read: the
    reading (``load_embeddings``); score: the lean run (``--intervals none
    --no-report``) less the reader's process (the engine, the audit, results.json and
    the imports beyond the reader's); bootstrap: ``--no-report`` less lean; report:
    defaults less ``--no-report``.
    """
    read_s = float(read.figures["read_s"])
    return {
        "start (interpreter, imports: reader process - read)": read.wall_s - read_s,
        "read (load_embeddings)": read_s,
        "score (lean - reader process: engine, audit, results.json)": lean.wall_s - read.wall_s,
        "bootstrap (--no-report - lean)": no_report.wall_s - lean.wall_s,
        "report (defaults - --no-report)": default.wall_s - no_report.wall_s,
    }


def bench_memory(options: Options, work: Path) -> tuple[list[str], dict[str, Any], list[Target]]:
    """Peak RSS of the default ``audit embeddings`` at ``options.memory_n``."""
    measured = functools.partial(run, repeat=options.repeat)
    n = options.memory_n
    directory = work / f"embeddings-{n}"
    directory.mkdir(exist_ok=True)
    data = generate(options, "write-embeddings", directory, n)
    default = options.default_runs.get(n)
    note = "the default run of the embeddings section" if default is not None else ""
    if default is None:
        default = measured(
            f"faceparity defaults, N={n:,}",
            embeddings_command(directory, directory / "out-memory", *faceparity_defaults(options)),
        )
    lines = [
        f"[memory] N={n:,} x {DIM} float32 (the embeddings alone {data['file_mb']:.0f} MB), "
        f"{data['comparisons']:,} comparisons",
        HEADER,
        row(default, note),
    ]
    target = Target(
        "memory",
        default.peak_rss_mb / TARGET_MEMORY_MB,
        1.0,
        True,
        f"peak {default.peak_rss_mb:.0f} MB / {TARGET_MEMORY_MB:.0f} MB at N={n:,}",
    )
    return lines, {"data": data, "default": default.as_dict()}, [target]


def bench_gpu(options: Options, work: Path) -> tuple[list[str], dict[str, Any], list[Target]]:
    """``--backend torch --device cuda`` at ``options.gpu_n`` against the bare torch products."""
    measured = functools.partial(run, repeat=options.repeat)
    cuda = run("does torch see CUDA", [sys.executable, "-c", CUDA_CHECK], json_output=True)
    if options.device.startswith("cuda") and not cuda.figures["cuda"]:
        return [f"[gpu] {NO_CUDA}"], {"skipped": NO_CUDA}, [skipped("gpu", NO_CUDA)]
    block = options.product["block"]
    n = options.gpu_n
    directory = work / f"embeddings-{n}"
    directory.mkdir(exist_ok=True)
    data = generate(options, "write-embeddings", directory, n)
    products = measured(
        f"bare torch products, N={n:,}",
        worker_argv("torch", directory / "embeddings.npy", block, options.device),
        json_output=True,
    )
    bare = products.figures
    flags = ["--backend", "torch", "--device", options.device, *faceparity_defaults(options)]
    default = measured(
        f"faceparity --backend torch, N={n:,}",
        embeddings_command(directory, directory / "out-gpu", *flags),
    )
    lines = [
        f"[gpu] N={n:,} x {DIM} float32, {data['comparisons']:,} comparisons (--engine auto "
        f"takes {engine_chosen(data['comparisons'], options.product['max_comparisons'])}), "
        f"device {options.device}, block {block}",
        HEADER,
        row(
            products,
            f"imports {bare['imports_s']:.2f} s, load {bare['load_s']:.2f} s, "
            f"products {bare['products_s']:.2f} s",
        ),
        row(default),
        f"  defaults / bare torch products {default.wall_s / products.wall_s:.2f}",
    ]
    target = Target(
        "gpu",
        default.wall_s / TARGET_GPU_S,
        1.0,
        True,
        f"{default.wall_s:.2f} s / {TARGET_GPU_S:g} s at N={n:,} (bare torch products "
        f"{products.wall_s:.2f} s)",
    )
    figures = {"data": data, "products": products.as_dict(), "default": default.as_dict()}
    return lines, figures, [target]


BENCHES = {
    "pairs": bench_pairs,
    "embeddings": bench_embeddings,
    "memory": bench_memory,
    "gpu": bench_gpu,
}
NOT_ASKED = {
    "pairs": ("pairs_time", "pairs_memory", "pairs_lean_speedup"),
    "embeddings": ("embeddings_large", "embeddings_small"),
    "memory": ("memory",),
    "gpu": ("gpu",),
}
WHY_NOT = {
    "pairs": "not asked for",
    "embeddings": "not asked for",
    "memory": "not asked for (--with-memory)",
    "gpu": "not asked for (--gpu)",
}


# --- Command line ----------------------------------------------------------------------------


def count(text: str) -> int:
    """A whole number of at least 2, written as ``50000000``, ``5e7`` or ``5e+07``."""
    value = float(text)
    if value != int(value) or value < 2:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 2, got {text!r}")
    return int(value)


def two_sizes(text: str) -> tuple[int, int]:
    """``LARGE,SMALL``: the two embedding sizes."""
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected two sizes, LARGE,SMALL; got {text!r}")
    first, second = (count(p) for p in parts)
    return first, second


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, Options]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for development")
    parser.add_argument("--rows", type=count, help=f"pair table rows S (default {FULL_ROWS:.0e})")
    parser.add_argument(
        "--n", type=two_sizes, help="embedding sizes LARGE,SMALL (default 64000,20000)"
    )
    parser.add_argument("--memory-n", type=count, help="size of the memory section (200000)")
    parser.add_argument("--gpu-n", type=count, help="size of the GPU section (1000000)")
    parser.add_argument("--device", default="cuda", help="torch device of the GPU section")
    parser.add_argument(
        "--replicates",
        type=int,
        help="pass --replicates to every faceparity run (default: the product's default)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run every measured process this many times; keep the fastest (default 1)",
    )
    parser.add_argument("--only", choices=SECTIONS, help="run one section")
    parser.add_argument("--with-memory", action="store_true", help="add the memory section")
    parser.add_argument("--gpu", action="store_true", help="add the GPU section")
    parser.add_argument("--keep", type=Path, help="write the files here and keep them")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--json-out", type=Path, help="also write the figures as one JSON object to this file"
    )
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    ns = parser.parse_args(argv)
    if ns.only is not None:
        sections: tuple[str, ...] = (ns.only,)
    else:
        sections = tuple(
            s
            for s in SECTIONS
            if s in ("pairs", "embeddings")
            or (s == "memory" and ns.with_memory)
            or (s == "gpu" and ns.gpu)
        )
    options = Options(
        rows=ns.rows or (QUICK_ROWS if ns.quick else FULL_ROWS),
        sizes=ns.n or (QUICK_N if ns.quick else FULL_N),
        memory_n=ns.memory_n or (QUICK_MEMORY_N if ns.quick else FULL_MEMORY_N),
        gpu_n=ns.gpu_n or (QUICK_GPU_N if ns.quick else FULL_GPU_N),
        sections=sections,
        replicates=ns.replicates,
        device=ns.device,
        seed=ns.seed,
        quick=ns.quick,
        repeat=max(ns.repeat, 1),
    )
    return ns, options


def own_peak_mb() -> float:
    """Peak RSS of this process so far, in MB (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    unit = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit / 1e6


def main(argv: Sequence[str] | None = None) -> int:
    ns, options = parse_args(argv)
    if ns.worker is not None:
        kind, *args = ns.worker
        typed = [int(a) if a.isdigit() else a for a in args]
        print(json.dumps(WORKERS[kind](*typed)))
        return 0

    env: dict[str, Any] = {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "load_average_before": load_average(),
    }
    try:
        probe = run(STARTUP_LABEL, worker_argv("probe"), json_output=True, repeat=options.repeat)
    except RunFailed as err:
        print(f"bench_product: {err}", file=sys.stderr)
        return 1
    options.product, options.startup = probe.figures, probe
    env["faceparity"] = probe.figures["version"]
    if ns.keep is not None:
        ns.keep.mkdir(parents=True, exist_ok=True)
        work = ns.keep
    else:
        work = Path(tempfile.mkdtemp(prefix="bench_product-"))
    lines = [
        f"bench_product: faceparity {env['faceparity']}, python {env['python']}, numpy "
        f"{env['numpy']}, {env['cpus']} CPUs, load average {env['load_average_before']} at the "
        f"start; {'--quick sizes' if options.quick else 'full sizes'}; files in {work}",
        "wall_s and peak_rss_mb: whole processes (start, imports, reading, work, outputs), "
        "os.wait4",
    ]
    figures: dict[str, Any] = {
        "environment": env,
        "options": {
            k: v
            for k, v in vars(options).items()
            if k not in ("startup", "generated", "default_runs")
        },
        "startup": probe.as_dict(),
        "sections": {},
    }
    targets: list[Target] = []
    failed = None
    try:
        for section in SECTIONS:
            if section not in options.sections:
                why = WHY_NOT[section] if ns.only is None else "not asked for (--only)"
                targets += [skipped(key, why) for key in NOT_ASKED[section]]
                continue
            section_lines, section_figures, section_targets = BENCHES[section](options, work)
            lines += ["", *section_lines]
            figures["sections"][section] = section_figures
            targets += section_targets
    except RunFailed as err:
        failed = str(err)
    finally:
        if ns.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    figures["environment"]["load_average_after"] = load_average()
    env["parent_peak_mb"] = own_peak_mb()
    lines.append(
        f"(this process peaked at {env['parent_peak_mb']:.0f} MB: on Linux, a floor under the "
        "peak RSS of every process it starts)"
    )
    targets.sort(key=lambda t: list(TARGETS).index(t.key))
    lines += ["", f"targets (load average {load_average()} at the end):"]
    lines += [t.line() for t in targets]
    figures["targets"] = {t.key: t.as_dict() for t in targets}
    if failed is not None:
        figures["failed"] = failed
        lines.append(f"FAILED RUN: {failed}")
    print(json.dumps(figures) if ns.json else "\n".join(lines))
    if ns.json_out is not None:
        ns.json_out.write_text(json.dumps(figures, indent=1) + "\n")
    if failed is not None:
        print(f"bench_product: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
