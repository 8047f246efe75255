"""The compiled loops behind :mod:`faceparity.accumulate.kernels`, defined at module level.

Importing this module imports numba and compiles nothing: each loop is compiled on its
first call, or loaded from numba's on-disk cache (``cache=True``). The loops are
module-level functions, not closures, because numba keys a closure's cache entry on
its captured values (here the dispatcher of ``count_row``), which differ from process
to process: a closure would be compiled again in every run. Where the cache goes:
:mod:`faceparity._jit`.

Wrappers with types and documentation are in :mod:`faceparity.accumulate.kernels`.
"""

from __future__ import annotations

import math

import numpy as np

from faceparity._jit import jit

__all__ = [
    "collect_block",
    "count_block",
    "count_degrees",
    "count_pairs",
    "mark_members",
    "tail_edge",
]


@jit(inline="always")
def count_row(row, bins, where, counts, offset, top, tail_bin):  # type: ignore[no-untyped-def]
    # The bins first, in a loop the compiler vectorises (indices from 0: no
    # negative-index checks), then the counts, noting without a branch where the
    # scores in the tail are. Returns how many are.
    for j in range(row.size):
        bins[j] = min(max(np.int32(math.floor(row[j])) - offset, 0), top)
    n = 0
    for j in range(row.size):
        b = bins[j]
        counts[b] += 1
        where[n] = j
        n += b >= tail_bin
    return n


@jit()
def count_block(  # type: ignore[no-untyped-def]
    block, rects, diagonal, scratch, histogram, total, offset, tail_bin, flat, cells
):
    # Counts go to a small per-block histogram (in cache), folded into the cells'
    # histograms and their total at the end.
    top = scratch.shape[1] - 1
    width = block.shape[1]
    bins = np.empty(width, dtype=np.int32)
    where = np.empty(width + 1, dtype=np.int64)
    off = np.int32(offset)
    above = 0
    for k in range(rects.shape[0]):
        r0, r1, c0, c1, cell = rects[k, 0], rects[k, 1], rects[k, 2], rects[k, 3], rects[k, 4]
        counts = scratch[rects[k, 5]]
        for i in range(r0, r1):
            start = max(c0, i + 1) if diagonal else c0
            if start >= c1:
                continue
            n = count_row(block[i, start:c1], bins, where, counts, off, top, tail_bin)
            for m in range(n):
                if above < flat.size:
                    flat[above] = i * width + start + where[m]
                    cells[above] = cell
                above += 1
    for k in range(rects.shape[0]):
        cell, counts = rects[k, 4], scratch[rects[k, 5]]
        for b in range(top + 1):
            c = counts[b]
            if c:
                histogram[cell, b] += c
                total[b] += c
                counts[b] = 0
    return above


@jit()
def collect_block(block, rects, diagonal, offset, tail_bin, flat, cells):  # type: ignore[no-untyped-def]
    top = flat.size
    edge = np.float64(offset + tail_bin) if tail_bin > 0 else -np.inf
    width = block.shape[1]
    n = 0
    for k in range(rects.shape[0]):
        r0, r1, c0, c1, cell = rects[k, 0], rects[k, 1], rects[k, 2], rects[k, 3], rects[k, 4]
        for i in range(r0, r1):
            row = block[i]
            for j in range(max(c0, i + 1) if diagonal else c0, c1):
                value = np.float64(row[j])
                if value >= edge and n < top:
                    flat[n], cells[n] = i * width + j, cell
                    n += 1
    return n


@jit()
def count_pairs(  # type: ignore[no-untyped-def]
    scores, mated, group_a, group_b, lut, low, hist, total, scale, offset, tail_bin, kept, out
):
    # Unsigned indices throughout: a negative group index becomes a huge one (caught
    # by the one bound check), and the compiler emits no negative-index fix-ups. The
    # histograms are read as flat arrays (C order), the cell table likewise. ``kept``:
    # where tail scores and their cells go, and mated scores and their group pairs;
    # ``out`` rows: the positions of both.
    tail_scores, tail_cells, mated_scores, mated_pairs = kept
    where, mates = out[0], out[1]
    n_bins = np.uint64(hist.shape[1])
    counts, carried = low.reshape(-1), hist.reshape(-1)
    cell_of = lut.reshape(-1)
    slots = np.uint64(lut.shape[0])
    first, last = np.float64(offset), np.float64(offset + hist.shape[1] - 1)
    edge = np.uint64(tail_bin)
    above = 0
    n_mated = 0
    for k in range(scores.size):
        a, b = np.uint64(group_a[k]), np.uint64(group_b[k])
        if max(a, b) >= slots:
            return -(k + 1), n_mated
        if mated[k]:
            mated_scores[n_mated] = scores[k]
            mated_pairs[n_mated] = a * slots + b
            mates[n_mated] = k
            n_mated += 1
            continue
        i = np.uint64(math.floor(min(max(scores[k] * scale, first), last)) - offset)
        cell = cell_of[a * slots + b]
        x = np.uint64(cell) * n_bins + i
        c = np.int64(counts[x]) + 1
        counts[x] = c  # a byte: 256 wraps to 0, carried
        if c == 256:
            carried[x] += 256
        if i >= edge:
            total[i] += 1
            tail_scores[above] = scores[k]
            tail_cells[above] = cell
            where[above] = k
            above += 1
    return above, n_mated


@jit()
def tail_edge(total, tail_bin, capacity):  # type: ignore[no-untyped-def]
    # Down from the top bin until more than ``capacity`` scores lie at or above: by
    # blocks of 16 bins (each summed in a loop the compiler vectorises) while they
    # fit, then bin by bin.
    above = 0
    b = total.size
    while b - 16 >= tail_bin:
        block = 0
        for j in range(b - 16, b):
            block += total[j]
        if above + block > capacity:
            break
        above += block
        b -= 16
    while b > tail_bin:
        b -= 1
        above += total[b]
        if above > capacity:
            return b + 1
    return tail_bin


@jit()
def count_degrees(subjects, slots, same, lut, degree, member, shift, bucket, order):  # type: ignore[no-untyped-def]
    # ``subjects`` and ``slots``: (n, 2) subject codes and group slots of each row;
    # ``degree``: (n_subjects, n_cells) counts of non-mated comparisons, ``member``:
    # (n_subjects, bytes) bits of the slots of each subject, both updated in place.
    # Degrees are added block of subjects by block (``subject >> shift``), so that a
    # block's rows of ``degree`` stay in cache: the non-mated sides are first sorted by
    # block (a counting sort; ``bucket`` holds a count a block) into ``order`` (their
    # flat index into ``degree``).
    n_cells = degree.shape[1]
    bucket[:] = 0
    for k in range(subjects.shape[0]):
        a, b = subjects[k, 0], subjects[k, 1]
        ga, gb = slots[k, 0], slots[k, 1]
        member[a, ga >> 3] |= np.uint8(1 << (ga & 7))
        member[b, gb >> 3] |= np.uint8(1 << (gb & 7))
        if not same[k]:
            bucket[(a >> shift) + 1] += 1
            bucket[(b >> shift) + 1] += 1
    for i in range(1, bucket.size):
        bucket[i] += bucket[i - 1]
    for k in range(subjects.shape[0]):
        if not same[k]:
            a, b = subjects[k, 0], subjects[k, 1]
            cell = lut[slots[k, 0], slots[k, 1]]
            order[bucket[a >> shift]] = a * n_cells + cell
            bucket[a >> shift] += 1
            order[bucket[b >> shift]] = b * n_cells + cell
            bucket[b >> shift] += 1
    flat = degree.reshape(-1)
    for i in range(bucket[bucket.size - 1]):
        flat[order[i]] += 1


@jit()
def mark_members(subjects, slots, member):  # type: ignore[no-untyped-def]
    # ``count_degrees`` without the degrees.
    for k in range(subjects.shape[0]):
        for j in range(2):
            g = slots[k, j]
            member[subjects[k, j], g >> 3] |= np.uint8(1 << (g & 7))
