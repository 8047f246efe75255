"""The 1:N audit of an embeddings table: protocol, searches, metrics, in one call.

:func:`audit_identification` is what ``faceparity audit embeddings --mode
identification`` runs after the 1:1 audit: it groups the samples, builds the protocol
(seeded, or from a split column), searches and computes every 1:N metric.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy.typing as npt

from faceparity.errors import InputError
from faceparity.identification.metrics import DEFAULT_TARGET_FPIRS, audit_searches
from faceparity.identification.protocol import ProtocolConfig, build_protocol, split_protocol
from faceparity.identification.search import SearchConfig, search
from faceparity.model.config import PolicyKind, ThresholdPolicy
from faceparity.model.grouping import intersect
from faceparity.readers.embeddings import EmbeddingTable
from faceparity.results.identification import IdentificationResult

__all__ = ["DEPTH", "audit_identification"]

DEPTH = 20
"""Non-mated candidates kept per search at least (more when the rank R is larger)."""


def audit_identification(
    table: EmbeddingTable,
    *,
    group_by: Sequence[str],
    protocol: ProtocolConfig | None = None,
    roles: npt.ArrayLike | None = None,
    split_column: str | None = None,
    rank: int = 1,
    target_fpirs: Sequence[float] = DEFAULT_TARGET_FPIRS,
    policies: Sequence[ThresholdPolicy] = (ThresholdPolicy(PolicyKind.GLOBAL),),
    block_size: int = 4096,
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    file: str | None = None,
) -> IdentificationResult:
    """The open-set 1:N audit of the samples of ``table``.

    Parameters
    ----------
    table : EmbeddingTable
        Embeddings joined to their metadata.
    group_by : sequence of str
        Attributes whose intersection defines the groups.
    protocol : ProtocolConfig, optional
        The seeded protocol's options (ignored when ``roles`` is given).
    roles : array-like of bool, optional
        A user-given split, True for gallery samples (see
        :func:`~faceparity.identification.protocol.read_roles`).
    split_column : str, optional
        The column ``roles`` came from, for the record.
    rank : int, default 1
        Candidate list length R.
    target_fpirs, policies : sequences
        The operating points.
    block_size, threads : int
        How the searches run.
    progress : callable, optional
        Called with (comparisons done, comparisons in all).
    file : str, optional
        The metadata file, named in errors.

    Returns
    -------
    IdentificationResult

    """
    for name in group_by:
        if name not in table.levels:
            known = ", ".join(sorted(table.levels)) or "none"
            raise InputError(
                f"group-by attribute {name!r} is not defined; attributes defined: {known}"
            )
    groups, codes = intersect(table.attributes, table.levels, group_by)
    config = protocol or ProtocolConfig()
    if roles is not None:
        plan = split_protocol(
            table.subject, codes, roles, seed=config.seed, split_column=split_column, file=file
        )
    else:
        plan = build_protocol(table.subject, codes, config=config, file=file)
    search_config = SearchConfig(
        depth=max(rank, DEPTH),
        block_size=block_size,
        threads=threads or SearchConfig().threads,
    )
    found = search(table.values, plan, config=search_config, progress=progress)
    result = audit_searches(
        found,
        plan,
        groups=groups,
        group_by=group_by,
        rank=rank,
        target_fpirs=target_fpirs,
        policies=policies,
    )
    return result
