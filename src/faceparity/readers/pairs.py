"""Generic pair tables: one comparison per row, the columns named by the user.

A pair table is a CSV (``.csv``), TSV (``.tsv``) or Parquet (``.parquet``, ``.pq``)
file with a header and one comparison of two samples per row: a score column, the
subject id of each side, and optionally a mated label, the sample id of each side
and attribute columns (one column shared by both sides, or one per side).

Missing attribute values (empty cells) are not errors here; they are coded as
missing and counted by the audit. Everything else that cannot be read as stated is
an :class:`~faceparity.errors.InputError` naming the file, the 1-based data row
(header not counted) and the column.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from faceparity.model.comparisons import ComparisonSet
from faceparity.model.config import ScoreKind
from faceparity.readers._table import (
    Origin,
    assemble,
    check_attribute_names,
    check_column_pair,
    check_score_kind,
    encode_attributes,
    load_table,
    parse_ids,
    parse_mated,
    parse_scores,
    require_columns,
)
from faceparity.readers.attributes import AttributeSpec

__all__ = ["read_pairs"]


def read_pairs(
    path: str | os.PathLike[str],
    *,
    score: str,
    score_kind: ScoreKind,
    subjects: tuple[str, str],
    mated: str | None = None,
    samples: tuple[str, str] | None = None,
    attributes: Sequence[AttributeSpec] = (),
) -> ComparisonSet:
    r"""Read a pair table (CSV, TSV or Parquet) into a ComparisonSet.

    Parameters
    ----------
    path : str or path-like
        The table; its format is chosen by the ending ``.csv``, ``.tsv``,
        ``.parquet`` or ``.pq``.
    score : str
        The score column. Every value must be a finite number.
    score_kind : ScoreKind
        Direction of the scores; required, never guessed.
    subjects : (str, str)
        Subject id columns of the first and the second side.
    mated : str, optional
        A mated label column: ``1``/``0``, ``true``/``false``, ``mated``/``non-mated``
        (or ``non_mated``), in any case. It must agree with the subject ids. Without
        it, a comparison is mated when its two subject ids are equal.
    samples : (str, str), optional
        Sample (image) id columns of the two sides, one code space for both. With
        them, a sample must belong to one subject, the audit counts samples, and a
        comparison of the same two samples given again (in either order) is kept
        once, the repeats counted as an exclusion.
    attributes : sequence of AttributeSpec
        Attributes to read: one column for both sides, or one column per side.

    Returns
    -------
    ComparisonSet
        The comparisons in file order, repeats removed.

    Raises
    ------
    InputError
        For an unreadable or empty file, a missing column (the message lists the
        columns present), a score that is not a finite number, an empty subject or
        sample id, a label that is not one of the accepted values or contradicts
        the subject ids, a sample with two subjects, or repeated comparisons whose
        scores differ.
    UsageError
        For a score kind that is not a ScoreKind, or column arguments of the wrong shape.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "p.csv").write_text("s,a,b,sex\n0.9,x,x,F\n0.1,x,y,F\n")
    >>> cs = read_pairs(d / "p.csv", score="s", score_kind=ScoreKind.SIMILARITY,
    ...                 subjects=("a", "b"), attributes=[AttributeSpec("sex", ("sex",))])
    >>> cs.mated.tolist(), cs.subject_ids, cs.levels["sex"]
    ([True, False], ('x', 'y'), ('F',))

    """
    kind = check_score_kind(score_kind)
    subject_columns = check_column_pair(subjects, option="subjects")
    sample_columns = None if samples is None else check_column_pair(samples, option="samples")
    check_attribute_names(attributes)
    file = str(path)
    needed = [score, *subject_columns]
    if mated is not None:
        needed.append(mated)
    if sample_columns is not None:
        needed.extend(sample_columns)
    for spec in attributes:
        needed.extend(spec.side_columns())
    text = [*subject_columns, *(sample_columns or ())]
    text += [c for spec in attributes if spec.bins is None for c in spec.side_columns()]
    frame = load_table(path, columns=needed, dictionary=text)
    return pairs_from_frame(
        frame,
        file=file,
        score=score,
        score_kind=kind,
        subjects=subject_columns,
        mated=mated,
        samples=sample_columns,
        attributes=attributes,
        source=f"pair table {Path(file).name}",
    )


def pairs_from_frame(
    frame: pd.DataFrame,
    *,
    file: str,
    score: str,
    score_kind: ScoreKind,
    subjects: tuple[str, str],
    mated: str | None,
    samples: tuple[str, str] | None,
    attributes: Sequence[AttributeSpec],
    source: str,
) -> ComparisonSet:
    """Build a ComparisonSet from a loaded pair table (rows in file order).

    The options are those of :func:`read_pairs`; ``file`` names the table in messages.
    """
    needed = [score, *subjects]
    if mated is not None:
        needed.append(mated)
    if samples is not None:
        needed.extend(samples)
    for spec in attributes:
        needed.extend(spec.side_columns())
    require_columns(frame, needed, file=file)

    origin = Origin(file)
    scores = parse_scores(frame[score], origin=origin, column=score)
    subject_a = parse_ids(frame[subjects[0]], origin=origin, column=subjects[0], encoded=True)
    subject_b = parse_ids(frame[subjects[1]], origin=origin, column=subjects[1], encoded=True)
    labels = None if mated is None else parse_mated(frame[mated], origin=origin, column=mated)
    sample_a = sample_b = None
    if samples is not None:
        sample_a, sample_b = (
            parse_ids(frame[c], origin=origin, column=c, what="sample id", encoded=True)
            for c in samples
        )
    codes = encode_attributes(frame, attributes, file=file)
    return assemble(
        score=scores,
        score_kind=score_kind,
        subject_a=subject_a,
        subject_b=subject_b,
        mated=labels,
        sample_a=sample_a,
        sample_b=sample_b,
        attributes=codes,
        score_origin=origin,
        score_column=score,
        label_column=mated or "",
        sample_columns=samples or ("", ""),
        sample_attributes=[spec.name for spec in attributes if len(spec.columns) == 2],
        source=source,
    )
