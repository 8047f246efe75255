"""Audits of embeddings through the streaming engine (no list of comparisons is built).

:func:`audit_embeddings_streaming` groups the samples, streams every pair through
:func:`faceparity.scoring.engine.stream_embeddings` and audits the accumulator with
:func:`faceparity.verification.audit.audit_accumulated`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceparity.accumulate.accumulator import Accumulator
from faceparity.errors import InputError
from faceparity.model.comparisons import MISSING
from faceparity.model.config import AuditConfig
from faceparity.model.grouping import intersect
from faceparity.model.population import Population
from faceparity.readers.embeddings import EmbeddingTable
from faceparity.results.audit import AuditResult
from faceparity.scoring.engine import EngineConfig, stream_embeddings
from faceparity.verification.audit import audit_accumulated

__all__ = ["StreamedAudit", "audit_embeddings_streaming", "stream_embeddings_audit"]


@dataclass(frozen=True)
class StreamedAudit:
    """A streamed audit with what its subject bootstrap needs.

    ``samples`` is the subject code and the group slot of every sample (the slot of a
    sample in no group is the number of groups).
    """

    result: AuditResult
    accumulator: Accumulator
    samples: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]


def audit_embeddings_streaming(
    table: EmbeddingTable,
    *,
    group_by: Sequence[str],
    config: AuditConfig | None = None,
    engine: EngineConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    scheduler: str | None = None,
) -> AuditResult:
    """The audit of every pair of samples of ``table``, by the streaming engine.

    The result of :func:`stream_embeddings_audit` (same parameters), without intervals.
    """
    return stream_embeddings_audit(
        table,
        group_by=group_by,
        config=config,
        engine=engine,
        progress=progress,
        scheduler=scheduler,
    ).result


def stream_embeddings_audit(
    table: EmbeddingTable,
    *,
    group_by: Sequence[str],
    config: AuditConfig | None = None,
    engine: EngineConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    scheduler: str | None = None,
    ready: Callable[[], None] | None = None,
) -> StreamedAudit:
    """The audit of every pair of samples of ``table`` by the streaming engine, kept whole.

    Parameters
    ----------
    table : EmbeddingTable
        Embeddings joined to their metadata (:func:`faceparity.readers.load_embeddings`).
    group_by : sequence of str
        Attributes whose intersection defines the groups.
    config : AuditConfig, optional
        What the audit computes.
    engine : EngineConfig, optional
        How the engine runs (block size, threads, backend, checkpoint).
    progress : callable, optional
        Called with (comparisons done, comparisons in all).
    scheduler : str, optional
        Address of a Dask scheduler to run the blocks on (``faceparity[dask]``).
    ready : callable, optional
        Waited for before the first score is counted (see
        :func:`~faceparity.scoring.engine.stream_embeddings`).

    Returns
    -------
    StreamedAudit
        The result (no intervals), the accumulator (its exact scores are what the
        subject bootstrap reweights) and the subject and group slot of every sample.

    """
    for name in group_by:
        if name not in table.levels:
            known = ", ".join(sorted(table.levels)) or "none"
            raise InputError(
                f"group-by attribute {name!r} is not defined; attributes defined: {known}"
            )
    groups, codes = intersect(table.attributes, table.levels, group_by)
    n_groups = len(groups)
    slot = np.where(codes == MISSING, n_groups, codes).astype(np.int64)
    if scheduler is None:
        accumulator = stream_embeddings(
            table.values,
            table.subject,
            slot,
            n_groups=n_groups,
            config=engine,
            progress=progress,
            ready=ready,
        )
    else:
        from faceparity.scoring.distributed import stream_embeddings_dask

        if ready is not None:
            ready()
        accumulator = stream_embeddings_dask(
            table.values,
            table.subject,
            slot,
            n_groups=n_groups,
            config=engine,
            scheduler=scheduler,
            progress=progress,
        )
    in_group = slot < n_groups
    per_group_subjects = [len(np.unique(table.subject[slot == g])) for g in range(n_groups)]
    population = Population(
        n_subjects=per_group_subjects,
        n_samples=[int(v) for v in np.bincount(slot[in_group], minlength=n_groups)],
        n_subjects_total=len(np.unique(table.subject)),
        n_samples_total=len(table.subject),
    )
    result = audit_accumulated(
        accumulator,
        groups=groups,
        group_by=group_by,
        population=population,
        config=config,
        source=table.source,
        exclusions=table.exclusions,
    )
    return StreamedAudit(result, accumulator, (table.subject, slot))
