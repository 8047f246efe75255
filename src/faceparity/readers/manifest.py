"""The manifest of an image audit: image path, subject id and attributes, one row per image.

A manifest is a table (CSV, TSV or Parquet, read by
:func:`~faceparity.readers._table.load_table`) with a column of image paths relative
to a root directory, a column of subject ids, and any attribute columns (sex, age
band, self-reported ethnicity, ...). :func:`read_manifest` checks it whole before any
image is opened, so a bad manifest stops the run with one clear error and nothing
written:

- every path is relative, non-empty, free of NUL characters, and stays inside the
  root once ``..`` and symbolic links are resolved (a manifest cannot make faceparity read
  ``/etc/shadow`` or ``../../other-study``);
- no image is listed twice (the same photograph under two rows would be a mated
  comparison of an image with itself);
- every subject id is present.

A path that stays inside the root but names no file is not a manifest error: the
image is a failure to acquire with the reason "unreadable", counted by group like
every other failure (ISO/IEC 19795-1, 4.3.2).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from faceparity.errors import InputError, Location, UsageError
from faceparity.readers._table import (
    Origin,
    check_unique_ids,
    load_table,
    parse_ids,
    require_columns,
)

__all__ = [
    "MSG_ABSOLUTE_PATH",
    "MSG_LEAVES_ROOT",
    "MSG_NO_ROOT",
    "MSG_NUL_IN_PATH",
    "Manifest",
    "read_manifest",
]

MSG_NO_ROOT = "--root: expected a directory holding the images, got {root}"
MSG_ABSOLUTE_PATH = (
    "expected an image path relative to the root {root}, got the absolute path {path!r}"
)
MSG_LEAVES_ROOT = (
    "expected an image path inside the root {root}, got {path!r}, which leads to {target}"
)
MSG_NUL_IN_PATH = "expected an image path without NUL characters, got {path!r}"


@dataclass(frozen=True, eq=False)
class Manifest:
    """The images of an audit, checked.

    Attributes
    ----------
    file : str
        The manifest file, as named.
    root : Path
        The root directory, resolved.
    paths : list of str
        Each image's path as written in the manifest (relative to the root); it is
        the image's sample id in every output.
    files : list of Path
        Each image's resolved file under the root.
    subject : pandas.Series
        Each image's subject id, as text.
    attributes : pandas.DataFrame
        The other columns (as read), one row per image, in manifest order.
    path_column, subject_column : str
        The manifest's column names.

    """

    file: str
    root: Path
    paths: list[str]
    files: list[Path]
    subject: pd.Series
    attributes: pd.DataFrame
    path_column: str
    subject_column: str

    def __len__(self) -> int:
        return len(self.paths)


def read_manifest(
    path: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str],
    path_column: str = "path",
    subject_column: str = "subject",
    attribute_columns: Sequence[str] | None = None,
) -> Manifest:
    """Read and check a manifest.

    Parameters
    ----------
    path : str or path-like
        The manifest: ``.csv``, ``.tsv``, ``.parquet`` or ``.pq``.
    root : str or path-like
        The directory the image paths are relative to.
    path_column, subject_column : str
        Names of the image path and subject id columns.
    attribute_columns : sequence of str, optional
        The attribute columns to keep; by default every other column.

    Returns
    -------
    Manifest

    Raises
    ------
    UsageError
        When the root is not a directory.
    InputError
        With file, row and column: a missing column, an empty path or subject id, an
        absolute path, a path with a NUL character, a path that leaves the root, a
        path listed twice.

    """
    file = str(path)
    root_path = Path(root)
    if not root_path.is_dir():
        raise UsageError(MSG_NO_ROOT.format(root=root))
    resolved_root = root_path.resolve()
    frame = load_table(path)
    others = [c for c in frame.columns if c not in (path_column, subject_column)]
    kept = list(others if attribute_columns is None else attribute_columns)
    require_columns(frame, [path_column, subject_column, *kept], file=file)
    origin = Origin(file)
    paths = parse_ids(frame[path_column], origin=origin, column=path_column, what="image path")
    subject = parse_ids(frame[subject_column], origin=origin, column=subject_column)
    files = [
        _inside(text, resolved_root, Location(file, i + 1, path_column))
        for i, text in enumerate(paths.tolist())
    ]
    check_unique_ids(
        pd.Series([str(f) for f in files], dtype="str"),
        origin=origin,
        column=path_column,
        what="image",
    )
    return Manifest(
        file=file,
        root=resolved_root,
        paths=paths.tolist(),
        files=files,
        subject=subject,
        attributes=frame[kept].reset_index(drop=True),
        path_column=path_column,
        subject_column=subject_column,
    )


def _inside(text: str, root: Path, where: Location) -> Path:
    """The file a manifest path names, resolved; InputError if absolute or outside the root.

    Symbolic links are followed as far as they lead: a loop of links resolves to a
    path inside the root that cannot be opened (a failure to acquire), not an error.
    """
    if "\0" in text:
        raise InputError(MSG_NUL_IN_PATH.format(path=text), where)
    relative = Path(text)
    if relative.is_absolute() or relative.drive:
        raise InputError(MSG_ABSOLUTE_PATH.format(root=root, path=text), where)
    target = Path(os.path.realpath(root / relative))
    if not target.is_relative_to(root):
        raise InputError(MSG_LEAVES_ROOT.format(root=root, path=text, target=target), where)
    return target
