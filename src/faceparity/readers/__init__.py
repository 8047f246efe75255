"""Readers: every supported input format becomes a :class:`~faceparity.ComparisonSet`."""

from faceparity.readers.attributes import AttributeSpec, parse_bins
from faceparity.readers.bfw import read_bfw
from faceparity.readers.bob import read_bob
from faceparity.readers.embeddings import load_embeddings, read_embeddings
from faceparity.readers.histogram import read_histogram
from faceparity.readers.pairs import read_pairs
from faceparity.readers.pairs_stream import StreamedPairs, accumulate_pairs
from faceparity.readers.rfw import read_rfw

__all__ = [
    "AttributeSpec",
    "StreamedPairs",
    "accumulate_pairs",
    "load_embeddings",
    "read_histogram",
    "parse_bins",
    "read_bfw",
    "read_bob",
    "read_embeddings",
    "read_pairs",
    "read_rfw",
]
