"""Readers: every supported input format becomes a :class:`~faceparity.ComparisonSet`."""

from faceparity.readers.attributes import AttributeSpec, band_labels, encode_attribute, parse_bins

__all__ = ["AttributeSpec", "band_labels", "encode_attribute", "parse_bins"]
