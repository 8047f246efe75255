"""Balanced Faces in the Wild (BFW) datatables.

BFW (Robinson et al., "Face Recognition: Too Bias, or Not Too Bias?", CVPR
Workshops 2020) ships its pairs as one table with the columns::

    fold, p1, p2, label, id1, id2, att1, att2, vgg16, resnet50, senet50,
    a1, a2, g1, g2, e1, e2

``p1``/``p2`` are the image paths (sample ids), ``id1``/``id2`` the subject ids,
``label`` is 1 for a mated pair and 0 for a non-mated one, the score columns hold
the cosine similarity of one CNN each, ``a1``/``a2`` the subgroup (``AF``, ``BM``,
...), ``g1``/``g2`` the sex (``F``/``M``) and ``e1``/``e2`` the ethnicity
(``A``/``B``/``I``/``W``) of each side. The table is read with
:func:`~faceparity.readers.pairs.read_pairs`, so every check of a pair table applies
(the label must agree with the subject ids; a pair listed twice is kept once and
counted).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from faceparity.model.comparisons import ComparisonSet
from faceparity.model.config import ScoreKind
from faceparity.readers.attributes import AttributeSpec
from faceparity.readers.pairs import read_pairs

__all__ = ["BFW_ATTRIBUTES", "read_bfw"]

BFW_ATTRIBUTES: tuple[AttributeSpec, ...] = (
    AttributeSpec("sex", ("g1", "g2")),
    AttributeSpec("ethnicity", ("e1", "e2")),
    AttributeSpec("subgroup", ("a1", "a2")),
)
"""The attributes of a BFW table and the columns of each side."""


def read_bfw(path: str | os.PathLike[str], *, score: str, score_kind: ScoreKind) -> ComparisonSet:
    """Read a BFW datatable (CSV, TSV or Parquet) into a ComparisonSet.

    Parameters
    ----------
    path : str or path-like
        The datatable.
    score : str
        The score column: ``vgg16``, ``resnet50``, ``senet50`` or any other column of
        numbers the table has.
    score_kind : ScoreKind
        Direction of the scores; required, never guessed (BFW's own scores are
        cosine similarities, ``ScoreKind.SIMILARITY``).

    Returns
    -------
    ComparisonSet
        Subjects from ``id1``/``id2``, samples from ``p1``/``p2``, mated from
        ``label``, attributes ``sex`` (``g1``/``g2``), ``ethnicity``
        (``e1``/``e2``) and ``subgroup`` (``a1``/``a2``).

    Raises
    ------
    InputError
        As :func:`~faceparity.readers.pairs.read_pairs`.

    """
    cs = read_pairs(
        path,
        score=score,
        score_kind=score_kind,
        subjects=("id1", "id2"),
        mated="label",
        samples=("p1", "p2"),
        attributes=BFW_ATTRIBUTES,
    )
    return dataclasses.replace(
        cs, source=f"BFW datatable {Path(path).name}, score column {score!r}"
    )
