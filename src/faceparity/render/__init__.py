"""Rendering of results for people: text tables now, reports later."""

from faceparity.render.table import format_table

__all__ = ["format_table"]
