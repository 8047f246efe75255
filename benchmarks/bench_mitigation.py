"""Post-hoc mitigation on real data: BFW scores of three models, and MORPH embeddings.

BFW sample (``../shared/data/bfw-sample``, 48,017 pairs of 800 subjects in BFW's five
identity-disjoint folds, cosine scores of VGG16, ResNet50 and SENet50): the folds are
BFW's own (``fold``, one per subject). For each model and target FMR:

1. the deviation of each subgroup's FMR from the target, ``(FMR_g - target) / target``,
   under one global threshold (the held-out comparisons with their own scores) and under
   per-group thresholds fitted on the other folds (Robinson et al. 2020's claim: one
   global threshold puts subgroups far from the intended FMR; subgroup thresholds bring
   them near it);
2. every score-based method's before and after: the FMR Gini and max/min across
   subgroups, FNMR at the target (global), and the groups whose FMR or FNMR got worse.

MORPH (``../shared/data/morph-embeddings``, 268 real 128-d embeddings of 50 subjects,
sex from the file names): all pairs, five random folds of subjects, FSN and FairCal
(k-means on the training templates) before and after, groups by sex.

UTKFace (``../shared/data/utkface-sample``, 2,000 face chips, 200 per sex x race cell,
**no identity labels**: each image its own subject, every comparison non-mated): the
images embedded by ``faceparity embed`` (MTCNN and the ONNX embedder of
``../shared/models``, whole process), every pair, five random folds of subjects; FSN
(no labels at deployment) and, for reference, per-group thresholds and the oracle
(labels): each sex x race group's FMR (demographically matched comparisons) at one
global threshold set at the target FMR on all held-out comparisons, before and after,
with the spread (Gini, max/min) and its interval. FMR only: there is no FNMR to measure.

Identity sample (``../shared/data/identity-sample``, 80 photographs of 23 people, sex
labels): embedded the same way, every pair, five random folds of subjects; FairCal
before and after at several global target FMRs up to 0.1, each group's FMR and FNMR with
the counts they come from. Far too small for a demographic conclusion: printed so that
a reader sees how few errors there are to measure.

Intervals: the subject bootstrap (``--replicates``, default 200). Run from the project
root: ``.venv/bin/python benchmarks/bench_mitigation.py``; the data are never copied.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from faceparity.mitigation import (
    MitigationData,
    cross_validate,
    folds_from_attribute,
    held_out_comparisons,
    make_method,
)
from faceparity.model.comparisons import ComparisonSet
from faceparity.model.config import AuditConfig, ScoreKind, ThresholdPolicy
from faceparity.readers.attributes import AttributeSpec
from faceparity.readers.embeddings import EmbeddingTable, compare_all
from faceparity.readers.pairs import read_pairs
from faceparity.results.audit import AuditResult, OperatingPoint
from faceparity.results.common import Interval
from faceparity.workflow.audit import audit_comparisons
from faceparity.workflow.request import IntervalSettings

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SCORE_METHODS = ("global-calibration", "per-group-thresholds", "z-norm", "oracle", "oracle-beta")


def _point(result: AuditResult, target: float) -> OperatingPoint:
    return result.operating_point(target, "global")


def _audit(cs, group_by, targets, replicates):  # type: ignore[no-untyped-def]
    config = AuditConfig(target_fmrs=tuple(targets), policies=(ThresholdPolicy.parse("global"),))
    intervals = IntervalSettings(replicates=replicates)
    return audit_comparisons(cs, group_by=group_by, config=config, intervals=intervals)


def _fmt(v: float | None, spec: str = ".2e") -> str:
    return "n/a" if v is None else format(v, spec)


def _summary_line(name: str, point: OperatingPoint, before: OperatingPoint | None) -> str:
    fmr = point.summary.fmr
    fnmr = point.overall.fnmr if point.overall else None
    line = (
        f"  {name:22s} FMR gini {_fmt(fmr.gini.value, '.3f')}"
        f" [{_fmt(fmr.gini.value_ci and fmr.gini.value_ci.ci_low, '.3f')},"
        f" {_fmt(fmr.gini.value_ci and fmr.gini.value_ci.ci_high, '.3f')}]"
        f"  FMR max/min {_fmt(fmr.max_min.value, '.2f')}"
        f"  FNMR gini {_fmt(point.summary.fnmr.gini.value, '.3f')}"
        f"  FNMR(global) {_fmt(fnmr, '.4f')}"
    )
    if before is not None:
        worse = [
            f"{a.label} {rate.upper()}"
            for a, b in zip(point.groups, before.groups, strict=True)
            for rate in ("fmr", "fnmr")
            if getattr(a, rate) is not None
            and getattr(b, rate) is not None
            and getattr(a, rate) > getattr(b, rate)
        ]
        line += f"\n  {'':22s} worse: {', '.join(worse) or 'none'}"
    return line


def bfw(targets: list[float], replicates: int) -> None:
    path = DATA / "bfw-sample" / "bfw_sample_pairs.csv"
    if not path.exists():
        print(f"{path} is not available; skipped")
        return
    specs = [
        AttributeSpec("sex", ("g1", "g2")),
        AttributeSpec("ethnicity", ("e1", "e2")),
        AttributeSpec("fold", ("fold", "fold")),
    ]
    group_by = ["sex", "ethnicity"]
    for model in ("vgg16", "resnet50", "senet50"):
        t0 = time.perf_counter()
        cs = read_pairs(
            path,
            score=model,
            score_kind=ScoreKind.SIMILARITY,
            subjects=("id1", "id2"),
            mated="label",
            attributes=specs,
        )
        data = MitigationData.of(cs, group_by)
        folds = folds_from_attribute(cs, "fold")
        print(f"\n== BFW {model}: {len(cs)} comparisons, BFW's 5 folds ==")
        for target in targets:
            methods = [make_method(name, fit_fmr=target) for name in SCORE_METHODS]
            held = cross_validate(data, methods, fold_of_subject=folds)
            base_cs = held_out_comparisons(cs, held.tested)
            before = _audit(base_cs, group_by, [target], replicates)
            after = {
                m.name: _audit(
                    held_out_comparisons(cs, held.tested, held.scores[m.name]),
                    group_by,
                    [target],
                    replicates,
                )
                for m in methods
            }
            p0 = _point(before, target)
            p1 = _point(after["per-group-thresholds"], target)
            print(
                f" target FMR {target:g}: {held.tested.sum()} held out "
                f"({held.n_never_tested} never tested)"
            )
            print("  subgroup  FMR global  deviation  | FMR per-group thr.  deviation [interval]")
            for g0, g1 in zip(p0.groups, p1.groups, strict=True):
                d0 = None if g0.fmr is None else (g0.fmr - target) / target
                d1 = None if g1.fmr is None else (g1.fmr - target) / target
                ci = g1.fmr_ci
                band = (
                    f"[{_fmt(ci.ci_low)}, {_fmt(ci.ci_high)}]"
                    if ci is not None and ci.ci_low is not None
                    else ""
                )
                print(
                    f"  {g0.label:8s}  {_fmt(g0.fmr)}  {_fmt(d0, '+.0%'):>9s}  | "
                    f"{_fmt(g1.fmr)}  {_fmt(d1, '+.0%'):>9s} {band}"
                )
            mean0 = np.mean(
                [abs((g.fmr - target) / target) for g in p0.groups if g.fmr is not None]
            )
            mean1 = np.mean(
                [abs((g.fmr - target) / target) for g in p1.groups if g.fmr is not None]
            )
            print(f"  mean |deviation|: global {mean0:.0%}, per-group thresholds {mean1:.0%}")
            print(_summary_line("before (global thr.)", p0, None))
            for name, result in after.items():
                print(_summary_line(name, _point(result, target), p0))
        print(f" ({time.perf_counter() - t0:.1f} s)")


def morph(targets: list[float], replicates: int, clusters: int) -> None:
    path = DATA / "morph-embeddings" / "embeddings.json"
    if not path.exists():
        print(f"{path} is not available; skipped")
        return
    raw = json.loads(path.read_text())
    values, subjects, sexes = [], [], []
    for subject, images in sorted(raw.items()):
        for name, vector in sorted(images.items()):
            match = re.search(r"_\d+([MF])\d+\.", name)
            if match is None:
                raise SystemExit(f"{path}: no sex in the file name {name!r}")
            values.append(vector)
            subjects.append(subject)
            sexes.append(match.group(1))
    ids, codes = np.unique(subjects, return_inverse=True)
    table = EmbeddingTable(
        values=np.asarray(values, dtype=np.float64),
        rows=np.arange(len(values), dtype=np.int64),
        subject=codes.astype(np.int64),
        subject_ids=tuple(str(s) for s in ids),
        attributes={"sex": np.array([0 if s == "F" else 1 for s in sexes], dtype=np.int32)},
        levels={"sex": ("F", "M")},
        exclusions=(),
        source=str(path),
    )
    cs = compare_all(table)
    data = MitigationData.of(cs, ["sex"], table=table)
    print(f"\n== MORPH: {len(values)} embeddings, {len(ids)} subjects, {len(cs)} comparisons ==")
    for target in targets:
        methods = [make_method(n, fit_fmr=target, clusters=clusters) for n in ("fsn", "faircal")]
        held = cross_validate(data, methods, folds=5, seed=0)
        before = _point(
            _audit(held_out_comparisons(cs, held.tested), ["sex"], [target], replicates), target
        )
        print(
            f" target FMR {target:g}: {held.tested.sum()} held out "
            f"({held.n_never_tested} never tested)"
        )
        print(_summary_line("before", before, None))
        for g in before.groups:
            print(f"    {g.label}: FMR {_fmt(g.fmr)} FNMR {_fmt(g.fnmr, '.4f')}")
        for m in methods:
            after_cs = held_out_comparisons(cs, held.tested, held.scores[m.name])
            point = _point(_audit(after_cs, ["sex"], [target], replicates), target)
            print(_summary_line(m.name, point, before))
            for g in point.groups:
                print(f"    {g.label}: FMR {_fmt(g.fmr)} FNMR {_fmt(g.fnmr, '.4f')}")


MODELS = DATA.parent / "models"
ONNX_MODEL = MODELS / "faceplugin" / "fr_feature.onnx"
ONNX_SPEC = (
    Path(__file__).resolve().parents[1] / "examples" / "models" / "faceplugin-fr-feature.toml"
)


def embed(manifest: Path, root: Path, out: Path, threads: int) -> Path | None:
    """``faceparity embed`` (MTCNN, the ONNX embedder) as a user runs it; None when it cannot."""
    for needed in (manifest, ONNX_MODEL, MODELS / "mtcnn", ONNX_SPEC):
        if not needed.exists():
            print(f"{needed} is not available; skipped")
            return None
    args = ["embed", str(manifest), "--root", str(root), "--detector", f"mtcnn:{MODELS / 'mtcnn'}"]
    args += ["--embedder", str(ONNX_MODEL), "--model-spec", str(ONNX_SPEC), "--no-cache"]
    args += ["--device", "cpu", "--threads", str(threads), "-o", str(out)]
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "faceparity", *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        print(f"faceparity embed failed ({done.returncode}); skipped\n{done.stderr}")
        return None
    print(f" faceparity embed {manifest.parent.name}: {time.perf_counter() - start:.0f} s")
    return out


def _embedded(
    sample: str, group_by: list[str], threads: int
) -> tuple[ComparisonSet, MitigationData] | None:
    """A shared sample's images embedded (:func:`embed`), read back; None when it cannot."""
    root = DATA / sample
    with tempfile.TemporaryDirectory() as tmp:
        path = embed(root / "manifest.csv", root, Path(tmp) / "embeddings.parquet", threads)
        return None if path is None else _pipeline_data(path, group_by)


def _pipeline_data(path: Path, group_by: list[str]) -> tuple[ComparisonSet, MitigationData]:
    from faceparity.readers.pipeline_output import load_pipeline_output

    table, _ = load_pipeline_output(path, columns_as_attributes=group_by)
    cs = compare_all(table, file=str(path))
    return cs, MitigationData.of(cs, group_by, table=table)


def _interval(ci: Interval | None, spec: str) -> str:
    if ci is None or ci.ci_low is None or ci.ci_high is None:
        return ""
    return f" [{format(ci.ci_low, spec)}, {format(ci.ci_high, spec)}]"


def _spread(point: OperatingPoint) -> str:
    fmr = point.summary.fmr
    gini, ratio = fmr.gini, fmr.max_min
    text = f"FMR gini {_fmt(gini.value, '.3f')}{_interval(gini.value_ci, '.3f')}"
    text += f", max/min {_fmt(ratio.value, '.2f')}{_interval(ratio.value_ci, '.2f')}"
    if ratio.value is None and ratio.undefined_reason:
        text += f" ({ratio.undefined_reason})"
    return text


def utkface(targets: list[float], replicates: int, clusters: int, threads: int) -> None:
    print("\n== UTKFace: FSN on real embeddings, no mated comparisons (FMR only) ==")
    group_by = ["sex", "race"]
    embedded = _embedded("utkface-sample", group_by, threads)
    if embedded is None:
        return
    cs, data = embedded
    print(
        f" {len(cs.subject_ids)} enrolled images (each its own subject), {len(cs)} comparisons, "
        f"{int(cs.mated.sum())} mated"
    )
    for target in targets:
        methods = [
            make_method(n, fit_fmr=target, clusters=clusters)
            for n in ("fsn", "per-group-thresholds", "oracle")
        ]
        held = cross_validate(data, methods, folds=5, seed=0)
        before = _point(
            _audit(held_out_comparisons(cs, held.tested), group_by, [target], replicates), target
        )
        after = {
            m.name: _point(
                _audit(
                    held_out_comparisons(cs, held.tested, held.scores[m.name]),
                    group_by,
                    [target],
                    replicates,
                ),
                target,
            )
            for m in methods
        }
        print(
            f" global target FMR {target:g} on the {int(held.tested.sum())} held-out comparisons "
            f"(5 folds of subjects; FSN with {clusters} clusters asked, at most one per 20 "
            "training templates)"
        )
        head = f"  {'group':14s} {'before: FMR':>12s} {'false/non-mated':>16s}"
        print(head + "".join(f" | {m.name + ': FMR':>26s} {'false':>6s}" for m in methods))
        for g, *others in zip(before.groups, *(p.groups for p in after.values()), strict=True):
            counts = f"{g.n_false_matches}/{g.n_non_mated}"
            line = f"  {g.label:14s} {_fmt(g.fmr, '.5f'):>12s} {counts:>16s}"
            for o in others:
                fmr = _fmt(o.fmr, ".5f") + _interval(o.fmr_ci, ".4f")
                line += f" | {fmr:>26s} {o.n_false_matches:>6d}"
            print(line)
        print(f"  {'before':22s} {_spread(before)}")
        for name, point in after.items():
            rose = [
                a.label
                for a, b in zip(point.groups, before.groups, strict=True)
                if a.fmr is not None and b.fmr is not None and a.fmr > b.fmr
            ]
            print(f"  {name:22s} {_spread(point)}")
            print(f"  {'':22s} FMR rose for {len(rose)} of {len(point.groups)}: {', '.join(rose)}")
    print(
        "  (intervals: subject bootstrap, percentile; for a spread measure the resampled "
        "rates add spread, so an interval can lie above its point estimate)"
    )


def identity(targets: list[float], replicates: int, threads: int) -> None:
    print("\n== Identity sample: FairCal on real embeddings, both error types ==")
    embedded = _embedded("identity-sample", ["sex"], threads)
    if embedded is None:
        return
    cs, data = embedded
    clusters = 100
    held = cross_validate(data, [make_method("faircal", clusters=clusters)], folds=5, seed=0)
    base_cs = held_out_comparisons(cs, held.tested)
    after_cs = held_out_comparisons(cs, held.tested, held.scores["faircal"])
    print(
        f" {len(cs.subject_ids)} subjects, {len(cs)} comparisons ({int(cs.mated.sum())} mated); "
        f"held out: {len(base_cs)} ({int(base_cs.mated.sum())} mated), 5 folds of subjects; "
        f"FairCal: {len(held.parameters['faircal'][0].centroids or [])} clusters in fold 0 "
        "(at most one per 20 training templates)"
    )
    before = _audit(base_cs, ["sex"], targets, replicates)
    after = _audit(after_cs, ["sex"], targets, replicates)
    print(
        f"  {'target':>7s} {'group':5s} {'FMR before':>11s} {'(false/non-mated)':>18s}"
        f" {'FMR after':>10s} {'(false)':>8s} {'FNMR before':>12s} {'(misses/mated)':>15s}"
        f" {'FNMR after':>11s} {'(misses)':>9s}"
    )
    for target in targets:
        p0, p1 = _point(before, target), _point(after, target)
        rows = [(p0.overall, p1.overall, "all")] if p0.overall and p1.overall else []
        rows += [(g0, g1, g0.label) for g0, g1 in zip(p0.groups, p1.groups, strict=True)]
        for a, b, label in rows:
            print(
                f"  {target:7g} {label:5s} {_fmt(a.fmr, '.4f'):>11s} "
                f"{f'({a.n_false_matches}/{a.n_non_mated})':>18s} {_fmt(b.fmr, '.4f'):>10s} "
                f"{f'({b.n_false_matches})':>8s} {_fmt(a.fnmr, '.4f'):>12s} "
                f"{f'({a.n_false_non_matches}/{a.n_mated})':>15s} {_fmt(b.fnmr, '.4f'):>11s} "
                f"{f'({b.n_false_non_matches})':>9s}"
            )
    print("  separation: non-mated comparisons scoring at or above the lowest mated one")
    overlap = 0
    for name, held_cs in (("before", base_cs), ("faircal", after_cs)):
        codes = held_cs.attributes["sex"]
        cells = [("all", np.ones(len(held_cs), dtype=bool))]
        cells += [
            (level, (codes[:, 0] == k) & (codes[:, 1] == k))
            for k, level in enumerate(held_cs.levels["sex"])
        ]
        parts = []
        for label, rows in cells:
            mated = held_cs.similarity[rows & held_cs.mated]
            non_mated = held_cs.similarity[rows & ~held_cs.mated]
            if len(mated) and len(non_mated):
                above = int(np.sum(non_mated >= mated.min()))
                overlap += above
                parts.append(f"{label} {above}/{len(non_mated)} (FMR {above / len(non_mated):.4f})")
        print(f"    {name:8s} " + "; ".join(parts))
    if overlap == 0:
        print(
            "  the held-out mated and non-mated scores do not overlap, before or after FairCal: "
            "FNMR is 0 at every operating point, so FairCal's effect on FNMR cannot be "
            "measured on this sample (only its effect on the FMR of each group, above)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="1e-2,1e-3")
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1, help="of faceparity embed")
    parser.add_argument(
        "--only", choices=["bfw", "morph", "utkface", "identity"], action="append", default=None
    )
    args = parser.parse_args(argv)
    targets = [float(t) for t in args.targets.split(",")]
    only = set(args.only or ["bfw", "morph", "utkface", "identity"])
    if "bfw" in only:
        bfw(targets, args.replicates)
    if "morph" in only:
        morph([max(targets)], args.replicates, args.clusters)
    if "utkface" in only:
        utkface(targets, args.replicates, args.clusters, args.threads)
    if "identity" in only:
        identity([1e-3, 1e-2, 5e-2, 1e-1], args.replicates, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
