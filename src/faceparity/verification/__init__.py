"""The 1:1 audit: per-group FMR and FNMR at the operating points, from comparisons or accumulators.

:func:`~faceparity.verification.audit.audit` reads a list of comparisons,
:func:`~faceparity.verification.audit.audit_accumulated` a streaming accumulator,
:func:`~faceparity.verification.stream.audit_embeddings_streaming` every pair of an
embeddings table through the streaming engine.
"""
