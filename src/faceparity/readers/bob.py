"""Score files of the bob biometrics toolkit (bob.bio.base), in the formats it writes.

The format is recognised from the content, not the file name:

**bob.bio CSV score files** (written by ``bob.bio.base``'s ``CSVScoreWriter``):
comma-separated with a header that contains ``bio_ref_subject_id``. One row per
comparison of a biometric reference (side 1) with a probe (side 2). The columns read
are ``bio_ref_subject_id``, ``probe_subject_id`` and ``score``; the other sample
attributes appear as ``bio_ref_<name>`` and ``probe_<name>`` columns (such as
``bio_ref_gender``/``probe_gender``). The sample of each side, when the file
identifies it, is read from the first column present of ``bio_ref_template_id``,
``bio_ref_reference_id``, ``bio_ref_key`` (reference) and ``probe_key``,
``probe_template_id``, ``probe_reference_id`` (probe); bob versions differ in which
of these they write (``reference_id`` is the older name of ``template_id``).

**4-column text score files**, whitespace-separated, no header, one comparison per
line::

    claimed_id real_id test_label score

``claimed_id`` is the subject of the model (reference), ``real_id`` the subject of
the probe, ``test_label`` the probe's label (usually its file name). The model is
taken to be one per subject, identified by ``claimed_id``.

**5-column text score files**, the same with the model's own label::

    claimed_id model_label real_id test_label score

In every format a comparison is mated when the two subject ids are equal; there is
no label to contradict them. Models (references) and probes get separate sample
code spaces (a model label equal to a probe label does not make them one sample).
The same model and probe compared twice are kept once and counted; a sample with two
subjects is an error. For text files, rows in messages are line numbers (blank
lines are skipped but counted); a line with another number of fields than the first
is an error naming its line. Compressed score files are not read; decompress first.

Attributes of text score files come from a subject metadata table, one row per
subject, both sides looked up by subject id; a subject absent from the table has
missing attributes on that side (counted by the audit). For CSV score files they
come from the ``bio_ref_``/``probe_`` columns, or from the metadata table when one
is given.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from faceparity.comparisons import MISSING, ComparisonSet
from faceparity.config import ScoreKind
from faceparity.errors import InputError, Location, UsageError
from faceparity.readers._table import (
    MSG_EMPTY_FILE,
    MSG_NO_ROWS,
    MSG_UNREADABLE,
    AttributeCodes,
    Origin,
    assemble,
    check_attribute_names,
    check_score_kind,
    encode_attributes,
    parse_ids,
    parse_scores,
    read_delimited,
    require_columns,
)
from faceparity.readers.attributes import AttributeSpec

__all__ = ["BOB_CSV_MARKER", "read_bob"]

BOB_CSV_MARKER = "bio_ref_subject_id"
"""A header line containing this marks a bob.bio CSV score file."""

TEXT_COLUMNS: dict[int, tuple[str, ...]] = {
    4: ("claimed_id", "real_id", "test_label", "score"),
    5: ("claimed_id", "model_label", "real_id", "test_label", "score"),
}
CSV_REFERENCE_SAMPLE = ("bio_ref_template_id", "bio_ref_reference_id", "bio_ref_key")
CSV_PROBE_SAMPLE = ("probe_key", "probe_template_id", "probe_reference_id")

MSG_FIELD_COUNT = (
    "expected 4 whitespace-separated fields (claimed_id real_id test_label score) or 5 "
    "(claimed_id model_label real_id test_label score), got {count}"
)
MSG_FIELD_COUNT_CHANGES = (
    "expected {expected} whitespace-separated fields, as on line {first_line}, got {count}"
)
MSG_METADATA_DUPLICATE = (
    "subject {subject!r}: expected one metadata row per subject, got rows {first_row} and "
    "{second_row}"
)
MSG_ATTRIBUTES_NEED_METADATA = (
    "attributes of a bob {count}-column score file come from subject_metadata; none was given"
)
METADATA_FILE = "subject metadata"
"""How messages name a metadata table given without ``metadata_file``."""


def _first_line(path: str | os.PathLike[str], file: str) -> str | None:
    """The first line that is not blank, or None for a file of blank lines."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            for line in handle:
                if line.strip():
                    return line
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(
            MSG_UNREADABLE.format(kind="a bob score file", error=err), Location(file)
        ) from err
    return None


def _read_text(
    path: str | os.PathLike[str], file: str
) -> tuple[pd.DataFrame, npt.NDArray[np.int64]]:
    """The fields of a 4- or 5-column file as text columns, and the line of each row.

    Lines are split on runs of whitespace with Arrow compute kernels (no Python loop
    over the lines); blank lines are skipped.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(
            MSG_UNREADABLE.format(kind="a bob score file", error=err), Location(file)
        ) from err
    lines = pc.utf8_trim_whitespace(pa.array(text.split("\n"), type=pa.large_string()))
    del text
    parts = pc.utf8_split_whitespace(lines)
    blank = pc.equal(lines, "").to_numpy(zero_copy_only=False)
    counts = np.where(blank, 0, pc.list_value_length(parts).to_numpy(zero_copy_only=False))
    filled = np.flatnonzero(counts > 0)
    if not filled.size:
        raise InputError(MSG_EMPTY_FILE, Location(file))
    first = int(filled[0])
    expected = int(counts[first])
    if expected not in TEXT_COLUMNS:
        raise InputError(MSG_FIELD_COUNT.format(count=expected), Location(file, first + 1))
    other = filled[counts[filled] != expected]
    if other.size:
        line = int(other[0])
        raise InputError(
            MSG_FIELD_COUNT_CHANGES.format(
                expected=expected, first_line=first + 1, count=int(counts[line])
            ),
            Location(file, line + 1),
        )
    flat = pc.list_flatten(parts.take(pa.array(filled)))
    stride = np.arange(filled.size, dtype=np.int64) * expected
    fields = pd.DataFrame(
        {
            name: pd.array(flat.take(pa.array(stride + j)), dtype="str")
            for j, name in enumerate(TEXT_COLUMNS[expected])
        }
    )
    return fields, (filled + 1).astype(np.int64)


def _metadata_attributes(
    metadata: pd.DataFrame,
    *,
    subject_column: str,
    specs: Sequence[AttributeSpec],
    file: str,
    subject_a: pd.Series,
    subject_b: pd.Series,
) -> dict[str, AttributeCodes]:
    """Attributes of both sides looked up by subject id; MISSING for an unknown subject."""
    metadata = metadata.reset_index(drop=True)
    if len(metadata) == 0:
        raise InputError(MSG_NO_ROWS, Location(file))
    require_columns(metadata, [subject_column], file=file)
    ids = parse_ids(metadata[subject_column], origin=Origin(file), column=subject_column)
    index = pd.Index(ids)
    if not index.is_unique:
        second = int(np.flatnonzero(index.duplicated(keep="first"))[0])
        first = int(np.flatnonzero(index == index[second])[0])
        raise InputError(
            MSG_METADATA_DUPLICATE.format(
                subject=index[second], first_row=first + 1, second_row=second + 1
            ),
            Location(file, second + 1, subject_column),
        )
    per_subject = encode_attributes(metadata, specs, file=file)
    rows = [index.get_indexer(subject_a), index.get_indexer(subject_b)]
    out: dict[str, AttributeCodes] = {}
    for name, (codes, levels) in per_subject.items():
        sides = [np.where(rows[side] >= 0, codes[rows[side], side], MISSING) for side in (0, 1)]
        out[name] = (np.column_stack(sides).astype(np.int32), levels)
    return out


def read_bob(
    path: str | os.PathLike[str],
    *,
    score_kind: ScoreKind,
    subject_metadata: pd.DataFrame | None = None,
    subject_column: str = "subject",
    attributes: Sequence[AttributeSpec] = (),
    metadata_file: str = "",
) -> ComparisonSet:
    r"""Read a bob score file (4-column, 5-column or bob.bio CSV) into a ComparisonSet.

    Parameters
    ----------
    path : str or path-like
        The score file; its format is recognised from its content.
    score_kind : ScoreKind
        Direction of the scores; required, never guessed.
    subject_metadata : pandas.DataFrame, optional
        One row per subject: the subject id column and attribute columns. Required
        for attributes of a text score file; optional for a CSV score file.
    subject_column : str
        The subject id column of ``subject_metadata``.
    attributes : sequence of AttributeSpec
        Attributes to read. From metadata, a spec's column(s) are metadata columns
        (one column for both sides, or one per side). From a CSV score file, one
        column ``NAME`` means ``bio_ref_NAME`` (side 1) and ``probe_NAME`` (side 2);
        two columns are used as given.
    metadata_file : str
        Name of the metadata table's file, for messages (rows in those messages are
        the table's rows counted from 1).

    Returns
    -------
    ComparisonSet
        Side 1 the model (reference), side 2 the probe, in file order, repeated
        comparisons removed.

    Raises
    ------
    InputError
        For an unreadable or empty file, a line with another number of fields, a
        missing column, a score that is not a finite number, a sample with two
        subjects, repeated comparisons with different scores, or a metadata table
        without rows, without the subject column or with a subject twice.
    UsageError
        For a score kind that is not a ScoreKind, attributes of a text file without
        metadata, or two attributes with one name.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "scores-dev").write_text("a a a/1 0.9\na b b/1 0.2\n")
    >>> cs = read_bob(d / "scores-dev", score_kind=ScoreKind.SIMILARITY)
    >>> cs.mated.tolist(), cs.subject_ids, cs.source
    ([True, False], ('a', 'b'), 'bob 4-column score file scores-dev')

    """
    kind = check_score_kind(score_kind)
    check_attribute_names(attributes)
    file = str(path)
    meta_file = metadata_file or METADATA_FILE
    name = Path(file).name
    first = _first_line(path, file)
    if first is None:
        raise InputError(MSG_EMPTY_FILE, Location(file))

    sample_a: pd.Series | None = None
    sample_b: pd.Series | None = None
    if BOB_CSV_MARKER in first:
        frame = read_delimited(path, sep=",", kind="a bob.bio CSV score file")
        subject_columns = ("bio_ref_subject_id", "probe_subject_id")
        require_columns(frame, [*subject_columns, "score"], file=file)
        origin = Origin(file)
        found = [
            next((c for c in candidates if c in frame.columns), None)
            for candidates in (CSV_REFERENCE_SAMPLE, CSV_PROBE_SAMPLE)
        ]
        sample_columns = (found[0] or "", found[1] or "")
        if found[0] is not None and found[1] is not None:
            sample_a = parse_ids(frame[found[0]], origin=origin, column=found[0], what="sample id")
            sample_b = parse_ids(frame[found[1]], origin=origin, column=found[1], what="sample id")
        source = f"bob.bio CSV score file {name}"
    else:
        frame, lines = _read_text(path, file)
        columns = tuple(frame.columns)
        if attributes and subject_metadata is None:
            raise UsageError(MSG_ATTRIBUTES_NEED_METADATA.format(count=len(columns)))
        subject_columns = ("claimed_id", "real_id")
        origin = Origin(file, lines)
        sample_columns = ("claimed_id" if len(columns) == 4 else "model_label", "test_label")
        sample_a = parse_ids(frame[sample_columns[0]], origin=origin, column=sample_columns[0])
        sample_b = parse_ids(frame[sample_columns[1]], origin=origin, column=sample_columns[1])
        source = f"bob {len(columns)}-column score file {name}"

    scores = parse_scores(frame["score"], origin=origin, column="score")
    subject_a = parse_ids(frame[subject_columns[0]], origin=origin, column=subject_columns[0])
    subject_b = parse_ids(frame[subject_columns[1]], origin=origin, column=subject_columns[1])
    if subject_metadata is not None:
        codes = _metadata_attributes(
            subject_metadata,
            subject_column=subject_column,
            specs=attributes,
            file=meta_file,
            subject_a=subject_a,
            subject_b=subject_b,
        )
    else:
        codes = encode_attributes(
            frame,
            attributes,
            file=file,
            side_columns={
                spec.name: (
                    (f"bio_ref_{spec.columns[0]}", f"probe_{spec.columns[0]}")
                    if len(spec.columns) == 1
                    else spec.side_columns()
                )
                for spec in attributes
            },
        )
    return assemble(
        score=scores,
        score_kind=kind,
        subject_a=subject_a,
        subject_b=subject_b,
        sample_a=sample_a,
        sample_b=sample_b,
        attributes=codes,
        score_origin=origin,
        score_column="score",
        sample_columns=sample_columns,
        separate_sample_sides=True,
        source=source,
    )
