"""Who and what a face data set holds: the composition card (``faceparity composition``)."""

from faceparity.composition.card import CompositionConfig, compose, errors_needed

__all__ = ["CompositionConfig", "compose", "errors_needed"]
