"""Demographic attributes as readers see them: which columns, and how to bin numbers.

``sex=g1,g2`` names an attribute and its column on each side of a pair table;
``sex=sex`` names one column (an embeddings metadata table, or one column shared by
both sides). Numeric attributes can be binned into bands (``age`` into ``<18``,
``[18,30)``, ..., ``>=70``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from faceparity.errors import InputError, Location, UsageError
from faceparity.model.comparisons import MISSING

__all__ = ["AttributeSpec", "band_labels", "encode_attribute", "parse_bins"]


@dataclass(frozen=True)
class AttributeSpec:
    """An attribute, the column(s) it is read from, and optional band edges.

    Parameters
    ----------
    name : str
        The attribute's name in the results (``sex``, ``age``).
    columns : tuple of str
        One column, or two: the first and the second side of a comparison.
    bins : tuple of float, optional
        Increasing band edges for a numeric attribute.

    """

    name: str
    columns: tuple[str, ...]
    bins: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not self.name or len(self.columns) not in (1, 2) or not all(self.columns):
            raise UsageError(
                f"attribute: expected NAME=COLUMN or NAME=COLUMN1,COLUMN2, got {self!r}"
            )
        if self.bins is not None:
            edges = list(self.bins)
            if not edges or any(not math.isfinite(e) for e in edges) or edges != sorted(set(edges)):
                raise UsageError(
                    f"bins of {self.name!r}: expected strictly increasing finite numbers, "
                    f"got {edges}"
                )

    @classmethod
    def parse(cls, text: str) -> AttributeSpec:
        """Parse ``NAME=COLUMN`` or ``NAME=COLUMN1,COLUMN2``.

        Examples
        --------
        >>> AttributeSpec.parse("sex=g1,g2")
        AttributeSpec(name='sex', columns=('g1', 'g2'), bins=None)

        """
        name, sep, cols = text.partition("=")
        columns = tuple(c.strip() for c in cols.split(",")) if cols.strip() else ()
        if not sep or not name.strip() or len(columns) not in (1, 2) or not all(columns):
            raise UsageError(
                f"attribute: expected NAME=COLUMN or NAME=COLUMN1,COLUMN2, got {text!r}"
            )
        return cls(name.strip(), columns)

    def side_columns(self) -> tuple[str, str]:
        """The column of each side (the same one twice for a shared column)."""
        return (self.columns[0], self.columns[-1])


def parse_bins(text: str) -> tuple[str, tuple[float, ...]]:
    """Parse ``NAME=EDGE,EDGE,...`` (``age=18,30,50,70``).

    Examples
    --------
    >>> parse_bins("age=18,30")
    ('age', (18.0, 30.0))

    """
    name, sep, edges = text.partition("=")
    try:
        values = tuple(float(e) for e in edges.split(","))
    except ValueError:
        values = ()
    if not sep or not name.strip() or not values:
        raise UsageError(f"bins: expected NAME=EDGE,EDGE,... with numbers, got {text!r}")
    return name.strip(), values


def band_labels(edges: Sequence[float]) -> tuple[str, ...]:
    """Labels of the bands below, between and above the edges, in order."""

    def fmt(x: float) -> str:
        return f"{x:g}"

    inner = [f"[{fmt(a)},{fmt(b)})" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return (f"<{fmt(edges[0])}", *inner, f">={fmt(edges[-1])}")


def _is_missing(values: pd.Series) -> npt.NDArray[np.bool_]:
    text = values.astype("string")
    return np.asarray(values.isna() | (text.str.strip() == ""), dtype=bool)


def encode_attribute(
    side_a: pd.Series,
    side_b: pd.Series,
    *,
    spec: AttributeSpec,
    file: str,
) -> tuple[npt.NDArray[np.int32], tuple[str, ...]]:
    """Codes of shape (n, 2) into the returned levels; ``MISSING`` where a value is empty.

    Text values are stripped and sorted; binned values must be numbers, else an
    InputError names the file, the data row (1-based) and the column.
    """
    n = len(side_a)
    if spec.bins is None and all(
        isinstance(side.dtype, pd.CategoricalDtype) for side in (side_a, side_b)
    ):
        return _encode_categorical(side_a, side_b)
    codes = np.full((n, 2), MISSING, dtype=np.int32)
    missing = [_is_missing(side_a), _is_missing(side_b)]
    if spec.bins is not None:
        edges = np.asarray(spec.bins, dtype=np.float64)
        levels = band_labels(spec.bins)
        sides = zip((side_a, side_b), spec.side_columns(), strict=True)
        for side, (values, column) in enumerate(sides):
            numeric = pd.to_numeric(values.where(~missing[side]), errors="coerce")
            as_float = numeric.to_numpy(dtype=np.float64, na_value=np.nan)
            bad = np.flatnonzero(~missing[side] & ~np.isfinite(as_float))
            if bad.size:
                row = int(bad[0])
                raise InputError(
                    f"attribute {spec.name!r} is binned, so a number was expected; "
                    f"got {values.iloc[row]!r}",
                    Location(file, row + 1, column),
                )
            keep = ~missing[side]
            codes[keep, side] = np.searchsorted(edges, as_float[keep], side="right")
        return codes, levels
    texts = pd.concat([side_a, side_b], ignore_index=True).astype("string").str.strip()
    keep = ~np.concatenate(missing)
    flat = np.full(2 * n, MISSING, dtype=np.int32)
    present_codes, uniques = pd.factorize(texts[keep], sort=True)
    flat[keep] = present_codes
    codes = flat.reshape(2, n).T.copy()
    return codes, tuple(str(u) for u in uniques)


def _encode_categorical(
    side_a: pd.Series, side_b: pd.Series
) -> tuple[npt.NDArray[np.int32], tuple[str, ...]]:
    """``encode_attribute`` of two categorical sides, computed on their categories only.

    The levels are the distinct stripped texts of the categories in use on either side,
    sorted; each side's codes are mapped through a table over its own categories.
    """
    from faceparity.readers._loops import mapped_codes, used_codes

    n = len(side_a)
    sides = []
    for side in (side_a, side_b):
        codes = side.cat.codes.to_numpy()  # -1 (missing) indexes the last entry below
        seen = np.zeros(len(side.cat.categories) + 1, dtype=bool)
        used_codes(codes, seen)
        used = seen[:-1]
        text = pd.Series(side.cat.categories).astype("string").str.strip()
        keep = np.asarray(text.notna() & (text != ""), dtype=bool) & used
        sides.append((codes, text, keep))
    levels = np.unique(
        np.concatenate([np.asarray(t[k], dtype=object) for _, t, k in sides]).astype(str)
    )
    out = np.empty((n, 2), dtype=np.int32)
    for column, (codes, text, keep) in enumerate(sides):
        position = np.searchsorted(levels, np.asarray(text.fillna(""), dtype=object).astype(str))
        lut = np.append(np.where(keep, position, MISSING), MISSING).astype(np.int32)
        mapped_codes(codes, lut, out, column)  # code -1 (missing) picks the last entry
    return out, tuple(str(u) for u in levels)
