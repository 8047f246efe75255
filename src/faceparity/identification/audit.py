"""The 1:N audit of an embeddings table: protocol, searches, metrics, in one call.

:func:`audit_identification` is what ``faceparity audit embeddings --mode
identification`` runs after the 1:1 audit: it groups the samples, builds the protocol
(seeded, or from a split column), searches (:func:`run_searches`) and computes every
1:N metric. :class:`Searches` keeps what the searches found with the subject of every
search, which the subject bootstrap of :mod:`faceparity.uncertainty.identification`
resamples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceparity.errors import InputError
from faceparity.identification.metrics import DEFAULT_TARGET_FPIRS, audit_searches
from faceparity.identification.protocol import (
    Protocol,
    ProtocolConfig,
    build_protocol,
    split_protocol,
)
from faceparity.identification.search import SearchConfig, SearchResult, search
from faceparity.model.config import PolicyKind, ThresholdPolicy
from faceparity.model.grouping import Group, intersect
from faceparity.readers.embeddings import EmbeddingTable
from faceparity.results.identification import IdentificationResult

__all__ = ["DEPTH", "Searches", "audit_identification", "run_searches"]

DEPTH = 20
"""Non-mated candidates kept per search at least (more when the rank R is larger)."""


@dataclass(frozen=True)
class Searches:
    """What the searches of a protocol found, with the groups and subjects behind them.

    Attributes
    ----------
    result : SearchResult
        Scores and ranks of every search.
    protocol : Protocol
        Gallery and searches.
    groups : tuple of Group
        The groups the protocol's codes index.
    probe_subject : ndarray of int64
        Subject code of each search's probe sample (the unit the bootstrap resamples).

    """

    result: SearchResult
    protocol: Protocol
    groups: tuple[Group, ...]
    probe_subject: npt.NDArray[np.int64]


def run_searches(
    table: EmbeddingTable,
    *,
    group_by: Sequence[str],
    protocol: ProtocolConfig | None = None,
    roles: npt.ArrayLike | None = None,
    split_column: str | None = None,
    rank: int = 1,
    block_size: int = 4096,
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    file: str | None = None,
) -> Searches:
    """The protocol of ``table``'s samples and what its searches find.

    Parameters are those of :func:`audit_identification`.
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
    subjects = np.asarray(table.subject, dtype=np.int64)[plan.probes]
    return Searches(found, plan, tuple(groups), subjects)


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
    found = run_searches(
        table,
        group_by=group_by,
        protocol=protocol,
        roles=roles,
        split_column=split_column,
        rank=rank,
        block_size=block_size,
        threads=threads,
        progress=progress,
        file=file,
    )
    return audit_searches(
        found.result,
        found.protocol,
        groups=found.groups,
        group_by=group_by,
        rank=rank,
        target_fpirs=target_fpirs,
        policies=policies,
    )
