"""An :class:`~faceparity.explain.ExplainResult` as a text table or Markdown."""

from __future__ import annotations

from faceparity.explain.regression import ErrorModel, Term
from faceparity.explain.run import ExplainResult
from faceparity.render.environment import GENERATOR, escape_markdown
from faceparity.render.formatting import NOT_AVAILABLE, fmt_number, text_grid

__all__ = ["HEADER", "explain_markdown", "explain_text", "model_rows"]

HEADER = ("term", "coefficient (log-odds)", "95% CI", "p", "AME", "AME 95% CI")

_TITLES = {
    "false_non_match": "False non-match on mated comparisons",
    "false_match": "False match on non-mated comparisons",
}


def _num(value: float | None) -> str:
    return NOT_AVAILABLE if value is None else f"{value:.4g}"


def _ci(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f"[{_num(low)}, {_num(high)}]"


def _row(t: Term) -> list[str]:
    return [
        t.term,
        _num(t.coefficient),
        _ci(t.ci_low, t.ci_high),
        f"{t.p_value:.2g}",
        "" if t.ame is None else f"{t.ame:+.3g}",
        _ci(t.ame_ci_low, t.ame_ci_high),
    ]


def model_rows(model: ErrorModel) -> list[list[str]]:
    """One row of formatted cells per term, in the order of :data:`HEADER`."""
    return [_row(t) for t in model.terms]


def _summary(model: ErrorModel) -> list[str]:
    lines = [
        f"{model.n_events:,} errors in {model.n_used:,} comparisons "
        f"(of {model.n_comparisons:,}); {' x '.join(f'{c:,}' for c in model.n_clusters)} "
        f"clusters, {model.clustering}; Tjur R2 {_num(model.tjur_r2)}"
    ]
    if model.undefined_reason:
        lines.append(f"not estimated: {model.undefined_reason}")
    if model.sampling:
        lines.append(f"sampled: {model.sampling}")
    lines += [f"left out: {e['count']:,} {e['reason']}" for e in model.exclusions]
    lines += [f"note: {n}" for n in model.notes]
    return lines


def _header(level: float) -> list[str]:
    pct = f"{100 * level:g}%"
    return [h.replace("95%", pct) for h in HEADER]


def _intro(result: ExplainResult) -> list[str]:
    return [
        f"What drives the errors: {result.source}, target FMR {result.target_fmr:g}, "
        f"policy {result.policy}, threshold {fmt_number(result.threshold)} ({result.score_kind})",
        "logistic regression of each error event on "
        + ", ".join(result.group_by)
        + " and the covariates, each factor against its reference level "
        "(the level with no term of its own); intervals clustered by subject; "
        "AME = average marginal effect on the error probability "
        "(a level against the reference; a covariate per unit)",
    ]


def explain_text(result: ExplainResult) -> str:
    """Plain text for the terminal: one table per error event."""
    lines = _intro(result)
    lines += [
        f"left out of both: {e['count']:,} {e['unit']}: {e['reason']}" for e in result.exclusions
    ]
    for model in (result.false_non_match, result.false_match):
        lines += ["", _TITLES[model.event]]
        lines += [f"  {line}" for line in _summary(model)]
        if model.terms:
            lines += text_grid(_header(model.level), model_rows(model))
    return "\n".join(lines) + "\n"


def explain_markdown(result: ExplainResult) -> str:
    """Markdown: a heading and a table per error event."""
    intro = _intro(result)
    out = [
        f"# {escape_markdown(intro[0])}",
        "",
        f"Made by {GENERATOR}.",
        "",
        escape_markdown(intro[1]),
    ]
    for model in (result.false_non_match, result.false_match):
        out += ["", f"## {_TITLES[model.event]}", ""]
        out += [f"- {escape_markdown(line)}" for line in _summary(model)]
        if model.terms:
            header = _header(model.level)
            out += [
                "",
                "| " + " | ".join(header) + " |",
                "|---" + "|---:" * (len(header) - 1) + "|",
            ]
            out += [
                "| " + " | ".join(escape_markdown(c) for c in row) + " |"
                for row in model_rows(model)
            ]
    return "\n".join(out) + "\n"
