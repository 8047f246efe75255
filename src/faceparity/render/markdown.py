"""The report as a Markdown model card: the HTML report's content, charts as text."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from faceparity.render.card import NO_INTERVAL, build_card
from faceparity.render.charts import make_charts
from faceparity.render.environment import GENERATOR, template_environment

__all__ = ["render_markdown"]


def render_markdown(
    results: Mapping[str, Any],
    *,
    notices: Sequence[str] = (),
    target_fmr: float | None = None,
    policy: str | None = None,
    title: str | None = None,
) -> str:
    """The Markdown model card of a ``results.json`` mapping.

    Same sections, sentences and tables as :func:`~faceparity.render.html.render_html`;
    each chart is replaced by its caption and text alternative. Parameters as there.
    """
    card = build_card(
        results,
        charts=make_charts(results),
        notices=notices,
        target_fmr=target_fmr,
        policy=policy,
        title=title,
    )
    template = template_environment("md").get_template("report.md.j2")
    text = str(template.render(card=card, generator=GENERATOR, no_interval=NO_INTERVAL))
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
