"""Explicit pair lists: faceparity against scikit-learn's ``roc_curve`` per group.

The task: S comparison scores over 8 demographic groups (1% mated; half of the
non-mated comparisons demographically matched, both sides in one group, the other
half across two groups), and for every group the threshold at FMR 1e-3 and 1e-4
with the FNMR there.

* **sklearn** (what users do today): all scores in memory; per group, select the
  matched comparisons and call ``sklearn.metrics.roc_curve``; the threshold for a
  target FMR is the point with the largest FPR not above the target.
* **faceparity.audit**: a ``ComparisonSet`` built directly from the same arrays (its
  constructor, not the slow ``from_arrays``) and ``faceparity.audit`` with the
  per-group policy at the same targets. It computes more than the baseline (EER,
  DET curves, cross-group cells, summary measures), which only counts against it.
* **streaming pair list** (``faceparity.accumulate.accumulate_chunks`` and
  ``audit_accumulated``): the same data, fed chunk by chunk, never all in memory.

Each side runs in its own subprocess (wall time and peak RSS from ``os.wait4``; see
``bench_memory.py``), generating the data itself from the same seed, chunk by
chunk, so that every side sees the same comparisons. Generation time is measured
apart and excluded; a ``data only`` process that generates the data and stops
gives the memory of the data alone, and each side's peak is also shown beyond
that figure. The two exact sides must agree on every group's counts of false
matches and false non-matches; the script says so, and exits 1 when they do not.

Targets at S = 1e8 (issue 3): >= 10x faster than the sklearn baseline and < 1/4 of
its peak memory. The in-memory sides hold the whole pair list (33 bytes a
comparison), so their peaks cannot fall far below the data; the memory target
applies to the streaming path.

Usage::

    python benchmarks/bench_pairs_sklearn.py            # S = 1e8 (several GB; minutes)
    python benchmarks/bench_pairs_sklearn.py --quick    # S = 1e6
    python benchmarks/bench_pairs_sklearn.py --n 1e7 --json

Figures go to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_memory import measure  # noqa: E402

N_GROUPS = 8
GROUP_NAMES = tuple(f"g{g}" for g in range(N_GROUPS))
SUBJECTS_PER_GROUP = 10_000
MATED_FRACTION = 0.01
MATCHED_NON_MATED_FRACTION = 0.5
TARGET_FMRS = (1e-3, 1e-4)
CHUNK = 1 << 17
QUICK_N = 1_000_000
TARGET_SPEEDUP = 10.0
TARGET_MEMORY_RATIO = 0.25
AUDIT_LIMIT = 20_000_000  # above this, the exact in-memory side is left out unless asked for

SIDES = {
    "data": "data only",
    "sklearn": "sklearn roc_curve",
    "audit": "faceparity.audit",
    "stream": "streaming pair list",
}
ENGINE_MODULE = "faceparity.accumulate"
ENGINE_FUNCTION = "accumulate_chunks"
NOT_AVAILABLE = "engine not available yet"
BYTES_PER_COMPARISON = 8 + 1 + 2 * 8 + 2 * 4  # score, mated, subject (n, 2), group (n, 2)


# --- The data: one generator of chunks, shared by every side ------------------------------


@dataclass(frozen=True)
class Pairs:
    """A pair list (or one chunk of it), the arrays a ComparisonSet holds."""

    score: npt.NDArray[np.float64]
    mated: npt.NDArray[np.bool_]
    subject: npt.NDArray[np.int64]
    group: npt.NDArray[np.int32]

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.score, self.mated, self.subject, self.group))


def make_chunk(n: int, *, seed: int, index: int) -> Pairs:
    """Chunk ``index`` of the pair list: the same values whoever asks, in any order.

    Subject ``k * 8 + g`` belongs to group ``g``. A mated comparison has both sides
    on one subject; a non-mated one two different subjects, of one group with
    probability 1/2, else of two groups. Similarities are normal, with a mean that
    depends on the group so that the groups' thresholds differ.
    """
    rng = np.random.default_rng([seed, index])
    mated = rng.random(n) < MATED_FRACTION
    same_group = mated | (rng.random(n) < MATCHED_NON_MATED_FRACTION)
    ga = rng.integers(0, N_GROUPS, size=n)
    gb = np.where(same_group, ga, (ga + rng.integers(1, N_GROUPS, size=n)) % N_GROUPS)
    ka = rng.integers(0, SUBJECTS_PER_GROUP, size=n)
    other = np.where(
        same_group,
        (ka + rng.integers(1, SUBJECTS_PER_GROUP, size=n)) % SUBJECTS_PER_GROUP,
        rng.integers(0, SUBJECTS_PER_GROUP, size=n),
    )
    kb = np.where(mated, ka, other)
    noise = rng.standard_normal(n)
    score = np.where(mated, 0.6 - 0.03 * ga + 0.12 * noise, 0.01 * (ga + gb) + 0.1 * noise)
    return Pairs(
        score=score,
        mated=mated,
        subject=np.stack([ka * N_GROUPS + ga, kb * N_GROUPS + gb], axis=1).astype(np.int64),
        group=np.stack([ga, gb], axis=1).astype(np.int32),
    )


def iter_chunks(n: int, *, seed: int) -> Iterator[Pairs]:
    """The pair list of ``n`` comparisons, in chunks of at most ``CHUNK``."""
    for index, start in enumerate(range(0, n, CHUNK)):
        yield make_chunk(min(CHUNK, n - start), seed=seed, index=index)


def generate(n: int, *, seed: int) -> Pairs:
    """The whole pair list in memory, filled chunk by chunk (small temporaries)."""
    data = Pairs(
        score=np.empty(n, dtype=np.float64),
        mated=np.empty(n, dtype=bool),
        subject=np.empty((n, 2), dtype=np.int64),
        group=np.empty((n, 2), dtype=np.int32),
    )
    start = 0
    for chunk in iter_chunks(n, seed=seed):
        stop = start + chunk.score.shape[0]
        data.score[start:stop] = chunk.score
        data.mated[start:stop] = chunk.mated
        data.subject[start:stop] = chunk.subject
        data.group[start:stop] = chunk.group
        start = stop
    return data


# --- The sides ---------------------------------------------------------------------------


def run_sklearn(data: Pairs) -> list[dict[str, Any]]:
    """Per group: matched comparisons, ``roc_curve``, the point at each target FMR."""
    from sklearn.metrics import roc_curve

    rows = []
    for g, name in enumerate(GROUP_NAMES):
        in_group = (data.group[:, 0] == g) & (data.group[:, 1] == g)
        y, s = data.mated[in_group], data.score[in_group]
        n_mated = int(y.sum())
        n_non_mated = int(y.size - n_mated)
        fpr, tpr, thresholds = roc_curve(y, s)
        for target in TARGET_FMRS:
            i = int(np.searchsorted(fpr, target, side="right")) - 1
            rows.append(
                {
                    "group": name,
                    "target_fmr": target,
                    "threshold": float(thresholds[i]),
                    "n_false_matches": round(float(fpr[i]) * n_non_mated),
                    "n_non_mated": n_non_mated,
                    "n_false_non_matches": round((1.0 - float(tpr[i])) * n_mated),
                    "n_mated": n_mated,
                }
            )
    return rows


def run_audit(data: Pairs) -> list[dict[str, Any]]:
    """``faceparity.audit``, per-group policy, on a ComparisonSet over the same arrays."""
    import faceparity as fp

    n_subjects = N_GROUPS * SUBJECTS_PER_GROUP
    cs = fp.ComparisonSet(
        score=data.score,
        mated=data.mated,
        score_kind=fp.ScoreKind.SIMILARITY,
        subject=data.subject,
        subject_ids=tuple(str(i) for i in range(n_subjects)),
        attributes={"group": data.group},
        levels={"group": GROUP_NAMES},
        source="bench_pairs_sklearn",
    )
    config = fp.AuditConfig(
        target_fmrs=TARGET_FMRS,
        policies=(fp.ThresholdPolicy(fp.PolicyKind.PER_GROUP),),
    )
    return _rows(fp.audit(cs, group_by=["group"], config=config))


def _rows(result: Any) -> list[dict[str, Any]]:
    """Per (operating point, group): the threshold and the counts there."""
    return [
        {
            "group": g.label,
            "target_fmr": point.target_fmr,
            "threshold": g.threshold,
            "n_false_matches": g.n_false_matches,
            "n_non_mated": g.n_non_mated,
            "n_false_non_matches": g.n_false_non_matches,
            "n_mated": g.n_mated,
        }
        for point in result.operating_points
        for g in point.groups
    ]


# --- The streaming engine: kept apart, since its API is not settled yet ------------------


def load_engine() -> Callable[..., Any] | None:
    """``stream_pairs`` from the engine module, or None while it does not exist."""
    try:
        module = importlib.import_module(ENGINE_MODULE)
        return getattr(module, ENGINE_FUNCTION)  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as err:
        print(f"{ENGINE_MODULE}.{ENGINE_FUNCTION}: {err}", file=sys.stderr)
        return None


def run_engine(n: int, *, seed: int) -> tuple[float, float, list[dict[str, Any]]] | None:
    """Stream the pair list through the engine; (run_s, generation_s, rows), or None.

    The chunks are generated as the engine asks for them, so the whole list is never
    in memory; the generation time is measured inside the iterator and taken out.
    Assumed API::

        stream_pairs(chunks: Iterable[tuple[score float64 (m,), mated bool (m,),
                                            groups int32 (m, 2)]], *,
                     n_groups: int) -> Accumulator
    """
    stream_pairs = load_engine()
    if stream_pairs is None:
        return None
    generation_s = 0.0

    def chunks() -> Iterator[tuple[npt.NDArray[Any], ...]]:
        nonlocal generation_s
        it = iter_chunks(n, seed=seed)
        while True:
            start = time.perf_counter()
            chunk = next(it, None)
            generation_s += time.perf_counter() - start
            if chunk is None:
                return
            yield chunk.score, chunk.mated, chunk.group

    from faceparity.accumulate import ScoreGrid
    from faceparity.model.config import AuditConfig, ThresholdPolicy
    from faceparity.model.grouping import Group
    from faceparity.model.population import Population
    from faceparity.verification.audit import audit_accumulated

    start = time.perf_counter()
    # The simulated similarities are normal, well inside [-2, 2].
    acc = stream_pairs(chunks(), n_groups=N_GROUPS, grid=ScoreGrid.covering(-2.0, 2.0))
    groups = [Group((("group", name),), name) for name in GROUP_NAMES]
    result = audit_accumulated(
        acc,
        groups=groups,
        group_by=["group"],
        population=Population([0] * N_GROUPS, [None] * N_GROUPS, 0, None),
        config=AuditConfig(target_fmrs=TARGET_FMRS, policies=(ThresholdPolicy.parse("per-group"),)),
    )
    run_s = time.perf_counter() - start - generation_s
    return run_s, generation_s, _rows(result)


# --- One side in this process (what each subprocess runs) --------------------------------


def _peak_mb() -> float:
    """Peak RSS of this process so far, in MB (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    unit = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit / 1e6


def worker(side: str, n: int, seed: int) -> dict[str, Any]:
    """Import the side's libraries, generate the data, run the side; its figures."""
    if side == "sklearn":
        import sklearn.metrics  # noqa: F401
    elif side == "audit":
        import faceparity  # noqa: F401
    figures: dict[str, Any] = {"side": side, "after_imports_mb": _peak_mb()}
    if side == "stream":
        timed = run_engine(n, seed=seed)
        if timed is None:
            return {**figures, "available": False}
        run_s, generation_s, rows = timed
        return {
            **figures,
            "available": True,
            "generation_s": generation_s,
            "run_s": run_s,
            "results": rows,
        }
    start = time.perf_counter()
    data = generate(n, seed=seed)
    figures.update(
        generation_s=time.perf_counter() - start,
        data_mb=data.nbytes / 1e6,
        after_data_mb=_peak_mb(),
    )
    if side == "data":
        return figures
    run = run_sklearn if side == "sklearn" else run_audit
    start = time.perf_counter()
    figures["results"] = run(data)
    figures["run_s"] = time.perf_counter() - start
    return figures


# --- The comparison (the parent process) -------------------------------------------------


def _agreement(
    sk: list[dict[str, Any]], ours: list[dict[str, Any]], side: str
) -> tuple[int, int, list[str]]:
    """Compare a side with sklearn row by row: (FM counts equal, FNMR counts equal, problems).

    ``roc_curve`` drops, by default, the points inside a run of non-mated scores with no
    mated score between them (``drop_intermediate=True``), so the point it offers at a
    target FMR can sit a few false matches below the most permissive threshold, with
    the same FNMR. So the FNMR counts must be equal, and sklearn's false-match count at
    most ours, which is at most ``target * n_non_mated``. The streaming side's threshold
    is exact in its tail and a bin edge below it: there the counts at its threshold
    must only keep within the target, and the FNMR at most one bin's worth above.
    """
    by_key = {(r["group"], r["target_fmr"]): r for r in ours}
    same_fm = same_fnm = 0
    problems = []
    for row in sk:
        other = by_key.get((row["group"], row["target_fmr"]))
        label = f"{side} {row['group']} at FMR {row['target_fmr']:g}: sklearn {row}, ours {other}"
        if other is None:
            problems.append(label)
            continue
        fm, limit = other["n_false_matches"], row["target_fmr"] * other["n_non_mated"]
        if any(row[k] != other[k] for k in ("n_non_mated", "n_mated")) or fm > limit:
            problems.append(label)
            continue
        exact_point = row["n_false_non_matches"] == other["n_false_non_matches"]
        if side == "audit" and not (exact_point and row["n_false_matches"] <= fm):
            problems.append(label)
            continue
        same_fnm += exact_point
        same_fm += row["n_false_matches"] == fm
    return same_fm, same_fnm, problems


def compare(n: int, seed: int, chosen: tuple[str, ...]) -> tuple[dict[str, Any], list[str], bool]:
    """Run the chosen sides, each in a subprocess; the figures, the report lines, agreement."""
    sides: dict[str, dict[str, Any]] = {}
    for side in chosen:
        print(f"running {SIDES[side]} ...", file=sys.stderr)
        argv = [sys.executable, __file__, "--worker", side, "--n", str(n), "--seed", str(seed)]
        m = measure(argv, capture_stdout=True)
        if m.exit_code != 0:
            raise SystemExit(f"{SIDES[side]}: the worker failed with exit code {m.exit_code}")
        assert m.stdout is not None
        sides[side] = {**json.loads(m.stdout.splitlines()[-1]), "peak_rss_mb": m.peak_rss_mb}

    data = sides["data"]
    n_mated = sum(r["n_mated"] for r in sides["sklearn"]["results"]) // len(TARGET_FMRS)
    lines = [
        f"bench_pairs_sklearn  S={n:,} comparisons, {N_GROUPS} groups, "
        f"{MATED_FRACTION:.0%} mated, {MATCHED_NON_MATED_FRACTION:.0%} of the non-mated "
        f"demographically matched, seed {seed}",
        f"data arrays: {data['data_mb']:.1f} MB ({BYTES_PER_COMPARISON} bytes a comparison); "
        f"data-only process peak {data['peak_rss_mb']:.1f} MB; {n_mated:,} mated comparisons "
        "within groups",
        "",
        f"{'side':<22}{'generation_s':>13}{'run_s':>10}{'imports_mb':>12}"
        f"{'peak_rss_mb':>13}{'beyond_data_mb':>16}",
    ]
    for side, label in SIDES.items():
        if side not in sides:
            lines.append(f"{label:<22}  not run (--sides)")
            continue
        s = sides[side]
        if side == "stream" and not s["available"]:
            lines.append(f"{label:<22}  {NOT_AVAILABLE}")
            continue
        # The streaming side never holds the data, so "beyond the data" means nothing there.
        in_memory = side != "stream"
        s["beyond_data_mb"] = s["peak_rss_mb"] - data["peak_rss_mb"] if in_memory else None
        run = f"{s['run_s']:>10.2f}" if "run_s" in s else f"{'-':>10}"
        beyond = f"{s['beyond_data_mb']:>16.1f}" if in_memory else f"{'-':>16}"
        lines.append(
            f"{label:<22}{s['generation_s']:>13.2f}{run}{s['after_imports_mb']:>12.1f}"
            f"{s['peak_rss_mb']:>13.1f}{beyond}"
        )

    sk = sides["sklearn"]
    lines += [
        "",
        f"ratios against sklearn (targets at S=1e8: speedup >= {TARGET_SPEEDUP:g}, "
        f"peak ratio < {TARGET_MEMORY_RATIO:g}):",
    ]
    ratios: dict[str, Any] = {}
    for side in ("audit", "stream"):
        s = sides.get(side, {"available": False})
        if not s.get("available", True):
            continue
        r = {
            "speedup": sk["run_s"] / s["run_s"],
            "peak_ratio": s["peak_rss_mb"] / sk["peak_rss_mb"],
        }
        text = (
            f"  {SIDES[side]:<20} speedup {r['speedup']:.2f}x (sklearn run_s / run_s), "
            f"peak {r['peak_ratio']:.2f} (peak / sklearn peak)"
        )
        if s["beyond_data_mb"] is not None:
            r["beyond_data_ratio"] = s["beyond_data_mb"] / sk["beyond_data_mb"]
            text += f", beyond data {r['beyond_data_ratio']:.2f}"
        ratios[side] = r
        lines.append(text)

    problems: list[str] = []
    agreement = {}
    for side in ("audit", "stream"):
        if "results" not in sides.get(side, {}):
            continue
        same_fm, same_fnm, bad = _agreement(sk["results"], sides[side]["results"], side)
        problems += bad
        total = len(sk["results"])
        agreement[side] = {"rows": total, "fnmr_counts_equal": same_fnm, "fm_counts_equal": same_fm}
        lines.append(
            f"agreement sklearn vs {SIDES[side]} over {total} (group, target FMR): "
            f"FNMR counts identical in {same_fnm}; false-match counts identical in {same_fm}"
        )
    lines.append(
        "  (where they differ, sklearn's point has fewer false matches at the same FNMR: "
        "roc_curve's drop_intermediate; or, streaming, the threshold falls below the exact "
        "tail and is the most permissive bin edge within the target)"
    )
    for problem in problems:
        print(f"disagree: {problem}", file=sys.stderr)
    figures = {
        "n": n,
        "seed": seed,
        "sides": sides,
        "ratios": ratios,
        "agreement": agreement,
    }
    return figures, lines, not problems


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n", type=float, default=1e8, help="comparisons S (default 1e8; 1e7 and 10000000 alike)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help=f"S={QUICK_N:.0e}: a fast check")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument(
        "--sides",
        help="comma-separated sides to run, of " + ",".join(SIDES) + " (default: all; above "
        f"S={AUDIT_LIMIT:.0e} all but audit, whose in-memory audit needs ~180 bytes a comparison)",
    )
    parser.add_argument("--worker", choices=sorted(SIDES), help=argparse.SUPPRESS)
    ns = parser.parse_args(argv)
    if ns.quick:
        ns.n = QUICK_N
    if ns.n != int(ns.n) or ns.n < 1000:
        parser.error(f"--n: expected a whole number of at least 1000, got {ns.n:g}")
    ns.n = int(ns.n)
    if ns.sides is None:
        ns.sides = tuple(s for s in SIDES if s != "audit" or ns.n <= AUDIT_LIMIT)
    else:
        ns.sides = tuple(s.strip() for s in ns.sides.split(","))
        unknown = set(ns.sides) - set(SIDES)
        if unknown or not {"data", "sklearn"} <= set(ns.sides):
            parser.error(f"--sides: of {','.join(SIDES)}, with data and sklearn; got {ns.sides}")
    return ns


def main(argv: list[str] | None = None) -> int:
    ns = parse_args(argv)
    if ns.worker is not None:
        figures = worker(ns.worker, ns.n, ns.seed)
        if figures.get("available") is False:
            print(NOT_AVAILABLE, file=sys.stderr)
        print(json.dumps(figures))
        return 0
    figures, lines, agree = compare(ns.n, ns.seed, ns.sides)
    print(json.dumps(figures) if ns.json else "\n".join(lines))
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
