"""Hostile results files: every command that reads one refuses it cleanly or handles it.

The golden results files (``sex.json``, ``sex_involving.json``, ``ident_sex.json``) and
the golden audit with an acquisition section are mutated one change at a time: at every
value and container, a value of the wrong type (text, ``true``, a list, an object,
``null``; other text in place of text), ``NaN``, ``Infinity``, a negative number, a huge
number (``1e308``, and ``10**400`` for an integer), the key or list item deleted, an
unknown key added, the value nested 10,000 deep; and the whole file truncated. Each
mutated file is read by ``report``, ``compare`` (against the unmutated file), ``check``
and ``plan --from``, in-process with click's ``CliRunner``, and each run must

* exit 0, 1 (``check`` only: a limit is violated) or 2, never "internal error";
* on exit 2, name the mutated file and, for a mutated value, its JSON key path (or
  that of the object or list holding it);
* on exit 0, write outputs that parse (JSON strictly, without ``NaN``; HTML that
  closes; UTF-8 text);
* on any other exit, write nothing; and never change the input file.

By default a fixed-seed sample of the cases runs: ``SAMPLE`` per command, as many of
each kind of mutation, and ``report`` builds every chart but with matplotlib's drawing
of the SVG replaced by an empty SVG (the slow part), so that the file runs in under a
minute on two cores. Every case, with the charts drawn, runs with::

    FACEPARITY_MUTATIONS=all python -m pytest tests/test_results_mutation.py

and ``FACEPARITY_MUTATIONS=N`` runs a sample of ``N`` cases per command.
"""

from __future__ import annotations

import hashlib
import html.parser
import json
import math
import os
import random
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from markupsafe import Markup

from faceparity import cli

GOLDEN = Path(__file__).parent / "golden"
SEED = 20240917
SAMPLE = {"report": 300, "compare": 450, "check": 450, "plan": 450}
"""Cases per command in a normal run."""
_SETTING = os.environ.get("FACEPARITY_MUTATIONS", "")
FULL = _SETTING == "all"
DEEP = 10_000
PLACEHOLDER = "\x00deep\x00"

# Limits of the operating points each file has (``limits_sex.toml`` for sex.json).
LIMITS_OTHER = """\
[[limit]]
target_fmr = 0.1
measure = "fmr.max_geomean"
max = 3.0

[[limit]]
target_fmr = 0.1
rate = "fnmr"
max = 0.25

[[limit]]
target_fmr = 0.1
rate = "fmr"
groups = ["F", "overall"]
max = 0.5
interval = "bound"
"""

KeyPath = tuple[str | int, ...]


def _acquisition_text() -> str:
    """The golden audit with an acquisition section (failures of ten images by sex)."""
    from faceparity.acquisition import acquisition_by_group, with_acquisition
    from faceparity.results import AuditResult

    status = ["enrolled"] * 2 + ["failure_to_acquire", "failure_to_enrol"] + ["enrolled"] * 4
    status += ["failure_to_enrol", "failure_to_acquire"]
    reasons = ["" if s == "enrolled" else "no face found" for s in status]
    subjects = ["a", "a", "b", "b", "c", "d", "d", "e", "e", "f"]
    sex = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, -1], dtype=np.int32)
    acq = acquisition_by_group(
        status, reasons, subjects, {"sex": sex}, {"sex": ("F", "M")}, ["sex"],
        pipeline={
            "detector": "scrfd", "model": "models/m.onnx", "model_digest": "ab" * 32,
            "spec": {"size": 112, "mean": [127.5, 127.5, 127.5]},
            "quality_limits": {"min_face": 20, "max_yaw": None}, "skin_tone": True,
        },
        replicates=20, seed=3,
    )  # fmt: skip
    audit = AuditResult.read_json(GOLDEN / "sex.json")
    return with_acquisition(audit, acq).to_json()


SOURCES: dict[str, Callable[[], str]] = {
    "sex.json": lambda: (GOLDEN / "sex.json").read_text(encoding="utf-8"),
    "sex_involving.json": lambda: (GOLDEN / "sex_involving.json").read_text(encoding="utf-8"),
    "ident_sex.json": lambda: (GOLDEN / "ident_sex.json").read_text(encoding="utf-8"),
    "acquisition.json": _acquisition_text,
}


def json_path(path: KeyPath) -> str:
    """The key path as the reader writes it: ``operating_points[0].summary.fmr``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _nodes(value: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, Any]]:
    """Every value and container of a JSON document, root first."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _nodes(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _nodes(item, (*path, i))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _replacements(value: Any) -> dict[str, Any]:
    """The values put in place of ``value``, by the name of the mutation."""
    out: dict[str, Any] = {}
    out["str"] = "mutant" if value != "mutant" else "other"
    if not isinstance(value, bool):
        out["bool"] = True
    if not isinstance(value, list):
        out["list"] = [1]
    if not isinstance(value, dict):
        out["dict"] = {}
    if value is not None:
        out["null"] = None
    if _is_number(value) or value is None:
        out["nan"] = math.nan
        out["inf"] = math.inf
        out["-inf"] = -math.inf
        out["huge"] = 1e308
    if _is_number(value):
        out["negative"] = -abs(value) - 1
    if isinstance(value, int) and not isinstance(value, bool):
        out["huge_int"] = 10**400
    out["deep"] = PLACEHOLDER
    return out


@dataclass(frozen=True)
class Case:
    """One mutation of one source: ``path`` is None for a change of the whole text."""

    source: str
    kind: str
    path: KeyPath | None = None
    cut: int | None = None

    @property
    def id(self) -> str:
        where = json_path(self.path) if self.path is not None else f"at {self.cut}"
        return f"{self.source}:{where or '<root>'}:{self.kind}"

    def text(self, original: str) -> str:
        """The mutated file's text."""
        if self.cut is not None:
            return original[: self.cut]
        assert self.path is not None
        data = json.loads(original)
        if self.kind in ("delete", "unknown_key"):
            if self.kind == "unknown_key":
                _at(data, self.path)["mutant_key"] = 1
            else:
                *parent, last = self.path
                del _at(data, tuple(parent))[last]
        else:
            value = _replacements(_at(data, self.path))[self.kind]
            if not self.path:
                data = value
            else:
                *parent, last = self.path
                _at(data, tuple(parent))[last] = value
        text = json.dumps(data, indent=2, allow_nan=True)
        return text.replace(json.dumps(PLACEHOLDER), "[" * DEEP + "]" * DEEP)


def _at(data: Any, path: KeyPath) -> Any:
    for part in path:
        data = data[part]
    return data


_TEXTS: dict[str, str] = {}


def _original(source: str) -> str:
    if source not in _TEXTS:
        _TEXTS[source] = SOURCES[source]()
    return _TEXTS[source]


def _cases(source: str, text: str) -> list[Case]:
    cases = []
    for path, value in _nodes(json.loads(text)):
        cases.extend(Case(source, kind, path) for kind in _replacements(value))
        if path:
            cases.append(Case(source, "delete", path))
        if isinstance(value, dict):
            cases.append(Case(source, "unknown_key", path))
    rng = random.Random(f"{SEED}:{source}")
    cuts = {0, 1, len(text) // 2, len(text) - 2, *rng.sample(range(len(text)), 4)}
    cases.extend(Case(source, "truncate", cut=c) for c in sorted(cuts))
    return cases


def _selected(command: str) -> list[Case]:
    sources = list(SOURCES)
    if command == "check":
        sources = [s for s in sources if s != "acquisition.json"]
    everything = [c for s in sources for c in _cases(s, _original(s))]
    if FULL:
        return everything
    n = int(_SETTING) if _SETTING.isdigit() else SAMPLE[command]
    rng = random.Random(f"{SEED}:{command}")
    by_kind: dict[str, list[Case]] = {}
    for case in everything:
        by_kind.setdefault(case.kind, []).append(case)
    for cases in by_kind.values():
        rng.shuffle(cases)
    # as many of every kind of mutation, in turn, until n are chosen
    chosen: list[Case] = []
    while len(chosen) < min(n, len(everything)):
        for cases in by_kind.values():
            if cases and len(chosen) < n:
                chosen.append(cases.pop())
    return chosen


def _params(command: str) -> list[Any]:
    return [pytest.param(c, id=c.id) for c in _selected(command)]


class _Html(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def handle_endtag(self, tag: str) -> None:
        self.closed = self.closed or tag == "html"


def _strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} in JSON output")

    return json.loads(text, parse_constant=refuse)


def _parses(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.strip(), f"{path.name} is empty"
    if path.suffix == ".json":
        _strict_json(text)
    elif path.suffix == ".html":
        parser = _Html()
        parser.feed(text)
        parser.close()
        assert parser.closed, f"{path.name}: no </html>"


@pytest.fixture(autouse=True)
def _quick_charts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Build every chart but leave out matplotlib's drawing of the SVG (unless all run)."""
    if FULL:
        return
    from faceparity.render import figures

    def svg(fig: Any, key: str, alt: str) -> Markup:
        return Markup(f'<svg role="img"><title>{key}</title></svg>')

    monkeypatch.setattr(figures, "svg", svg)


def _names_the_path(message: str, case: Case) -> bool:
    """Whether the message names the mutated value's key path, or that of a container of it.

    A deleted key may be named as the key its object lacks (``config: expected key
    'alpha'``); a deleted key at the top level has no path but its name.
    """
    assert case.path
    ancestors = [json_path(case.path[:i]) for i in range(len(case.path), 0, -1)]
    if any(re.search(rf"(^|[\s,]){re.escape(p)}([:.\[\s,]|$)", message) for p in ancestors):
        return True
    last = case.path[-1]
    return case.kind == "delete" and isinstance(last, str) and repr(last) in message


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(case: Case, tmp_path: Path, args: Callable[[Path, Path], list[str]]) -> tuple[Any, Path]:
    """Write the mutated file, run the command, check what every command must satisfy."""
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    outputs.mkdir()
    mutated = inputs / case.source
    mutated.write_text(case.text(_original(case.source)), encoding="utf-8")
    before = _digest(mutated)
    result = CliRunner().invoke(cli.main, args(mutated, outputs))
    said = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), said
    assert "internal error" not in said and "Traceback" not in said, said
    assert _digest(mutated) == before, "the input file was changed"
    written = sorted(outputs.iterdir())
    if result.exit_code == 0:
        for path in written:
            _parses(path)
    else:
        assert not written, f"exit {result.exit_code} but wrote {written}"
    if result.exit_code == 2:
        assert str(mutated) in said, f"the message does not name the file: {said}"
        if case.path:
            assert _names_the_path(said, case), f"the message does not name {case.id}: {said}"
    return result, outputs


@pytest.mark.parametrize("case", _params("report"))
def test_report(case: Case, tmp_path: Path) -> None:
    fmt = "html" if zlib.crc32(case.id.encode()) % 2 else "md"
    result, outputs = _run(
        case, tmp_path, lambda f, out: ["report", str(f), "-o", str(out / f"report.{fmt}")]
    )
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 0:
        assert (outputs / f"report.{fmt}").is_file()


@pytest.mark.parametrize("case", _params("compare"))
def test_compare(case: Case, tmp_path: Path) -> None:
    golden = tmp_path / "golden.json"
    golden.write_text(_original(case.source), encoding="utf-8")
    suffix = (".json", ".md", ".html")[zlib.crc32(case.id.encode()) % 3]
    result, outputs = _run(
        case,
        tmp_path,
        lambda f, out: ["compare", str(golden), str(f), "-o", str(out / f"compare{suffix}")],
    )
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 0:
        assert (outputs / f"compare{suffix}").is_file()


@pytest.mark.parametrize("case", _params("check"))
def test_check(case: Case, tmp_path: Path) -> None:
    if case.source == "sex.json":
        limits = GOLDEN / "limits_sex.toml"
    else:
        limits = tmp_path / "limits.toml"
        limits.write_text(LIMITS_OTHER, encoding="utf-8")
    result, _ = _run(case, tmp_path, lambda f, out: ["check", str(f), str(limits)])
    assert result.exit_code in (0, 1, 2), result.output
    if result.exit_code in (0, 1):
        assert "limits hold" in result.output or "violations of" in result.output


@pytest.mark.parametrize("case", _params("plan"))
def test_plan_from(case: Case, tmp_path: Path) -> None:
    result, outputs = _run(
        case,
        tmp_path,
        lambda f, out: ["plan", "--from", str(f), "--json", "-o", str(out / "plan.json")],
    )
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 0:
        _strict_json(result.stdout)
        assert (outputs / "plan.json").is_file()


@pytest.mark.parametrize("source", list(SOURCES))
def test_unmutated_sources_pass(source: str, tmp_path: Path) -> None:
    """The baseline: each source, as written, is read by every command."""
    original = tmp_path / source
    original.write_text(_original(source), encoding="utf-8")
    run = CliRunner().invoke(cli.main, ["plan", "--from", str(original), "--json"])
    assert run.exit_code == 0, run.output
    run = CliRunner().invoke(cli.main, ["compare", str(original), str(original)])
    assert run.exit_code == 0, run.output


def test_cases_cover_every_mutation_kind() -> None:
    kinds = {c.kind for s in SOURCES for c in _cases(s, _original(s))}
    assert kinds == {
        "str", "bool", "list", "dict", "null", "nan", "inf", "-inf", "huge", "negative",
        "huge_int", "deep", "delete", "unknown_key", "truncate",
    }  # fmt: skip


def test_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """How many cases there are, and how many each command runs (``-s`` shows them)."""
    total = sum(len(_cases(s, _original(s))) for s in SOURCES)
    ran = {command: len(_selected(command)) for command in SAMPLE}
    with capsys.disabled():
        print(f"\nmutations: {total} in all; run per command: {ran}")
    assert all(n > 0 for n in ran.values())
