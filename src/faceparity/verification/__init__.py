"""The 1:1 audit: per-group FMR and FNMR at the operating points, from comparisons or accumulators.

:func:`~faceparity.verification.audit.audit` reads a list of comparisons,
:func:`~faceparity.verification.audit.audit_accumulated` a streaming accumulator,
:func:`~faceparity.verification.stream.audit_embeddings_streaming` every pair of an
embeddings table through the streaming engine
(:func:`~faceparity.verification.stream.stream_embeddings_audit` keeps the accumulator
and the samples the subject bootstrap needs).
"""
