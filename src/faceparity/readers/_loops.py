"""The compiled loops of the chunked readers: one pass over a chunk's column, no temporaries.

Each replaces a few numpy operations over a whole chunk (each a pass and an array of
its own, the fancy-indexed ones holding the GIL) by one loop that releases the GIL, so
that the chunk read ahead is decoded on the other thread meanwhile. Loops are compiled
on first use, or loaded from numba's on-disk cache, as those of
:mod:`faceparity.accumulate._loops`; wrappers with types and documentation are where
they are used (:mod:`faceparity.readers.attributes`,
:mod:`faceparity.readers.subject_ids`, :mod:`faceparity.readers.pairs_stream`).
"""

from __future__ import annotations

from faceparity._jit import jit

__all__ = [
    "combined_codes",
    "finite_range",
    "looked_up",
    "mapped_codes",
    "quote_state",
    "used_codes",
]


@jit()
def finite_range(values, limit):  # type: ignore[no-untyped-def]
    # The index of the first value that is not finite or further than ``limit`` from 0
    # (-1: none), and the lowest and the highest value.
    low, high = values[0], values[0]
    for i in range(values.size):
        v = values[i]
        if not (-limit <= v <= limit):  # NaN fails every comparison
            return i, low, high
        if v < low:
            low = v
        elif v > high:
            high = v
    return -1, low, high


@jit()
def used_codes(codes, seen):  # type: ignore[no-untyped-def]
    # Flag each code in ``seen``; -1 (missing) flags the last entry.
    last = seen.size - 1
    for i in range(codes.size):
        c = codes[i]
        seen[c if c >= 0 else last] = True


@jit()
def mapped_codes(codes, lut, out, column):  # type: ignore[no-untyped-def]
    # ``out[i, column] = lut[codes[i]]``; -1 (missing) picks the last entry of ``lut``.
    last = lut.size - 1
    for i in range(codes.size):
        c = codes[i]
        out[i, column] = lut[c if c >= 0 else last]


@jit()
def combined_codes(codes, sizes, table, out, present):  # type: ignore[no-untyped-def]
    # ``codes``: (k, m) codes of k attributes, -1 missing; the mixed-radix index ``v``
    # of each column's combination (digit ``sizes[a] - 1`` where missing), written to
    # ``out`` as ``table[v]`` (as ``v`` where ``table`` is empty) and flagged in
    # ``present`` (where it is not empty).
    k = codes.shape[0]
    for i in range(codes.shape[1]):
        v = 0
        for a in range(k):
            c = codes[a, i]
            v = v * sizes[a] + (c if c >= 0 else sizes[a] - 1)
        out[i] = table[v] if table.size else v
        if present.size:
            present[v] = True


@jit()
def looked_up(values, lookup, low, out, column):  # type: ignore[no-untyped-def]
    # ``out[i, column] = lookup[values[i] - low]``; the index of the first value outside
    # the table or whose entry is negative (-1: none).
    for i in range(values.size):
        at = values[i] - low
        if at < 0 or at >= lookup.size or lookup[at] < 0:
            return i
        out[i, column] = lookup[at]
    return -1


@jit()
def quote_state(data, sep, state):  # type: ignore[no-untyped-def]
    # The state of a CSV parser (RFC 4180 quotes, read as the csv module and Arrow read
    # them) after the bytes ``data``, from ``state``: 0 at the start of a field, 1 in an
    # unquoted field (where a quote is text), 2 in a quoted field, 3 after a quote in a
    # quoted field (where a second quote is an escaped one, anything else ends quoting).
    for i in range(data.size):
        c = data[i]
        if state == 2:
            if c == 34:
                state = 3
        elif c == 34:
            state = 1 if state == 1 else 2
        elif c == sep or c == 10 or c == 13:
            state = 0
        else:
            state = 1
    return state
