"""Temporary: the old import path of :func:`faceparity.render.report.render_html`.

The command line and the demo still import ``faceparity.render.html`` and pass the
``results.json`` mapping; this module turns a mapping into the typed
:class:`~faceparity.results.AuditResult` first. Remove it once they call
``faceparity.render.report.render_html(result)`` with the result itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faceparity.render import report
from faceparity.results.audit import AuditResult

__all__ = ["render_html"]


def render_html(results: AuditResult | Mapping[str, Any], **options: Any) -> str:
    """:func:`faceparity.render.report.render_html` of a result or its JSON mapping."""
    typed = results if isinstance(results, AuditResult) else AuditResult.from_dict(dict(results))
    return report.render_html(typed, **options)
