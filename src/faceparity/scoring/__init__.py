"""Scoring: from embeddings (templates) to comparison scores."""

from faceparity.scoring.cosine import all_pairs_cosine, normalize_rows, pair_offsets

__all__ = ["all_pairs_cosine", "normalize_rows", "pair_offsets"]
