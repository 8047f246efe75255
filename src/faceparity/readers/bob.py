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
lines are skipped but counted; LF, CR LF and a lone CR each end a line); a line with
another number of fields than the first is an error naming its line. Compressed
score files are not read; decompress first.

Text score files are read by Arrow in batches and split on runs of whitespace with
Arrow kernels: no Python string is made per line, and memory holds the fields and
one batch of text.

Attributes of text score files come from a subject metadata table (a DataFrame, or
a CSV, TSV or Parquet file), one row per subject, both sides looked up by subject
id. A subject absent from the table has missing attributes on both sides; the
comparisons stay (they are valid), and the number of such subjects is recorded in
an exclusion with scope ``"groups"`` (:data:`REASON_SUBJECT_NOT_IN_METADATA`). For
CSV score files attributes come from the ``bio_ref_``/``probe_`` columns, or from the
metadata table when one is given.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from faceparity.errors import InputError, Location, UsageError
from faceparity.model.comparisons import MISSING, ComparisonSet, Exclusion
from faceparity.model.config import ScoreKind
from faceparity.readers._table import (
    MSG_EMPTY_FILE,
    MSG_NO_ROWS,
    MSG_UNREADABLE,
    AttributeCodes,
    Origin,
    assemble,
    check_attribute_names,
    check_score_kind,
    check_unique_ids,
    encode_attributes,
    load_table,
    parse_ids,
    parse_scores,
    read_delimited,
    require_columns,
)
from faceparity.readers.attributes import AttributeSpec

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["BOB_CSV_MARKER", "REASON_SUBJECT_NOT_IN_METADATA", "read_bob"]

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
MSG_ATTRIBUTES_NEED_METADATA = (
    "attributes of a bob {count}-column score file come from subject_metadata; none was given"
)
METADATA_FILE = "subject metadata"
"""How messages name a metadata table given as a DataFrame without ``metadata_file``."""
REASON_SUBJECT_NOT_IN_METADATA = (
    "subject not in the subject metadata table (first ids: {ids}); its attributes are missing"
)
"""Reason of the exclusion that counts the subjects of a score file absent from the metadata."""
_IDS_SHOWN = 5
_NO_DELIMITER = "\x1f"  # ASCII unit separator: splits no line of a text file
_BLOCK_BYTES = 1 << 23


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


def _line_batches(path: str | os.PathLike[str], file: str) -> Iterator[pa.Array]:
    r"""The lines of the file, blank ones included, in batches of about 8 MiB of text.

    Arrow's streaming CSV reader reads each line as the one field of its row (no
    quoting, a delimiter that text files do not hold), so that no Python string is
    made per line and only one batch of text is held at a time. A UTF-8 byte-order
    mark is skipped; ``\n``, ``\r\n`` and ``\r`` end a line.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    try:
        with pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(column_names=["line"], block_size=_BLOCK_BYTES),
            parse_options=pcsv.ParseOptions(
                delimiter=_NO_DELIMITER,
                quote_char=False,
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=False,
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={"line": pa.large_string()},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        ) as reader:
            for batch in reader:
                yield batch.column(0)
    except (OSError, ValueError, pa.ArrowException) as err:
        raise InputError(
            MSG_UNREADABLE.format(kind="a bob score file", error=err), Location(file)
        ) from err


def _read_text(
    path: str | os.PathLike[str], file: str
) -> tuple[pd.DataFrame, npt.NDArray[np.int64]]:
    """The fields of a 4- or 5-column file as text columns, and the line of each row.

    Each batch of lines is split on runs of whitespace with Arrow kernels (no Python
    loop or Python string per line) and its fields are appended to the columns, so
    that memory holds the fields and one batch. Blank lines are skipped but counted;
    the first line with another number of fields than the first non-blank line is an
    error naming its line.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    expected = 0
    first_line = 0
    done = 0  # lines of the batches before this one
    columns: list[list[pa.Array]] = []
    line_numbers: list[npt.NDArray[np.int64]] = []
    for batch in _line_batches(path, file):
        lines = pc.utf8_trim_whitespace(batch)
        del batch
        parts = pc.utf8_split_whitespace(lines)
        counts = pc.list_value_length(parts).to_numpy(zero_copy_only=False).astype(np.int64)
        # A blank line splits into one empty field.
        counts[pc.equal(pc.binary_length(lines), 0).to_numpy(zero_copy_only=False)] = 0
        del lines
        filled = np.flatnonzero(counts > 0)
        if not filled.size:
            done += len(counts)
            continue
        if not expected:
            first_line = done + int(filled[0]) + 1
            expected = int(counts[filled[0]])
            if expected not in TEXT_COLUMNS:
                raise InputError(MSG_FIELD_COUNT.format(count=expected), Location(file, first_line))
            columns = [[] for _ in TEXT_COLUMNS[expected]]
        other = filled[counts[filled] != expected]
        if other.size:
            line = int(other[0])
            raise InputError(
                MSG_FIELD_COUNT_CHANGES.format(
                    expected=expected, first_line=first_line, count=int(counts[line])
                ),
                Location(file, done + line + 1),
            )
        if filled.size < counts.size:
            parts = parts.take(pa.array(filled))
        flat = pc.list_flatten(parts)
        del parts
        stride = np.arange(filled.size, dtype=np.int64) * expected
        for j, column in enumerate(columns):
            column.append(flat.take(pa.array(stride + j)))
        line_numbers.append(filled + done + 1)
        done += len(counts)
    if not expected:
        raise InputError(MSG_EMPTY_FILE, Location(file))
    fields = pd.DataFrame(index=pd.RangeIndex(sum(len(n) for n in line_numbers)))
    for name, chunks in zip(TEXT_COLUMNS[expected], columns, strict=True):
        # One contiguous array per column: the per-batch chunks would slow every
        # later operation on the column.
        fields[name] = pd.array(pa.concat_arrays(chunks), dtype="str")
        chunks.clear()
    _release_arrow_memory()
    return fields, np.concatenate(line_numbers).astype(np.int64)


def _release_arrow_memory() -> None:
    """Hand memory that Arrow's allocator keeps after freeing back to the system.

    Arrow's pool (mimalloc or jemalloc) keeps freed pages for its own reuse; the
    NumPy arrays that come next cannot use them, so without this the peak is the
    sum of both.
    """
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _metadata_attributes(
    metadata: pd.DataFrame,
    *,
    subject_column: str,
    specs: Sequence[AttributeSpec],
    file: str,
    subject_a: pd.Series,
    subject_b: pd.Series,
) -> tuple[dict[str, AttributeCodes], list[Exclusion]]:
    """Attributes of both sides looked up by subject id; MISSING for an unknown subject.

    Subjects of the score file absent from the table are counted in one exclusion
    (scope ``"groups"``: their comparisons stay valid, only their groups are unknown),
    when attributes are asked for.
    """
    metadata = metadata.reset_index(drop=True)
    if len(metadata) == 0:
        raise InputError(MSG_NO_ROWS, Location(file))
    require_columns(metadata, [subject_column], file=file)
    origin = Origin(file)
    ids = parse_ids(metadata[subject_column], origin=origin, column=subject_column)
    check_unique_ids(ids, origin=origin, column=subject_column, what="subject id")
    index = pd.Index(ids)
    per_subject = encode_attributes(metadata, specs, file=file)
    rows = [index.get_indexer(subject_a), index.get_indexer(subject_b)]
    out: dict[str, AttributeCodes] = {}
    for name, (codes, levels) in per_subject.items():
        sides = [np.where(rows[side] >= 0, codes[rows[side], side], MISSING) for side in (0, 1)]
        out[name] = (np.column_stack(sides).astype(np.int32), levels)
    exclusions: list[Exclusion] = []
    if specs:
        absent = pd.concat([subject_a[rows[0] < 0], subject_b[rows[1] < 0]]).unique()
        if len(absent):
            shown = sorted(str(s) for s in absent)[:_IDS_SHOWN]
            exclusions.append(
                Exclusion(
                    reason=REASON_SUBJECT_NOT_IN_METADATA.format(
                        ids=", ".join(repr(s) for s in shown)
                    ),
                    count=len(absent),
                    unit="subjects",
                    scope="groups",
                )
            )
    return out, exclusions


def read_bob(
    path: str | os.PathLike[str],
    *,
    score_kind: ScoreKind,
    subject_metadata: pd.DataFrame | str | os.PathLike[str] | None = None,
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
    subject_metadata : pandas.DataFrame, str or path-like, optional
        One row per subject: the subject id column and attribute columns, as a
        DataFrame or a CSV, TSV or Parquet file (read like every table). Required
        for attributes of a text score file; optional for a CSV score file.
    subject_column : str
        The subject id column of ``subject_metadata``.
    attributes : sequence of AttributeSpec
        Attributes to read. From metadata, a spec's column(s) are metadata columns
        (one column for both sides, or one per side). From a CSV score file, one
        column ``NAME`` means ``bio_ref_NAME`` (side 1) and ``probe_NAME`` (side 2);
        two columns are used as given.
    metadata_file : str, optional
        Name of the metadata table's file, for messages (rows in those messages are
        the table's rows counted from 1); by default the path of
        ``subject_metadata``, or ``"subject metadata"`` for a DataFrame.

    Returns
    -------
    ComparisonSet
        Side 1 the model (reference), side 2 the probe, in file order, repeated
        comparisons removed. With attributes from metadata, the subjects of the
        score file absent from the table are counted in an exclusion
        (:data:`REASON_SUBJECT_NOT_IN_METADATA`, unit ``"subjects"``, scope
        ``"groups"``); their comparisons stay, with the attributes missing.

    Raises
    ------
    InputError
        For an unreadable or empty file, a line with another number of fields, a
        missing column, a score that is not a finite number, a sample with two
        subjects, repeated comparisons with different scores, or a metadata table
        that cannot be read, without rows, without the subject column or with a
        subject twice.
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
    if subject_metadata is None or isinstance(subject_metadata, pd.DataFrame):
        meta_file = metadata_file or METADATA_FILE
    else:
        meta_file = metadata_file or str(subject_metadata)
        subject_metadata = load_table(subject_metadata)  # before a long read of the scores
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
    exclusions: list[Exclusion] = []
    if subject_metadata is not None:
        codes, exclusions = _metadata_attributes(
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
    del frame  # the parsed columns are all that is needed now
    _release_arrow_memory()
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
        exclusions=exclusions,
        source=source,
    )
