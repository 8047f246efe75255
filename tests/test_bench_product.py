"""benchmarks/bench_product.py runs end to end at tiny sizes (not its targets)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("pyarrow")

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "bench_product.py"
TINY = [
    "--rows", "5000", "--n", "600,400", "--memory-n", "600",
    "--replicates", "10", "--with-memory",
]  # fmt: skip


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_product", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_product"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The script at tiny sizes, its files kept to look at."""
    keep = tmp_path_factory.mktemp("bench_product")
    env = dict(os.environ)
    src = str(Path(__file__).parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            *TINY,
            "--keep",
            str(keep),
            "--json-out",
            str(keep / "figures.json"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    return done, keep


def test_every_target_gets_one_line_with_a_verdict(
    tiny_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, _ = tiny_run
    assert done.returncode == 0, done.stderr[-3000:]
    bench = _load()
    lines = [line for line in done.stdout.splitlines() if line.startswith("target ")]
    assert [line.split(":")[0].removeprefix("target ") for line in lines] == list(bench.TARGETS)
    for line in lines:
        key = line.split(":")[0].removeprefix("target ")
        if key == "gpu":  # not asked for: torch's import alone would take seconds
            assert line.endswith("SKIP (not asked for (--gpu))"), line
            continue
        assert re.search(r": \d+\.\d\d \(target (<=|>=) [\d.]+\) (PASS|FAIL); ", line), line


def test_every_run_is_reported_with_its_figures(
    tiny_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, keep = tiny_run
    out = done.stdout
    for label in (
        "(1) pyarrow + sklearn roc_curve",
        "(2) pyarrow + pyeer",
        "(3) faceparity defaults",
        "(4) --intervals none --no-report",
        "(5) --no-report",
        "(6) --intervals none",
        "reader only (as --engine auto reads)",
        "decoding the columns, nothing else",
        "bare numpy products, N=600",
        "faceparity defaults, N=400",
        "--no-report, N=400",
        "reader only (load_embeddings), N=600",
        "read (load_embeddings)",
        "bootstrap (--no-report - lean)",
        "report (defaults - --no-report)",
        "bootstrap: (3) - (6)",
        "report: (3) - (5)",
    ):
        assert label in out
    assert "[pairs] 5,000 rows, 8 groups" in out
    # The default runs wrote the report; the lean ones did not.
    assert (keep / "out-pairs" / "default" / "report.html").is_file()
    assert not (keep / "out-pairs" / "lean" / "report.html").exists()
    assert (keep / "embeddings-600" / "out-default" / "report.html").is_file()
    assert not (keep / "embeddings-600" / "out-no-report" / "report.html").exists()
    assert (keep / "embeddings-600" / "out-no-report" / "results.json").is_file()


def test_generated_pair_table_is_what_audit_pairs_reads(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    bench = _load()
    path = tmp_path / "pairs.parquet"
    data = bench.write_pairs(path, 3000, seed=1)
    table = pq.read_table(path)
    assert table.num_rows == 3000 and data["rows"] == 3000
    assert table.column_names == ["score", "subject_a", "subject_b", "mated", "group_a", "group_b"]
    frame = table.to_pandas()
    assert (frame["mated"] == (frame["subject_a"] == frame["subject_b"])).all()
    mated = frame[frame["mated"]]
    assert (mated["group_a"] == mated["group_b"]).all()
    assert set(frame["group_a"]) <= set(bench.GROUP_NAMES)
    # Half of the non-mated comparisons are demographically matched.
    non_mated = frame[~frame["mated"]]
    matched = (non_mated["group_a"] == non_mated["group_b"]).mean()
    assert 0.45 < matched < 0.55


def test_json_figures_hold_every_target_and_run(
    tiny_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, keep = tiny_run
    bench = _load()
    figures = json.loads((keep / "figures.json").read_text())
    assert list(figures["targets"]) == list(bench.TARGETS)
    pairs = figures["sections"]["pairs"]
    time_target = figures["targets"]["pairs_time"]
    runs = pairs["runs"]
    assert time_target["ratio"] == pytest.approx(
        runs["default"]["wall_s"] / runs["sklearn"]["wall_s"]
    )
    assert all("--replicates" in runs[k]["command"] for k in ("default", "lean"))
    assert runs["decode"]["rows"] == 5_000  # every row of every column decoded
    assert "only decodes" in figures["targets"]["pairs_lean_speedup"]["detail"]
    # sklearn and faceparity found the same FNMR in every group: the same work was timed.
    assert pairs["agreement"]["equal"] == pairs["agreement"]["groups"] == 8
    memory = figures["targets"]["memory"]
    peak = figures["sections"]["memory"]["default"]["peak_rss_mb"]
    assert memory["ratio"] == pytest.approx(peak / bench.TARGET_MEMORY_MB)
