"""Temporary: the old import path of :mod:`faceparity.render.acquisition.table`.

Remove it once the command line imports ``faceparity.render.acquisition.table``.
"""

from __future__ import annotations

from faceparity.render.acquisition.table import format_acquisition_table

__all__ = ["format_acquisition_table"]
