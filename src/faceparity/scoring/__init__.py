"""Scoring: from embeddings (templates) to comparison scores."""

from faceparity.scoring.cosine import (
    all_pairs_cosine,
    cosine_scores,
    normalize_rows,
    pair_indices,
    pair_offsets,
    pair_sides,
)

__all__ = [
    "all_pairs_cosine",
    "cosine_scores",
    "normalize_rows",
    "pair_indices",
    "pair_offsets",
    "pair_sides",
]
