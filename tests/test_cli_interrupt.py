"""Ctrl-C sent to a real ``python -m faceparity.cli`` process at several moments.

Whenever it arrives (while Python imports the libraries, while the audit runs, while
the report is drawn, while the files are moved into place, after), the process ends
with exit 130 and a last line that says whether every output was written or none, and
the output folder holds all the outputs or none of them (exit 0 when the run was over
before the signal). Never a traceback, never a run that carries on.

The runs are bounded: a small pairs table, 50 bootstrap replicates, six processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import faceparity

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="SIGINT cannot be sent to another process on Windows"
)

SRC = Path(faceparity.__file__).resolve().parents[1]
OUTPUTS = ["report.html", "results.json"]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150 subjects in two groups, three mated and about 130 non-mated pairs each."""
    rng = np.random.default_rng(0)
    n = 150
    sex = np.where(np.arange(n) < n // 2, "F", "M")
    rows = ["id1,id2,label,score,g1,g2"]
    for i in range(n):
        rows += [f"s{i},s{i},1,{rng.normal(0.7, 0.1):.4f},{sex[i]},{sex[i]}"] * 3
    for a, b in rng.integers(0, n, size=(20_000, 2)):
        if a != b:
            rows.append(f"s{a},s{b},0,{rng.normal(0.2, 0.1):.4f},{sex[a]},{sex[b]}")
    path = tmp_path_factory.mktemp("interrupt") / "pairs.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _start(pairs: Path, out: Path) -> subprocess.Popen[str]:
    args = ["audit", "pairs", str(pairs), "--score", "score", "--score-kind", "similarity"]
    args += ["--mated", "label", "--subjects", "id1,id2", "--attribute", "sex=g1,g2"]
    args += ["--group-by", "sex", "--fmr", "1e-2", "--replicates", "50", "-o", str(out)]
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.Popen(
        [sys.executable, "-m", "faceparity.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _interrupt(pairs: Path, out: Path, *, after: str | None, delay: float) -> tuple[int, str]:
    """Start a run, send SIGINT ``delay`` s after the start or after a line saying ``after``."""
    process = _start(pairs, out)
    assert process.stderr is not None
    said = ""
    if after is not None:
        for line in process.stderr:
            said += line
            if after in line:
                break
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=120)
    return process.returncode, said + rest


def _assert_all_or_nothing(code: int, said: str, out: Path) -> str:
    """The outcome ("none", "all", "finished") after checking files, exit code and message."""
    assert "Traceback" not in said and "Exception ignored" not in said, said
    found = sorted(str(p.relative_to(out)) for p in out.rglob("*")) if out.exists() else []
    if code == 0:
        assert found == OUTPUTS, said
        return "finished"
    assert code == 130, said
    last = said.strip().splitlines()[-1]
    if found:
        assert found == OUTPUTS, said
        written = ", ".join(str(out / name) for name in ("results.json", "report.html"))
        assert last == f"interrupted; every output was written: {written}", said
        return "all"
    assert last == "interrupted; nothing was written", said
    assert not out.exists(), said  # the folder it made is gone too
    return "none"


@pytest.mark.parametrize(
    ("after", "delay"),
    [
        (None, 0.2),  # Python is importing numpy, pandas, scipy
        (None, 0.6),
        (None, 1.2),
        (None, 2.5),
        ("note: the input names no samples", 0.0),  # the report is being drawn
        ("wrote", 0.0),  # the files are being moved into place
    ],
    ids=["0.2s", "0.6s", "1.2s", "2.5s", "drawing", "committing"],
)
def test_ctrl_c_at_any_moment_gives_all_outputs_or_none_and_says_which(
    pairs: Path, tmp_path: Path, after: str | None, delay: float
) -> None:
    out = tmp_path / "out"
    code, said = _interrupt(pairs, out, after=after, delay=delay)
    outcome = _assert_all_or_nothing(code, said, out)
    if after is None and delay <= 0.6:
        assert outcome == "none"  # so early, no run is anywhere near its end


SPY_FIRST_WATCH = """
import sys, _signal
real = _signal.signal
def spy(signum, handler):
    if signum == _signal.SIGINT and not hasattr(spy, "seen"):
        spy.seen = True
        loaded = sorted(m for m in ("enum", "functools", "signal", "click") if m in sys.modules)
        sys.stderr.write(f"first SIGINT watch with {loaded} loaded\\n")
    return real(signum, handler)
_signal.signal = spy
sys.argv = ["faceparity", "--version"]
from faceparity.cli import run
run()
"""


def test_ctrl_c_is_watched_before_the_program_imports_a_python_module() -> None:
    # `signal` (with enum and functools) took 10 ms to import before the first watch:
    # a Ctrl-C then was a KeyboardInterrupt traceback
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", SPY_FIRST_WATCH], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("first SIGINT watch with [] loaded\n"), done.stderr
