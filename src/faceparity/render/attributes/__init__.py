"""The report of an attribute-classifier audit (``faceparity audit attributes``)."""

from faceparity.render.attributes.card import render_attributes_html

__all__ = ["render_attributes_html"]
