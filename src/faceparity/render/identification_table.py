"""Temporary: the old import path of :mod:`faceparity.render.identification.table`.

Remove it once the command line imports ``faceparity.render.identification.table``.
"""

from __future__ import annotations

from faceparity.render.identification.table import (
    format_identification_table,
    format_scenario_table,
)

__all__ = ["format_identification_table", "format_scenario_table"]
