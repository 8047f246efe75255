"""Racial Faces in-the-Wild (RFW) style inputs: a pair table and a separate score file.

RFW (Wang et al., ICCV 2019) lists verification pairs of four ethnicities. This
reader takes the layout of the FaVFA pair tables (CEA-LIST, WACV 2025):

- the pair table, one row per pair, with at least the columns ``img_1``, ``img_2``
  (image names such as ``m.0bxsfw_0001.jpg``), ``y_true`` (1 mated, 0 non-mated)
  and ``segment_1``/``segment_2`` (the sex and ethnicity of each image, written
  ``Female & Caucasian``); other columns (``gender``, ``ethnicity``, head pose) are
  ignored;
- the score file, one row per pair: ``img_1``, ``img_2`` and a score column
  (``dist`` by default).

The two join on ``(img_1, img_2)``. A pair in one file but not the other is left
out and counted as an :class:`~faceparity.model.comparisons.Exclusion` saying which file
lacks it. A key given twice in one file is an error when the other file has that
key (the join would be ambiguous); when it does not, its rows join nothing and are
counted with the other unmatched rows.

The subject of an image is its name, without any folder, less the ``_NNNN.jpg``
suffix (``m.0bxsfw_0001.jpg`` is subject ``m.0bxsfw``). Because that is a naming
convention and not a column of the data, a pair whose ``y_true`` contradicts it is
not an error: it is left out and counted, the exclusion naming its rows (the FaVFA
table has one such row). Attributes: ``sex`` and ``ethnicity``, per side.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from faceparity.errors import InputError, Location
from faceparity.model.comparisons import ComparisonSet, Exclusion
from faceparity.model.config import ScoreKind
from faceparity.readers._table import (
    Origin,
    assemble,
    check_score_kind,
    describe,
    load_table,
    parse_ids,
    parse_mated,
    parse_scores,
    require_columns,
)
from faceparity.readers.attributes import AttributeSpec, encode_attribute

__all__ = ["read_rfw"]

KEY_COLUMNS = ("img_1", "img_2")
LABEL_COLUMN = "y_true"
SEGMENT_COLUMNS = ("segment_1", "segment_2")

MSG_DUPLICATE_KEY = (
    "(img_1, img_2) = ({img_1!r}, {img_2!r}): expected each pair once, got it in row "
    "{first_row} and again here"
)
MSG_BAD_IMAGE = "expected an image name SUBJECT_NNNN.jpg, got {value}"
MSG_BAD_SEGMENT = "expected 'SEX & ETHNICITY' (e.g. 'Female & Caucasian'), got {value}"
REASON_NO_LABEL = "score row in {scores} with no label row in {pairs}"
REASON_NO_SCORE = "label row in {pairs} with no score row in {scores}"
REASON_CONFLICT = (
    "label row in {pairs} whose y_true contradicts the subjects of its image names (rows {rows})"
)
MSG_NO_JOIN = (
    "expected pairs present in both {pairs} and {scores} (joined on img_1, img_2), got none"
)
_ROWS_SHOWN = 5

_IMAGE = r"^(?:.*[/\\])?(?P<subject>.+)_\d+\.[A-Za-z0-9]+$"
_SEGMENT = r"^\s*(?P<sex>[^&]*?)\s*&\s*(?P<ethnicity>[^&]*?)\s*$"


def _keys(frame: pd.DataFrame, *, file: str) -> pd.MultiIndex:
    """The ``(img_1, img_2)`` key of every row; InputError for an empty image name."""
    origin = Origin(file)
    img_1, img_2 = (parse_ids(frame[c], origin=origin, column=c, what=c) for c in KEY_COLUMNS)
    return pd.MultiIndex.from_arrays([img_1, img_2], names=list(KEY_COLUMNS))


def _check_unique(keys: pd.MultiIndex, other: pd.MultiIndex, *, file: str) -> None:
    """InputError for a key given twice in one file when the other file has it.

    Such a row could join either copy. A repeated key the other file lacks joins
    nothing; its rows are excluded and counted with the other unmatched rows.
    """
    repeated = np.flatnonzero(keys.duplicated(keep="first") & keys.isin(other))
    if repeated.size:
        i = int(repeated[0])
        img_1, img_2 = keys[i]
        first = int(np.flatnonzero(keys == keys[i])[0])
        raise InputError(
            MSG_DUPLICATE_KEY.format(img_1=img_1, img_2=img_2, first_row=first + 1),
            Origin(file).at(i, None),
        )


def _subjects(images: pd.Series, *, file: str, column: str) -> pd.Series:
    """Image names without their ``_NNNN.jpg`` suffix (and any folder)."""
    found = images.str.extract(_IMAGE)["subject"]
    bad = np.flatnonzero(found.isna().to_numpy())
    if bad.size:
        i = int(bad[0])
        raise InputError(
            MSG_BAD_IMAGE.format(value=describe(images.iloc[i])), Origin(file).at(i, column)
        )
    return found.astype("str")


def _segments(frame: pd.DataFrame, *, file: str) -> list[pd.DataFrame]:
    """Sex and ethnicity of each side from ``Female & Caucasian``; empty means missing."""
    parts = []
    for column in SEGMENT_COLUMNS:
        text = frame[column].astype("str").str.strip().reset_index(drop=True)
        split = text.str.extract(_SEGMENT)
        bad = np.flatnonzero((text.notna() & (text != "") & split["sex"].isna()).to_numpy())
        if bad.size:
            i = int(bad[0])
            raise InputError(
                MSG_BAD_SEGMENT.format(value=describe(frame[column].iloc[i])),
                Origin(file).at(i, column),
            )
        parts.append(split)
    return parts


def read_rfw(
    pairs_path: str | os.PathLike[str],
    scores_path: str | os.PathLike[str],
    *,
    score_kind: ScoreKind,
    score: str = "dist",
) -> ComparisonSet:
    """Read an RFW-style pair table and its score file, joined on ``(img_1, img_2)``.

    Parameters
    ----------
    pairs_path : str or path-like
        The pair table (CSV, TSV or Parquet): ``img_1``, ``img_2``, ``y_true``,
        ``segment_1``, ``segment_2``.
    scores_path : str or path-like
        The score file (CSV, TSV or Parquet): ``img_1``, ``img_2`` and ``score``.
    score_kind : ScoreKind
        Direction of the scores; required, never guessed (FaVFA's ``dist`` is an L2
        distance, ``ScoreKind.DISTANCE``).
    score : str
        The score column of the score file.

    Returns
    -------
    ComparisonSet
        The joined pairs in pair-table order, samples from the image names, with an
        exclusion for each file's rows that have no partner in the other.

    Raises
    ------
    InputError
        For a missing column, a score that is not a finite number (in any row of the
        score file), a bad label, an image name without the ``_NNNN.jpg`` suffix, a
        segment not written ``SEX & ETHNICITY``, a pair given twice in one file
        while the other file has it, or no usable pair present in both files.

    """
    kind = check_score_kind(score_kind)
    pairs_file, scores_file = str(pairs_path), str(scores_path)
    pairs = load_table(pairs_path)
    scores = load_table(scores_path)
    require_columns(pairs, [*KEY_COLUMNS, LABEL_COLUMN, *SEGMENT_COLUMNS], file=pairs_file)
    require_columns(scores, [*KEY_COLUMNS, score], file=scores_file)

    pairs_origin, scores_origin = Origin(pairs_file), Origin(scores_file)
    pair_keys = _keys(pairs, file=pairs_file)
    score_keys = _keys(scores, file=scores_file)
    _check_unique(pair_keys, score_keys, file=pairs_file)
    _check_unique(score_keys, pair_keys, file=scores_file)
    img_1 = pd.Series(pair_keys.get_level_values(0))
    img_2 = pd.Series(pair_keys.get_level_values(1))
    score_values = parse_scores(scores[score], origin=scores_origin, column=score)
    labels = parse_mated(pairs[LABEL_COLUMN], origin=pairs_origin, column=LABEL_COLUMN)
    subject_1 = _subjects(img_1, file=pairs_file, column=KEY_COLUMNS[0])
    subject_2 = _subjects(img_2, file=pairs_file, column=KEY_COLUMNS[1])
    segments = _segments(pairs, file=pairs_file)

    # Keys that join are unique in both files (checked above): look the pair rows up
    # among the score rows whose key is unique; the pair table's order is kept.
    unique_rows = np.flatnonzero(~score_keys.duplicated(keep=False))
    found = score_keys[unique_rows].get_indexer(pair_keys)
    matched = found >= 0
    names = {"pairs": Path(pairs_file).name, "scores": Path(scores_file).name}
    if not matched.any():
        raise InputError(MSG_NO_JOIN.format(**names), Location(scores_file))
    n_no_label = len(scores) - int(matched.sum())
    n_no_score = len(pairs) - int(matched.sum())

    # The subject of an image is read from its name, a convention rather than a
    # column; a pair whose label contradicts it is left out and counted, its rows named.
    conflict = labels != (subject_1 == subject_2).to_numpy(dtype=bool)
    n_conflict = int((conflict & matched).sum())
    at_pair = np.flatnonzero(matched & ~conflict).astype(np.int64)
    at_score = unique_rows[found[at_pair]].astype(np.int64)

    exclusions = []
    if n_no_label:
        exclusions.append(Exclusion(REASON_NO_LABEL.format(**names), n_no_label, "comparisons"))
    if n_no_score:
        exclusions.append(Exclusion(REASON_NO_SCORE.format(**names), n_no_score, "comparisons"))
    if n_conflict:
        rows = np.flatnonzero(conflict & matched)[:_ROWS_SHOWN] + 1
        shown = ", ".join(str(r) for r in rows.tolist())
        more = ", ..." if n_conflict > _ROWS_SHOWN else ""
        exclusions.append(
            Exclusion(
                REASON_CONFLICT.format(pairs=names["pairs"], rows=shown + more),
                n_conflict,
                "comparisons",
            )
        )
    if not at_pair.size:
        raise InputError(MSG_NO_JOIN.format(**names), Location(scores_file))
    return assemble(
        score=score_values[at_score],
        score_kind=kind,
        subject_a=subject_1.iloc[at_pair],
        subject_b=subject_2.iloc[at_pair],
        mated=labels[at_pair],
        sample_a=img_1.iloc[at_pair],
        sample_b=img_2.iloc[at_pair],
        attributes={
            # Encoded from the joined rows only, so that levels are those of the audit.
            name: encode_attribute(
                segments[0][name].iloc[at_pair].reset_index(drop=True),
                segments[1][name].iloc[at_pair].reset_index(drop=True),
                spec=AttributeSpec(name, SEGMENT_COLUMNS),
                file=pairs_file,
            )
            for name in ("sex", "ethnicity")
        },
        score_origin=scores_origin.take(at_score),
        score_column=score,
        id_origin=pairs_origin.take(at_pair),
        label_column=LABEL_COLUMN,
        sample_columns=KEY_COLUMNS,
        exclusions=exclusions,
        source=f"RFW pairs {names['pairs']} with scores {names['scores']}, column {score!r}",
    )
