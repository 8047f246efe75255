"""The HTML composition card (``faceparity composition``)."""

from faceparity.render.composition.card import render_composition_html

__all__ = ["render_composition_html"]
