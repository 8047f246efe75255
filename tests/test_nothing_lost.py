"""An output path that names an input (or another output) is refused before any work.

Each case failed before the guard: the command overwrote its own input and exited 0.
Every test checks exit 2, the message naming both files, every input unchanged (by
hash) and no output written.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from faceparity import cli
from faceparity.errors import UsageError
from faceparity.workflow.outputs import refuse_overwriting

GOLDEN = Path(__file__).parent / "golden"
PAIRS_ARGS = [
    "--score",
    "score",
    "--score-kind",
    "similarity",
    "--mated",
    "label",
    "--subjects",
    "id1,id2",
    "--samples",
    "p1,p2",
    "--attribute",
    "sex=g1,g2",
    "--group-by",
    "sex",
    "--fmr",
    "0.2",
    "--intervals",
    "none",
]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refused(args: list[str], inputs: list[Path], *, tmp_path: Path) -> str:
    before = {p: _digest(p) for p in inputs}
    listing = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    run = CliRunner().invoke(cli.main, [str(a) for a in args])
    assert run.exit_code == 2, run.output
    assert "would destroy" in run.stderr and "nothing was written" in run.stderr
    assert "internal error" not in run.stderr
    assert {p: _digest(p) for p in inputs} == before
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == listing
    return run.stderr


@pytest.fixture
def results(tmp_path: Path) -> Path:
    return Path(shutil.copy(GOLDEN / "sex.json", tmp_path / "r.json"))


def test_report_onto_its_results(results: Path, tmp_path: Path) -> None:
    said = _refused(["report", results, "-o", results], [results], tmp_path=tmp_path)
    assert f"-o/--output {results}: is the same file as the input RESULTS {results}" in said


def test_report_onto_its_results_through_another_spelling(results: Path, tmp_path: Path) -> None:
    other = tmp_path / "sub" / ".." / "r.json"
    (tmp_path / "sub").mkdir()
    _refused(["report", results, "-o", other], [results], tmp_path=tmp_path)


def test_report_onto_a_symbolic_link_to_its_results(results: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.json"
    link.symlink_to(results)
    _refused(["report", results, "-o", link], [results], tmp_path=tmp_path)


def test_report_onto_a_hard_link_to_its_results(results: Path, tmp_path: Path) -> None:
    link = tmp_path / "hard.json"
    os.link(results, link)
    _refused(["report", results, "-o", link], [results], tmp_path=tmp_path)


def test_compare_onto_either_input(results: Path, tmp_path: Path) -> None:
    b = Path(shutil.copy(results, tmp_path / "b.json"))
    _refused(["compare", results, b, "-o", results], [results, b], tmp_path=tmp_path)
    said = _refused(["compare", results, b, "-o", b], [results, b], tmp_path=tmp_path)
    assert "the input B" in said


def test_plan_from_onto_its_results(results: Path, tmp_path: Path) -> None:
    _refused(["plan", "--from", results, "-o", results], [results], tmp_path=tmp_path)


def test_scenario_onto_its_results(tmp_path: Path) -> None:
    results = Path(shutil.copy(GOLDEN / "ident_sex.json", tmp_path / "ident.json"))
    args = ["scenario", results, "--gallery", "F=100", "--gallery", "M=100"]
    args += ["--searches", "F=10", "--searches", "M=10", "-o", results]
    _refused(args, [results], tmp_path=tmp_path)


def test_audit_whose_results_json_is_its_input(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    pairs = Path(shutil.copy(GOLDEN / "pairs.csv", out / "results.json"))
    said = _refused(["audit", "pairs", pairs, *PAIRS_ARGS, "-o", out], [pairs], tmp_path=tmp_path)
    assert "-o/--output (results.json)" in said and "the input PATH" in said


def test_audit_whose_report_is_its_limits_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    pairs = Path(shutil.copy(GOLDEN / "pairs.csv", tmp_path / "pairs.csv"))
    limits = Path(shutil.copy(GOLDEN / "limits_sex.toml", out / "report.html"))
    args = ["audit", "pairs", pairs, *PAIRS_ARGS, "--check", limits, "-o", out]
    said = _refused(args, [pairs, limits], tmp_path=tmp_path)
    assert "the input --check" in said


def test_audit_without_report_may_read_a_file_named_report_html(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    pairs = Path(shutil.copy(GOLDEN / "pairs.csv", tmp_path / "pairs.csv"))
    limits = out / "report.html"
    text = "[[limit]]\ntarget_fmr = 0.2\nrate = 'fmr'\nmax = 1\n"
    limits.write_text(text)
    args = [pairs, *PAIRS_ARGS, "--check", limits, "--no-report", "-o", out]
    run = CliRunner().invoke(cli.main, ["audit", "pairs", *map(str, args)])
    assert run.exit_code == 0, run.output
    assert (out / "results.json").is_file()
    assert limits.read_text() == text


def test_embed_onto_its_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "m.parquet"
    manifest.write_bytes(b"a manifest")
    model = tmp_path / "model.parquet"
    model.write_bytes(b"a model")
    args = ["embed", manifest, "--root", tmp_path, "--detector", "none", "--embedder", model]
    _refused([*args, "-o", manifest], [manifest, model], tmp_path=tmp_path)
    said = _refused([*args, "-o", model], [manifest, model], tmp_path=tmp_path)
    assert "the input --embedder" in said


def test_embed_whose_cache_is_its_output(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,subject\n")
    model = tmp_path / "model.onnx"
    model.write_bytes(b"a model")
    out = tmp_path / "e.parquet"
    args = ["embed", manifest, "--root", tmp_path, "--detector", "none", "--embedder", model]
    said = _refused([*args, "-o", out, "--cache", out], [manifest, model], tmp_path=tmp_path)
    assert f"-o/--output {out}: is the same file as the output --cache {out}" in said


def test_audit_images_with_the_manifest_as_embeddings(tmp_path: Path) -> None:
    manifest = tmp_path / "m.parquet"
    manifest.write_bytes(b"a manifest")
    model = tmp_path / "model.onnx"
    model.write_bytes(b"a model")
    base = ["audit", "images", manifest, "--root", tmp_path, "--detector", "none"]
    base += ["--embedder", model, "--group-by", "sex"]
    said = _refused([*base, "--embeddings", manifest], [manifest, model], tmp_path=tmp_path)
    assert "--embeddings" in said and "the input MANIFEST" in said


def test_audit_images_with_the_manifest_kept_where_the_embeddings_go(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    manifest = out / "embeddings.parquet"
    manifest.write_bytes(b"a manifest")
    model = tmp_path / "model.onnx"
    model.write_bytes(b"a model")
    args = ["audit", "images", manifest, "--root", tmp_path, "--detector", "none"]
    args += ["--embedder", model, "--group-by", "sex", "-o", out]
    _refused(args, [manifest, model], tmp_path=tmp_path)


def test_refuse_overwriting_ignores_unset_paths_and_distinct_files(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    refuse_overwriting({"A": a, "B": None}, {"-o": b, "--cache": None})
    with pytest.raises(UsageError, match="same file as the output --cache"):
        refuse_overwriting({"A": a}, {"-o": b, "--cache": tmp_path / "." / "b"})
