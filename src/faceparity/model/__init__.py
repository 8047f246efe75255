"""The data model: comparisons, the groups they fall in, who they come from, the audit's settings.

Every reader produces a :class:`~faceparity.model.comparisons.ComparisonSet` (or feeds an
accumulator); every audit reads one. Nothing here computes a rate.
"""
