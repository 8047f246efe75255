"""A :class:`~faceparity.review.diff.AuditDiff` as Markdown, HTML or JSON."""

from __future__ import annotations

import json

from faceparity.render.environment import GENERATOR, template_environment
from faceparity.render.formatting import NOT_AVAILABLE, fmt_number, fmt_rate, fmt_ratio
from faceparity.review.diff import AuditDiff, Change

__all__ = ["diff_html", "diff_json", "diff_markdown", "diff_rows"]

_RATES = ("FMR", "FNMR", "EER")


def _value(quantity: str, value: float | None) -> str:
    if quantity in _RATES:
        return fmt_rate(value)
    if quantity == "threshold":
        return fmt_number(value)
    return fmt_ratio(value)


def _interval(quantity: str, ci: tuple[float | None, float | None] | None) -> str:
    if ci is None:
        return ""
    return f"[{_value(quantity, ci[0])}, {_value(quantity, ci[1])}]"


def _signed(quantity: str, value: float | None) -> str:
    if value is None:
        return NOT_AVAILABLE
    return f"{value:+.3e}" if quantity in _RATES else f"{value:+.4g}"


def diff_rows(diff: AuditDiff) -> list[tuple[str, list[list[str]]]]:
    """The changes as formatted rows, one table per section (``groups`` then each point)."""
    sections: dict[str, list[list[str]]] = {}
    for c in diff.changes:
        sections.setdefault(c.section, []).append(_row(c))
    return list(sections.items())


def _row(c: Change) -> list[str]:
    a = _value(c.quantity, c.a) + (f" {_interval(c.quantity, c.a_ci)}" if c.a_ci else "")
    b = _value(c.quantity, c.b) + (f" {_interval(c.quantity, c.b_ci)}" if c.b_ci else "")
    ratio = NOT_AVAILABLE if c.ratio is None else f"{c.ratio:.3g}"
    return [c.subject, c.quantity, a, b, _signed(c.quantity, c.difference), ratio, c.verdict]


HEADER = ("subject", "quantity", "A", "B", "B - A", "B / A", "verdict")


def diff_markdown(diff: AuditDiff) -> str:
    """Markdown: notes, then one table per section."""
    env = template_environment("md")
    template = env.get_template("compare.md.j2")
    text = template.render(c=diff, sections=diff_rows(diff), generator=GENERATOR)
    return _squeeze(str(text))


def diff_html(diff: AuditDiff) -> str:
    """A self-contained HTML page (no script, no external resource)."""
    template = template_environment("html").get_template("compare.html.j2")
    return str(
        template.render(c=diff, sections=diff_rows(diff), header=HEADER, generator=GENERATOR)
    )


def diff_json(diff: AuditDiff) -> str:
    """JSON (:meth:`~faceparity.review.diff.AuditDiff.to_dict`), indented, newline at the end."""
    return json.dumps(diff.to_dict(), indent=2, allow_nan=False) + "\n"


def _squeeze(text: str) -> str:
    lines: list[str] = []
    for line in text.splitlines():
        if line.strip() == "" and lines and lines[-1] == "":
            continue
        lines.append(line.rstrip())
    return "\n".join(lines).strip() + "\n"
