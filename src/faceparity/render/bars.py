"""Horizontal bars, one per group, with interval whiskers: a rate or a share by group."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faceparity.render.figures import OKABE_ITO, figure, label_width

__all__ = ["bar_chart"]


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    lows: Sequence[float | None] | None = None,
    highs: Sequence[float | None] | None = None,
    xlabel: str,
    percent: bool = True,
    reference: Sequence[float | None] | None = None,
) -> Any:
    """A figure of one bar a group (a missing value draws no bar), whiskers where given.

    ``reference`` marks a second value per group (a reference population's share) as a
    black tick on the bar's row.
    """
    scale = 100.0 if percent else 1.0
    n = len(labels)
    width = 7.0
    left = min(max(label_width(labels) + 0.3, 0.9), 3.0)
    fig = figure(width, 0.6 + 0.32 * max(n, 1), left=left, bottom=0.5, top=0.1)
    ax = fig.add_subplot(1, 1, 1)
    y = list(range(n))[::-1]
    shown = [(v or 0.0) * scale for v in values]
    ax.barh(y, shown, color=OKABE_ITO[4], height=0.62)
    if lows is not None and highs is not None:
        for yi, v, lo, hi in zip(y, values, lows, highs, strict=True):
            if v is None or lo is None or hi is None:
                continue
            ax.plot([lo * scale, hi * scale], [yi, yi], color=OKABE_ITO[0], lw=1.4)
            ax.plot([lo * scale] * 2, [yi - 0.15, yi + 0.15], color=OKABE_ITO[0], lw=1.2)
            ax.plot([hi * scale] * 2, [yi - 0.15, yi + 0.15], color=OKABE_ITO[0], lw=1.2)
    if reference is not None:
        for yi, r in zip(y, reference, strict=True):
            if r is not None:
                ax.plot([r * scale] * 2, [yi - 0.38, yi + 0.38], color=OKABE_ITO[5], lw=2.2)
    ax.set_yticks(y)
    ax.set_yticklabels(list(labels))
    ax.set_xlabel(xlabel)
    ax.set_xlim(left=0)
    ax.grid(axis="x", color="#ddd", lw=0.6)
    ax.set_axisbelow(True)
    return fig
