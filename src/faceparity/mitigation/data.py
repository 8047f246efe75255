"""What a mitigation method reads: the comparisons, the group of each side, the templates.

:class:`MitigationData` holds a :class:`~faceparity.model.comparisons.ComparisonSet`,
its :class:`~faceparity.model.grouping.Grouping`, and, for an embedding table, the
template of each side (the k-means methods and the cohort T-norm need them; a pair
table has none, and those methods are unavailable on it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceparity.model.comparisons import ComparisonSet
from faceparity.model.grouping import Grouping, group_comparisons
from faceparity.readers.embeddings import EmbeddingTable

__all__ = ["MitigationData"]


@dataclass(frozen=True, eq=False)
class MitigationData:
    """Comparisons with their groups and, where there are embeddings, their templates.

    Attributes
    ----------
    comparisons : ComparisonSet
        Every comparison.
    grouping : Grouping
        The group of each side (``MISSING`` where unknown).
    templates : ndarray of float64, shape (m, d), optional
        Unit-norm templates, one per sample.
    template_subject : ndarray of int64, shape (m,), optional
        The subject code (into ``comparisons.subject_ids``) of each template.
    template_group : ndarray of int32, shape (m,), optional
        The group (index into ``grouping.groups``, or ``MISSING``) of each template.
    side_template : ndarray of int64, shape (n, 2), optional
        The template of each side of each comparison.

    """

    comparisons: ComparisonSet
    grouping: Grouping
    templates: npt.NDArray[np.float64] | None = None
    template_subject: npt.NDArray[np.int64] | None = None
    template_group: npt.NDArray[np.int32] | None = None
    side_template: npt.NDArray[np.int64] | None = None

    @property
    def has_templates(self) -> bool:
        """Whether the comparisons come with their templates."""
        return self.templates is not None

    @property
    def similarity(self) -> npt.NDArray[np.float64]:
        """The scores as similarities (distances negated)."""
        return self.comparisons.similarity

    @property
    def groups(self) -> npt.NDArray[np.int32]:
        """The group of each side, shape (n, 2)."""
        return self.grouping.codes

    @classmethod
    def of(
        cls,
        comparisons: ComparisonSet,
        group_by: Sequence[str],
        *,
        table: EmbeddingTable | None = None,
    ) -> MitigationData:
        """The data of ``comparisons`` grouped by ``group_by``; with the templates of ``table``.

        ``table`` is the embedding table the comparisons were formed from
        (:func:`~faceparity.readers.embeddings.compare_all`): its sample codes are its rows.
        """
        grouping = group_comparisons(comparisons, group_by)
        if table is None or comparisons.sample is None:
            return cls(comparisons, grouping)
        values = np.asarray(table.values, dtype=np.float64)
        values = values / np.linalg.norm(values, axis=1, keepdims=True)
        side = np.searchsorted(table.rows, comparisons.sample)
        template_group = np.full(len(table.rows), -1, dtype=np.int32)
        template_group[side.ravel()] = grouping.codes.ravel()
        return cls(
            comparisons,
            grouping,
            templates=values,
            template_subject=np.asarray(table.subject, dtype=np.int64),
            template_group=template_group,
            side_template=side.astype(np.int64),
        )
