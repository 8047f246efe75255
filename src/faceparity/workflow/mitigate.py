"""``faceparity mitigate``: fit methods on some subjects, audit the others, before and after.

The steps: read the comparisons (a pair table, BFW, embeddings or the output of
``faceparity embed``), run every method through the folds of subjects
(:func:`~faceparity.mitigation.cross_validate`), audit the held-out comparisons with
their own scores (the baseline) and with each method's (the full audit, with subject
bootstrap intervals), fit each method on every comparison for its ``parameters.json``,
find the worst-group threshold, and write, all or nothing::

    OUTDIR/baseline/results.json, report.html
    OUTDIR/METHOD/results.json, report.html, parameters.json (mode 0600)
    OUTDIR/mitigation.json, mitigation.html
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from faceparity.errors import UsageError
from faceparity.model.config import AuditConfig, ThresholdPolicy
from faceparity.results.audit import AuditResult
from faceparity.results.mitigation import (
    MITIGATION_VERSION,
    MethodOutcome,
    MethodRecord,
    MitigationParameters,
    MitigationResult,
)
from faceparity.workflow.audit import audit_comparisons
from faceparity.workflow.outputs import OutputTransaction, check_outputs, refuse_overwriting
from faceparity.workflow.progress import Message, silent
from faceparity.workflow.request import (
    BfwInput,
    EmbeddingsInput,
    IntervalSettings,
    PairsInput,
)

if TYPE_CHECKING:
    from faceparity.model.comparisons import ComparisonSet
    from faceparity.readers.embeddings import EmbeddingTable

__all__ = ["MitigationOutcome", "MitigationRequest", "run_mitigation"]

MitigationInput = PairsInput | BfwInput | EmbeddingsInput


@dataclass(frozen=True)
class MitigationRequest:
    """One ``faceparity mitigate`` run.

    ``fit_fmr`` is the FMR the threshold-based methods (per-group thresholds, FSN) are
    fitted at (default: the first target). ``folds_from`` names a subject-constant
    attribute whose values are the folds (else ``folds`` random folds, seeded).
    """

    source: MitigationInput
    group_by: tuple[str, ...]
    output: Path
    methods: tuple[str, ...] = ()
    target_fmrs: tuple[float, ...] = (1e-3,)
    fit_fmr: float | None = None
    folds: int = 5
    folds_from: str | None = None
    clusters: int = 100
    cohort_size: int = 100
    intervals: IntervalSettings = IntervalSettings()


@dataclass(frozen=True)
class MitigationOutcome:
    """What a mitigation run gave, and the files it wrote."""

    result: MitigationResult
    written: tuple[Path, ...]


def _read(
    source: MitigationInput, group_by: tuple[str, ...]
) -> tuple[ComparisonSet, EmbeddingTable | None]:
    """The comparisons, and the embedding table they were formed from (or None)."""
    if isinstance(source, PairsInput):
        if source.stream:
            raise UsageError("mitigate reads the whole pair table (no --engine stream)")
        from faceparity.readers.pairs import read_pairs

        cs = read_pairs(
            source.path,
            score=source.score,
            score_kind=source.score_kind,
            subjects=source.subjects,
            mated=source.mated,
            samples=source.samples,
            attributes=list(source.attributes),
        )
        return cs, None
    if isinstance(source, BfwInput):
        import dataclasses

        from faceparity.readers.attributes import AttributeSpec
        from faceparity.readers.bfw import BFW_ATTRIBUTES
        from faceparity.readers.pairs import read_pairs

        # BFW's own identity-disjoint folds come with it, as the attribute ``fold``.
        cs = read_pairs(
            source.path,
            score=source.score,
            score_kind=source.score_kind,
            subjects=("id1", "id2"),
            mated="label",
            samples=("p1", "p2"),
            attributes=(*BFW_ATTRIBUTES, AttributeSpec("fold", ("fold", "fold"))),
        )
        name = f"BFW datatable {source.path.name}, score column {source.score!r}"
        return dataclasses.replace(cs, source=name), None
    from faceparity.readers.embeddings import compare_all, load_embeddings
    from faceparity.readers.pipeline_output import is_pipeline_output, load_pipeline_output

    if source.metadata is None and is_pipeline_output(source.path):
        table, _ = load_pipeline_output(
            source.path, attributes=list(source.attributes), columns_as_attributes=list(group_by)
        )
        file = str(source.path)
    else:
        if source.metadata is None or source.sample_id is None or source.subject is None:
            raise UsageError(
                f"--metadata, --sample-id and --subject: required for {source.path} (only the "
                "output of `faceparity embed` holds its own metadata)"
            )
        table = load_embeddings(
            source.path,
            metadata=source.metadata,
            sample_id=source.sample_id,
            subject=source.subject,
            attributes=list(source.attributes),
        )
        file = str(source.metadata)
    cs = compare_all(table, max_comparisons=source.engine.max_comparisons, file=file)
    return cs, table


def _inputs(source: MitigationInput) -> dict[str, Path | None]:
    if isinstance(source, EmbeddingsInput):
        return {"PATH": source.path, "--metadata": source.metadata}
    return {"PATH": source.path}


def run_mitigation(request: MitigationRequest, *, message: Message = silent) -> MitigationOutcome:
    """Read, cross-validate, audit before and after, write; the outcome."""
    from faceparity.mitigation import (
        FOLD_RULE,
        METHOD_NAMES,
        MitigationData,
        cross_validate,
        fit_all,
        folds_from_attribute,
        held_out_comparisons,
        make_method,
        worst_group_thresholds,
    )
    from faceparity.mitigation.summary import ACCURACY_FMRS, compare_method
    from faceparity.render.mitigation import render_mitigation_html
    from faceparity.render.report import render_html

    names = request.methods or METHOD_NAMES
    unknown = [n for n in names if n not in METHOD_NAMES]
    if unknown:
        raise UsageError(
            f"--method: {', '.join(unknown)} is not a method; expected {', '.join(METHOD_NAMES)}"
        )
    out = request.output
    files = ["mitigation.json", "mitigation.html", "baseline/results.json", "baseline/report.html"]
    files += [f"{n}/{f}" for n in names for f in ("results.json", "report.html", "parameters.json")]
    outputs = {f"-o/--output ({f})": out / f for f in files}
    refuse_overwriting(_inputs(request.source), outputs)
    check_outputs(outputs.values())
    cs, table = _read(request.source, request.group_by)
    data = MitigationData.of(cs, request.group_by, table=table)
    fit_fmr = request.fit_fmr or request.target_fmrs[0]
    methods, records = [], []
    for name in names:
        method = make_method(
            name, fit_fmr=fit_fmr, clusters=request.clusters, cohort_size=request.cohort_size
        )
        why = method.unavailable(data)
        if why is not None:
            message(f"note: {why}")
        else:
            methods.append(method)
        records.append(
            MethodRecord(
                name=name,
                description=method.description,
                reference=method.reference,
                needs_group_labels=method.needs_group_labels,
                needs_embeddings=method.needs_embeddings,
                unavailable=why,
                results=None if why else f"{name}/results.json",
            )
        )
    if not methods:
        raise UsageError(
            "no method can run on this input: "
            + "; ".join(r.unavailable for r in records if r.unavailable)
        )
    seed = request.intervals.seed
    fold_of = None
    fold_source = f"{request.folds} random folds of subjects (seed {seed})"
    folds_from = request.folds_from
    if folds_from is None and isinstance(request.source, BfwInput):
        folds_from = "fold"
    if folds_from is not None:
        fold_of = folds_from_attribute(cs, folds_from)
        fold_source = f"the values of {folds_from} (one per subject)"
    message(f"fitting {len(methods)} methods on the folds of subjects ...")
    held = cross_validate(data, methods, folds=request.folds, seed=seed, fold_of_subject=fold_of)
    targets = list(request.target_fmrs)
    config = AuditConfig(
        target_fmrs=tuple(dict.fromkeys([*targets, *ACCURACY_FMRS])),
        policies=(ThresholdPolicy.parse("global"),),
    )
    group_by = list(request.group_by)
    baseline_cs = held_out_comparisons(cs, held.tested)
    message(f"auditing the {len(baseline_cs)} held-out comparisons, before ...")
    baseline = audit_comparisons(
        baseline_cs, group_by=group_by, config=config, intervals=request.intervals
    )
    from faceparity.model.grouping import group_comparisons

    held_grouping = group_comparisons(baseline_cs, group_by)
    audits: dict[str, AuditResult] = {}
    outcomes: list[MethodOutcome] = []
    parameters: dict[str, MitigationParameters] = {}
    for method in methods:
        message(f"auditing the held-out comparisons after {method.name} ...")
        after = audit_comparisons(
            held_out_comparisons(cs, held.tested, held.scores[method.name]),
            group_by=group_by,
            config=config,
            intervals=request.intervals,
        )
        audits[method.name] = after
        outcomes.append(
            compare_method(
                method.name,
                baseline,
                after,
                targets=targets,
                grouping=held_grouping,
                mated=baseline_cs.mated,
                before_log_odds=held.baseline_log_odds,
                after_log_odds=held.log_odds[method.name],
            )
        )
        parameters[method.name] = fit_all(data, method, seed=seed)
    message("the worst-group threshold ...")
    intervals = request.intervals
    worst = worst_group_thresholds(
        cs,
        data.grouping,
        targets,
        replicates=intervals.replicates if intervals.method.value == "bootstrap" else 0,
        level=intervals.level,
        seed=seed,
    )
    notes = [
        "held-out scores of different folds come from parameters fitted on different "
        "training sets and are pooled, as in cross-validation; a monotone method (global "
        "calibration) therefore moves rates a little",
        "the intervals resample the subjects of the held-out comparisons; they do not "
        "include the uncertainty of the fitted parameters",
        "the worst-group threshold is set on every comparison of the input, by the audit's rule",
        "a method's thresholds (in its results.json) are on its own score scale (log-odds for "
        "the calibrations, standardised scores for the normalisations, -ln FMR for the "
        "oracle), not the input's",
    ]
    result = MitigationResult(
        mitigation_version=MITIGATION_VERSION,
        source=cs.source,
        group_by=group_by,
        target_fmrs=targets,
        folds=held.n_folds,
        fold_source=fold_source,
        seed=seed,
        fold_rule=FOLD_RULE,
        n_comparisons=len(cs),
        n_tested=int(held.tested.sum()),
        n_never_tested=held.n_never_tested,
        baseline="baseline/results.json",
        methods=records,
        outcomes=outcomes,
        worst_group=worst,
        notes=notes,
    )
    with OutputTransaction(message=message) as transaction:
        transaction.write_text(out / "baseline" / "results.json", baseline.to_json())
        transaction.write_text(out / "baseline" / "report.html", render_html(baseline))
        for name, after in audits.items():
            transaction.write_text(out / name / "results.json", after.to_json())
            transaction.write_text(out / name / "report.html", render_html(after))
            transaction.write_text(
                out / name / "parameters.json", parameters[name].to_json(), mode=0o600
            )
        transaction.write_text(out / "mitigation.json", result.to_json())
        transaction.write_text(out / "mitigation.html", render_mitigation_html(result))
        written = transaction.commit()
    return MitigationOutcome(result, written)


def apply_to_pairs(
    parameters: Path, source: PairsInput, output: Path, *, message: Message = silent
) -> int:
    """Write ``output``: the comparisons of ``source`` with the new scores of ``parameters``.

    Returns the number of comparisons written.
    """
    import io

    import pandas as pd

    from faceparity.mitigation import MitigationData, apply_parameters
    from faceparity.results.mitigation import read_parameters
    from faceparity.workflow.outputs import write_text

    refuse_overwriting({"PARAMETERS": parameters, "PATH": source.path}, {"-o/--output": output})
    check_outputs([output])
    fitted = read_parameters(parameters)
    cs, _ = _read(source, tuple(fitted.group_by))
    data = MitigationData.of(cs, fitted.group_by)
    new = apply_parameters(fitted, data)
    labels = [g.label for g in data.grouping.groups] + [""]
    frame = pd.DataFrame(
        {
            "subject_a": [cs.subject_ids[s] for s in cs.subject[:, 0]],
            "subject_b": [cs.subject_ids[s] for s in cs.subject[:, 1]],
            "group_a": [labels[g] for g in data.groups[:, 0]],
            "group_b": [labels[g] for g in data.groups[:, 1]],
            "mated": cs.mated,
            "score": cs.score,
            "mitigated_score": new,
        }
    )
    text = io.StringIO()
    frame.to_csv(text, index=False, float_format="%.17g")
    write_text(output, text.getvalue(), message=message)
    return len(frame)
