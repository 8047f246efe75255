"""The report as one self-contained HTML file (inline CSS and SVG; no script, no network).

The page declares a Content-Security-Policy that forbids scripts and every external
resource, so even a string that escaped escaping could not run or fetch anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from faceparity.render.card import NO_INTERVAL, build_card
from faceparity.render.charts import make_charts
from faceparity.render.environment import GENERATOR, template_environment

__all__ = ["render_html"]


def render_html(
    results: Mapping[str, Any],
    *,
    notices: Sequence[str] = (),
    target_fmr: float | None = None,
    policy: str | None = None,
    title: str | None = None,
) -> str:
    """The HTML report of a ``results.json`` mapping.

    Parameters
    ----------
    results : mapping
        ``results.json`` as read by :func:`~faceparity.results.loading.read_results`.
    notices : sequence of str, default ()
        Shown first and among the caveats (the demo says its data are synthetic).
    target_fmr, policy : optional
        The operating point of the one-sentence differential.
    title : str, optional
        The page's title.

    Returns
    -------
    str
        A complete HTML document.

    """
    card = build_card(
        results,
        charts=make_charts(results),
        notices=notices,
        target_fmr=target_fmr,
        policy=policy,
        title=title,
    )
    template = template_environment("html").get_template("report.html.j2")
    return str(template.render(card=card, generator=GENERATOR, no_interval=NO_INTERVAL))
