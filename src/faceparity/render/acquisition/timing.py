"""The report's processing time by group (the ``processing_time`` section of the results)."""

from __future__ import annotations

from dataclasses import dataclass

from faceparity.render.formatting import NOT_AVAILABLE, describe_group, fmt_count
from faceparity.results.audit import AuditResult
from faceparity.results.processing import GroupProcessingTime

__all__ = ["ANCHOR", "TimingSection", "build_timing"]

ANCHOR = "processing-time"


@dataclass(frozen=True)
class TimingSection:
    """Rows of label, attributes, images, images timed, median and 90th percentile (ms)."""

    anchor: str
    rows: tuple[tuple[str, str, str, str, str, str], ...]
    notes: tuple[str, ...]


def _ms(seconds: float | None) -> str:
    return NOT_AVAILABLE if seconds is None else f"{1000 * seconds:.1f}"


def _row(g: GroupProcessingTime) -> tuple[str, str, str, str, str, str]:
    return (
        g.label,
        describe_group(g.attributes, g.label) if g.attributes else "every image",
        fmt_count(g.n_images),
        fmt_count(g.n_timed),
        _ms(g.median_seconds),
        _ms(g.p90_seconds),
    )


def build_timing(results: AuditResult) -> TimingSection | None:
    """The processing time section, or None when the results carry no processing time."""
    timing = results.processing_time
    if timing is None:
        return None
    rows = tuple(_row(g) for g in [*timing.groups, timing.overall])
    return TimingSection(anchor=ANCHOR, rows=rows, notes=tuple(timing.notes))
