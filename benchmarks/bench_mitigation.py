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

Intervals: the subject bootstrap (``--replicates``, default 200). Run from the project
root: ``.venv/bin/python benchmarks/bench_mitigation.py``; the data are never copied.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
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
from faceparity.model.config import AuditConfig, ScoreKind, ThresholdPolicy
from faceparity.readers.attributes import AttributeSpec
from faceparity.readers.embeddings import EmbeddingTable, compare_all
from faceparity.readers.pairs import read_pairs
from faceparity.results.audit import AuditResult, OperatingPoint
from faceparity.workflow.audit import audit_comparisons
from faceparity.workflow.request import IntervalSettings

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SCORE_METHODS = ("global-calibration", "per-group-thresholds", "z-norm", "oracle")


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="1e-2,1e-3")
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--clusters", type=int, default=100)
    args = parser.parse_args(argv)
    targets = [float(t) for t in args.targets.split(",")]
    bfw(targets, args.replicates)
    morph([max(targets)], args.replicates, args.clusters)
    return 0


if __name__ == "__main__":
    sys.exit(main())
