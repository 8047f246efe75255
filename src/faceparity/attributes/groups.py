"""Groups of samples by attribute and by the intersection of attributes, as integer codes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from faceparity.readers.attributes import AttributeSpec, encode_attribute

__all__ = ["group_codes", "groupings"]


def group_codes(
    frame: pd.DataFrame,
    keep: npt.NDArray[np.bool_],
    names: Sequence[str],
    bins: Mapping[str, tuple[float, ...]],
    file: str,
) -> list[tuple[str, npt.NDArray[np.int64], tuple[str, ...]]]:
    """Each attribute's codes over the rows ``keep`` (-1 where empty) and its levels.

    A numeric attribute with band edges in ``bins`` is banded; a value that is not a
    number is an InputError naming ``file``, the row and the column.
    """
    out = []
    for name in names:
        spec = AttributeSpec(name, (name,), bins.get(name))
        column = frame[name][keep].reset_index(drop=True)
        codes, levels = encode_attribute(column, column, spec=spec, file=file)
        out.append((name, codes[:, 0].astype(np.int64), levels))
    return out


def groupings(
    coded: list[tuple[str, npt.NDArray[np.int64], tuple[str, ...]]],
) -> list[tuple[str, list[str], npt.NDArray[np.int64], list[dict[str, str]]]]:
    """Each attribute alone, then the intersection of all: codes (-1: ungrouped) and labels."""
    result = []
    for name, codes, levels in coded:
        result.append((name, [name], codes, [{name: lv} for lv in levels]))
    if len(coded) > 1:
        names = [c[0] for c in coded]
        sizes = [len(c[2]) for c in coded]
        combined = np.zeros(coded[0][1].size, dtype=np.int64)
        missing = np.zeros(combined.size, dtype=bool)
        for (_, codes, _levels), size in zip(coded, sizes, strict=True):
            combined = combined * size + np.maximum(codes, 0)
            missing |= codes < 0
        present = np.unique(combined[~missing])
        index = np.full(int(np.prod(sizes)), -1, dtype=np.int64)
        index[present] = np.arange(present.size)
        codes_out = np.where(missing, -1, index[combined])
        labels = []
        for value in present.tolist():
            parts: list[str] = []
            for size in reversed(sizes):
                parts.append(str(value % size))
                value //= size
            digits = [int(d) for d in reversed(parts)]
            pairs = enumerate(zip(names, digits, strict=True))
            labels.append({n: coded[i][2][d] for i, (n, d) in pairs})
        result.append((" x ".join(names), names, codes_out, labels))
    return result
