"""Temporary: the old import path of :mod:`faceparity.render.diff`.

Remove it once the command line imports ``faceparity.render.diff``.
"""

from __future__ import annotations

from faceparity.render.diff import comparison_html, comparison_json, comparison_markdown

__all__ = ["comparison_html", "comparison_json", "comparison_markdown"]
