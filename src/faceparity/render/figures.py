"""What every chart of the report shares: the palette, the figure, inline SVG, the Chart.

Colours are the Okabe-Ito palette (Okabe and Ito 2008, "Color Universal Design"), safe
for the common colour-vision deficiencies, and lines also differ in style so the charts
survive grey-scale printing. matplotlib is imported inside the functions (it is slow to
import and only the report needs it); figures are made with
:class:`matplotlib.figure.Figure`, never pyplot, so no global state is touched. Every
chart comes with a caption and a text alternative (the SVG root carries ``role="img"``
and a ``<title>``), so a reader who cannot see it still gets its content.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from faceparity.errors import UsageError
from faceparity.render.formatting import fmt_percent

__all__ = [
    "MATPLOTLIB_HINT",
    "OKABE_ITO",
    "Chart",
    "figure",
    "line_style",
    "positive_pairs",
    "rate_span",
    "svg",
    "tex_safe",
]

OKABE_ITO = (
    "#000000",
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    "#F0E442",
)
"""Okabe-Ito colours, black first (the yellow, hardest to see on white, last)."""

_LINESTYLES = ("-", "--", "-.", ":")

MATPLOTLIB_HINT = (
    "the report needs matplotlib and jinja2; install them with "
    "`pip install 'matplotlib>=3.8' 'jinja2>=3.1'` (they are dependencies of faceparity)"
)


@dataclass(frozen=True)
class Chart:
    """One chart: an id for the page, its caption, its text alternative and its SVG."""

    key: str
    title: str
    caption: str
    alt: str
    svg: Markup


def rate_span(groups: Sequence[Any], rate: str) -> str:
    """``RATE from x% (lowest group) to y% (highest group)``: a chart's text alternative.

    ``groups`` are rows with a ``label`` and the attribute ``rate`` (a fraction or None).
    """
    defined = [
        (float(getattr(g, rate)), str(g.label)) for g in groups if getattr(g, rate) is not None
    ]
    if not defined:
        return f"no group has a measured {rate.upper()}"
    lo = min(defined, key=lambda g: g[0])
    hi = max(defined, key=lambda g: g[0])
    return f"{rate.upper()} from {fmt_percent(lo[0])} ({lo[1]}) to {fmt_percent(hi[0])} ({hi[1]})"


def line_style(i: int) -> dict[str, Any]:
    """Colour and line style of the ``i``-th series: colour first, then the dash pattern."""
    return {
        "color": OKABE_ITO[i % len(OKABE_ITO)],
        "linestyle": _LINESTYLES[(i // len(OKABE_ITO) + i) % len(_LINESTYLES)],
    }


def tex_safe(text: str) -> str:
    """Keep matplotlib from reading ``$...$`` in a group name as mathtext."""
    return text.replace("\\", "\\\\").replace("$", r"\$")


def figure(width: float, height: float) -> Any:
    """A matplotlib figure of ``width`` x ``height`` inches, laid out to fit (no pyplot)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - matplotlib is a dependency
        raise UsageError(MATPLOTLIB_HINT) from err
    return Figure(figsize=(width, height), layout="constrained")


def svg(fig: Any, key: str, alt: str) -> Markup:
    """The figure as an inline ``<svg>`` element with ``role="img"`` and a ``<title>``."""
    import matplotlib

    buffer = io.StringIO()
    # A salt per chart keeps the ids of several inline SVGs on one page distinct and the
    # output reproducible; text stays text (smaller, searchable) in a generic font.
    with matplotlib.rc_context({"svg.hashsalt": key, "svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    start = text.index("<svg")
    body = text[start:]
    body = re.sub(r'^<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", body, count=1)
    head_end = body.index(">") + 1
    title_id = f"{key}-title"
    head = body[: head_end - 1] + f' role="img" aria-labelledby="{title_id}">'
    title = f'<title id="{title_id}">{escape(alt)}</title>'
    return Markup(head + title + body[head_end:])


def positive_pairs(
    xs: Sequence[float | None], ys: Sequence[float | None]
) -> tuple[list[float], list[float], int]:
    """The points whose coordinates are both positive (drawable on log axes); the rest counted."""
    px, py, dropped = [], [], 0
    for x, y in zip(xs, ys, strict=True):
        if x is None or y is None or x <= 0 or y <= 0:
            dropped += 1
        else:
            px.append(float(x))
            py.append(float(y))
    return px, py, dropped
