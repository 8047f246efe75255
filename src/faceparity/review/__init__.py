"""What is done with a finished audit: diffs, limits, scenarios, thresholds.

Every module here reads a :class:`~faceparity.results.AuditResult` (``results.json``) and
computes nothing from comparisons.
"""
