"""A readable terminal table of the ``acquisition`` section of a result (plain text).

Failures to acquire and enrol by group (ISO/IEC 19795-1), with their intervals and
main reasons, the images without a group, and, per operating point, each group's FNMR
next to the generalised FNMR that counts an image without a template as a false
non-match. Rates are fractions in scientific notation, as in the 1:1 table.
"""

from __future__ import annotations

from collections.abc import Mapping

from faceparity.render.formatting import fmt_count, fmt_interval, fmt_rate, text_grid
from faceparity.results.acquisition import AcquisitionGroup, AcquisitionResult
from faceparity.results.common import Interval

__all__ = [
    "NO_BOOTSTRAP_INTERVAL",
    "NO_FNMR_GROUPS",
    "SKIN_TONE_ATTRIBUTES",
    "format_acquisition_table",
    "reasons_text",
]

SKIN_TONE_ATTRIBUTES = ("ita", "ita_band")
"""Attributes that are the pipeline's skin-tone measure (Individual Typology Angle)."""

NO_INTERVAL = "-"

NO_BOOTSTRAP_INTERVAL = (
    "a bootstrap interval is missing where too many replicates drew none of the group's "
    "subjects (no images, so no rate): the group has too few subjects for one"
)

NO_FNMR_GROUPS = (
    "no FNMR with failures: no group here is a group of the 1:1 audit (they were grouped "
    "by different attributes)"
)


def reasons_text(reasons: Mapping[str, int], *, limit: int | None = None) -> str:
    """Failure reasons, most frequent first, as ``reason: count; ...`` (``-`` when none).

    Parameters
    ----------
    reasons : mapping of str to int
        Images per failure reason.
    limit : int, optional
        Show at most this many reasons, then how many more there are.

    Returns
    -------
    str

    Examples
    --------
    >>> reasons_text({"corrupt image": 1, "no face found": 3, "not an image": 1}, limit=2)
    'no face found: 3; corrupt image: 1; 1 more'
    >>> reasons_text({})
    '-'

    """
    if not reasons:
        return "-"
    ranked = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    shown = ranked if limit is None else ranked[:limit]
    text = "; ".join(f"{reason}: {fmt_count(count)}" for reason, count in shown)
    if len(ranked) > len(shown):
        text += f"; {len(ranked) - len(shown)} more"
    return text


def _interval(ci: Interval | None) -> str:
    """``[low, high]``, or ``-`` where no interval was computed (or the bootstrap gave none)."""
    if ci is None or ci.ci_low is None or ci.ci_high is None:
        return NO_INTERVAL
    return fmt_interval(ci, fmt_rate)


def _group_row(g: AcquisitionGroup) -> list[str]:
    return [
        g.label,
        fmt_count(g.n_images),
        fmt_count(g.n_subjects),
        fmt_count(g.n_enrolled),
        fmt_count(g.n_failure_to_acquire),
        fmt_rate(g.fta),
        _interval(g.fta_ci),
        fmt_count(g.n_failure_to_enrol),
        fmt_rate(g.fte),
        _interval(g.fte_ci),
        reasons_text(g.reasons, limit=2),
    ]


def _fnmr_lines(acquisition: AcquisitionResult) -> list[str]:
    """Per operating point and group, FNMR and generalised FNMR; none without such groups."""
    by_label = {g.label: g for g in (*acquisition.groups, acquisition.overall)}
    rows = []
    for point in acquisition.fnmr_with_failures:
        for row in point.groups:
            g = by_label.get(row.label)
            without = None if g is None or g.fta is None or g.fte is None else g.fta + g.fte
            rows.append(
                [
                    f"{point.target_fmr:g}",
                    point.policy,
                    row.label,
                    fmt_rate(row.fnmr),
                    fmt_rate(without),
                    fmt_rate(row.fnmr_with_failures),
                ]
            )
    title = (
        "FNMR of the enrolled images and FNMR with failures (an image without a template "
        "counts as a false non-match; the generalised FNMR of ISO/IEC 19795-1)"
    )
    header = ["target FMR", "policy", "group", "FNMR", "FTA + FTE", "FNMR with failures"]
    return [title, *text_grid(header, rows, left=frozenset({1, 2}))] if rows else []


def format_acquisition_table(acquisition: AcquisitionResult) -> str:
    """The failures to acquire and enrol as plain text, then the generalised FNMRs.

    Parameters
    ----------
    acquisition : AcquisitionResult
        The ``acquisition`` section of an audit's result.

    Returns
    -------
    str
        One block per table, blank lines between, a final newline.

    """
    o = acquisition.overall
    head = [
        "failures to acquire and enrol (image pipeline; ISO/IEC 19795-1, shares of all images)",
        f"{fmt_count(o.n_images)} images of {fmt_count(o.n_subjects)} subjects: "
        f"{fmt_count(o.n_enrolled)} enrolled, {fmt_count(o.n_failure_to_acquire)} failures "
        f"to acquire, {fmt_count(o.n_failure_to_enrol)} failures to enrol",
    ]
    header = [
        "group",
        "images",
        "subjects",
        "enrolled",
        "not acquired",
        "FTA",
        "FTA interval",
        "not enrolled",
        "FTE",
        "FTE interval",
        "main reasons",
    ]
    rows = [_group_row(g) for g in [*acquisition.groups, o]]
    table = [*head, *text_grid(header, rows, left=frozenset({len(header) - 1}))]
    table.append(f"images without a group: {fmt_count(acquisition.n_ungrouped)}")
    methods = dict.fromkeys(
        ci.method
        for g in [*acquisition.groups, o]
        for ci in (g.fta_ci, g.fte_ci)
        if ci and ci.method
    )
    notes = [*(f"intervals: {m}" for m in methods)]
    if any(
        ci is not None and ci.ci_low is None
        for g in [*acquisition.groups, o]
        for ci in (g.fta_ci, g.fte_ci)
    ):
        notes.append(f"-: {NO_BOOTSTRAP_INTERVAL}")
    notes.extend(acquisition.notes)
    attributes = {name for g in acquisition.groups for name in g.attributes}
    if attributes & set(SKIN_TONE_ATTRIBUTES):
        notes.append(
            "skin tone (ITA) is measured on the aligned face and depends on lighting, white "
            "balance, camera processing and make-up; it is not ethnicity nor a Fitzpatrick "
            "type; an image without a face has no ITA, so it is without a group"
        )
    table.extend(f"  note: {n}" for n in notes)
    fnmr = _fnmr_lines(acquisition)
    if acquisition.fnmr_with_failures and not fnmr:
        table.append(f"  note: {NO_FNMR_GROUPS}")
    blocks = ["\n".join(table)]
    if fnmr:
        blocks.append("\n".join(fnmr))
    return "\n\n".join(blocks) + "\n"
