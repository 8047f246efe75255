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
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from markupsafe import Markup, escape

from faceparity.errors import UsageError
from faceparity.render.formatting import fmt_percent

__all__ = [
    "MATPLOTLIB_HINT",
    "OKABE_ITO",
    "Chart",
    "figure",
    "label_width",
    "line_style",
    "log_scale",
    "positive_pairs",
    "rate_span",
    "readable_scale",
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
    """One chart: an id for the page, its caption, its text alternative and its SVG.

    ``draw`` makes the matplotlib figure; :attr:`svg` calls it on first use only.
    """

    key: str
    title: str
    caption: str
    alt: str
    draw: Callable[[], Any] = field(repr=False, compare=False)

    @cached_property
    def svg(self) -> Markup:
        """The chart as an inline ``<svg>`` element, drawn on first use."""
        return svg(self.draw(), self.key, self.alt)


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


def label_width(labels: Sequence[str], *, size: float = 8.3) -> float:
    """Inches a line of the longest of ``labels`` takes at ``size`` points (an upper estimate).

    0.62 em a character covers the average width of DejaVu Sans, matplotlib's default
    font, with room for the wider capitals.
    """
    longest = max((len(text) for text in labels), default=0)
    return longest * 0.62 * size / 72.0


def figure(
    width: float,
    height: float,
    *,
    left: float = 0.9,
    right: float = 0.2,
    bottom: float = 0.6,
    top: float = 0.2,
    gap: float = 0.0,
) -> Any:
    """A matplotlib figure of ``width`` x ``height`` inches with fixed margins (no pyplot).

    ``left``, ``right``, ``bottom`` and ``top`` are the margins around the axes and
    ``gap`` the space between side-by-side axes, in inches; they are fixed here, so
    saving the figure draws it once (no layout engine).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - matplotlib is a dependency
        raise UsageError(MATPLOTLIB_HINT) from err
    left, right = min(left, 0.45 * width), min(right, 0.25 * width)
    bottom, top = min(bottom, 0.45 * height), min(top, 0.25 * height)
    axes_width = max(width - left - right, 0.1)
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(
        left=left / width,
        right=1.0 - right / width,
        bottom=bottom / height,
        top=1.0 - top / height,
        wspace=gap / max((axes_width - gap) / 2.0, 0.1),
    )
    return fig


_SUPERSCRIPT = str.maketrans(
    "-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
)


def _power_of_ten(value: float) -> str:
    """``10⁻³`` for 0.001 (plain text, no mathtext to parse), ``0.2`` otherwise."""
    if value > 0:
        exponent = round(math.log10(value))
        if math.isclose(value, 10.0**exponent, rel_tol=1e-9):
            return "1" if exponent == 0 else "10" + str(exponent).translate(_SUPERSCRIPT)
    return f"{value:g}"


def log_scale(ax: Any, which: str) -> None:
    """Put the ``which`` (``"x"`` or ``"y"``) axis of ``ax`` on a log scale, labelled in plain text.

    Decades read ``10⁻³``; minor ticks sit at 2 and 5 times each decade, labelled when
    the axis spans less than a factor of 30. matplotlib's own labels are mathtext, parsed
    label by label, a good part of a report's drawing time.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator

    if which == "x":
        ax.set_xscale("log")
        axis = ax.xaxis
    else:
        ax.set_yscale("log")
        axis = ax.yaxis

    def minor(value: float, _position: int) -> str:
        low, high = sorted(axis.get_view_interval())
        leading = f"{value:.0e}"[0]
        return f"{value:g}" if 0 < low and high <= 30 * low and leading in "25" else ""

    axis.set_major_formatter(FuncFormatter(lambda value, _position: _power_of_ten(value)))
    # Minor ticks at 2 and 5 times each decade only: each tick is a costly object, and
    # eight a decade over many decades made most of a chart's drawing time.
    axis.set_minor_locator(LogLocator(base=10.0, subs=(2.0, 5.0)))
    axis.set_minor_formatter(FuncFormatter(minor))


def readable_scale(values: Sequence[float]) -> float:
    """A power of ten to divide ``values`` by before drawing them, or 1.0.

    matplotlib computes axis spans and tick positions in float64: values near the largest
    float (1.7e308) overflow them (singular transforms, infinite tick ranges). Values
    beyond 1e100 in magnitude are drawn in units of a power of ten, named on the axis.
    """
    finite = [abs(v) for v in values if math.isfinite(v)]
    largest = max(finite, default=0.0)
    if largest <= 1e100:
        return 1.0
    return 10.0 ** math.floor(math.log10(largest))


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
