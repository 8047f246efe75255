"""Temporary: the old import path of :func:`faceparity.render.report.render_markdown`.

Remove it once the command line imports ``faceparity.render.report``.
"""

from __future__ import annotations

from faceparity.render.report import render_markdown

__all__ = ["render_markdown"]
