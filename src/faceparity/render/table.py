"""Temporary: the old import path of :func:`faceparity.render.verification.table.format_table`.

Remove it once the command line and the demo import ``faceparity.render.verification.table``.
"""

from __future__ import annotations

from faceparity.render.verification.table import format_table

__all__ = ["format_table"]
