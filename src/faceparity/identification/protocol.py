"""The open-set identification protocol: who is enrolled, who searches, how the gallery grows.

An evaluation of 1:N search (ISO/IEC 19795-1:2021, 3.10 and 3.22-3.24; NIST IR 8271,
"FRVT Part 2: Identification", section 2) needs three disjoint sets built from
labelled samples:

* the **gallery**: the enrolled subjects, each with one or more enrolment samples
  (a subject's gallery samples form one reference; its score against a probe is the
  highest of theirs, the usual max-fusion);
* the **mated searches**: other samples of enrolled subjects;
* the **non-mated searches**: samples of subjects withheld from the gallery.

The seeded protocol (:func:`build_protocol`)
--------------------------------------------
1. Samples whose group is unknown (a group-by attribute is empty) are left out, counted.
2. Each subject belongs to the group of its first sample (metadata order). Within each
   group, subjects are shuffled with the seed and ``round(non_mated_fraction * n)`` of
   them (at least one, and at most ``n - 1``, when the group has two or more subjects)
   are withheld: every sample of theirs is a non-mated search.
3. The other subjects are enrolled when they have at least ``gallery_samples`` samples
   (the others are left out, counted): ``gallery_samples`` of their samples, drawn with
   the seed, go to the gallery; the rest are mated searches.

A user-given split (:func:`split_protocol`) reads a metadata column whose values are
``gallery`` or ``probe``: subjects with a gallery sample are enrolled; a probe sample
of an enrolled subject is a mated search, any other probe sample a non-mated one.

The group of a search is the group of its probe sample; the group of an enrolled
subject is that of its first gallery sample (metadata order).

Gallery sizes
-------------
Enrolled subjects are numbered in a seeded random order (their *enrolled-subject
index*); the sub-gallery of size ``N_k`` for the gallery-size curves is the first
``N_k`` of them, so sub-galleries are nested and random. Sizes halve from the full
gallery down to 2 (at most ``MAX_GALLERY_SIZES``).
Each subject's *tier* is the index of the smallest sub-gallery that holds it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from faceparity.errors import InputError, Location, UsageError
from faceparity.model.comparisons import MISSING, Exclusion

__all__ = [
    "GALLERY_ROLE",
    "MAX_GALLERY_SIZES",
    "PROBE_ROLE",
    "Protocol",
    "ProtocolConfig",
    "build_protocol",
    "read_roles",
    "split_protocol",
]

GALLERY_ROLE = "gallery"
PROBE_ROLE = "probe"
MAX_GALLERY_SIZES = 8

MSG_FRACTION = "non-mated fraction: expected a number in (0, 1), got {value!r}"
MSG_GALLERY_SAMPLES = "gallery samples: expected at least 1, got {value!r}"
MSG_TOO_FEW_ENROLLED = (
    "expected at least 2 enrolled subjects for a 1:N search, got {count} ({how}); "
    "use more subjects or fewer gallery samples per subject"
)
MSG_NO_MATED = (
    "expected at least one mated search (a sample of an enrolled subject outside the "
    "gallery), got none ({how}); use subjects with more samples than --gallery-samples"
)
MSG_NO_NON_MATED = (
    "expected at least one non-mated search (a sample of a subject not in the gallery), "
    "got none ({how})"
)
MSG_BAD_ROLE = "expected {gallery!r} or {probe!r}, got {value!r}"
NO_GROUP_REASON = "sample with no group (a group-by attribute is empty); left out of the 1:N audit"
FEW_SAMPLES_REASON = (
    "subject with fewer samples than the gallery needs (--gallery-samples); left out of the "
    "1:N audit"
)


@dataclass(frozen=True)
class ProtocolConfig:
    """How the seeded protocol splits the samples.

    Parameters
    ----------
    gallery_samples : int
        Enrolment samples per enrolled subject, at least 1.
    non_mated_fraction : float
        Fraction of each group's subjects withheld from the gallery, in (0, 1).
    seed : int
        Seed of every random choice (who is withheld, which samples enrol, the order
        of the nested sub-galleries).

    """

    gallery_samples: int = 1
    non_mated_fraction: float = 0.3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.gallery_samples < 1:
            raise UsageError(MSG_GALLERY_SAMPLES.format(value=self.gallery_samples))
        if not (math.isfinite(self.non_mated_fraction) and 0.0 < self.non_mated_fraction < 1.0):
            raise UsageError(MSG_FRACTION.format(value=self.non_mated_fraction))


@dataclass(frozen=True, eq=False)
class Protocol:
    """Gallery and searches, as positions into the samples they were built from.

    Attributes
    ----------
    gallery : ndarray of int64
        Sample positions of the gallery, ordered by enrolled subject.
    gallery_subject : ndarray of int64
        Enrolled-subject index (0 .. n_enrolled - 1) of each gallery sample, ascending.
    enrolled : ndarray of int64
        Subject code (as given) of each enrolled subject, in the seeded random order
        that numbers them (enrolled-subject index ``i`` is ``enrolled[i]``).
    enrolled_group : ndarray of int64
        Group of each enrolled subject (of its first gallery sample).
    probes : ndarray of int64
        Sample positions of the searches: mated ones first, then non-mated.
    probe_mate : ndarray of int64
        Enrolled-subject index of each search's subject; -1 for a non-mated search.
    probe_group : ndarray of int64
        Group of each search (of its probe sample).
    tier : ndarray of int64
        Index of the smallest nested sub-gallery holding each enrolled subject
        (sub-gallery ``k`` holds the enrolled-subject indices below ``gallery_sizes[k]``).
    gallery_sizes : tuple of int
        Sizes of the nested sub-galleries, ascending; the last is the full gallery.
    exclusions : tuple of Exclusion
        What was left out, counted.
    description : dict
        The protocol in words and numbers, as written to ``results.json``.

    """

    gallery: npt.NDArray[np.int64]
    gallery_subject: npt.NDArray[np.int64]
    enrolled: npt.NDArray[np.int64]
    enrolled_group: npt.NDArray[np.int64]
    probes: npt.NDArray[np.int64]
    probe_mate: npt.NDArray[np.int64]
    probe_group: npt.NDArray[np.int64]
    tier: npt.NDArray[np.int64]
    gallery_sizes: tuple[int, ...]
    exclusions: tuple[Exclusion, ...] = ()
    description: dict[str, Any] = field(default_factory=dict)

    @property
    def n_enrolled(self) -> int:
        """Enrolled subjects (the gallery size N)."""
        return len(self.enrolled)

    @property
    def mated(self) -> npt.NDArray[np.bool_]:
        """True for mated searches."""
        return np.asarray(self.probe_mate >= 0)


def _sizes(n: int) -> tuple[int, ...]:
    """Nested sub-gallery sizes: halving from ``n`` down to 2, at most ``MAX_GALLERY_SIZES``."""
    sizes = sorted({max(2, round(n / 2**j)) for j in range(MAX_GALLERY_SIZES)} | {n})
    return tuple(int(s) for s in sizes if s <= n)


def _assemble(
    *,
    subject: npt.NDArray[np.int64],
    group: npt.NDArray[np.int64],
    gallery_mask: npt.NDArray[np.bool_],
    probe_mask: npt.NDArray[np.bool_],
    rank_key: npt.NDArray[np.float64],
    rng: np.random.Generator,
    exclusions: list[Exclusion],
    description: dict[str, Any],
    file: str | None,
) -> Protocol:
    how = description["kind"]
    gal = np.flatnonzero(gallery_mask)
    codes, inverse = np.unique(subject[gal], return_inverse=True)
    n = len(codes)
    if n < 2:
        raise InputError(MSG_TOO_FEW_ENROLLED.format(count=n, how=how), Location(file))
    # Enrolled subjects are numbered in a seeded random order: sub-gallery k is then the
    # first sizes[k] of them, and no tie rule favours low subject codes.
    index_of = np.empty(n, dtype=np.int64)
    index_of[rng.permutation(n)] = np.arange(n)
    unsorted = index_of[inverse]
    order = np.lexsort((rank_key[gal], unsorted))
    gal, gallery_subject = gal[order], unsorted[order]
    enrolled = np.empty(n, dtype=np.int64)
    enrolled[index_of] = codes
    first_row = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_row, gallery_subject, gal)  # first gallery sample, metadata order
    enrolled_group = group[first_row].astype(np.int64)
    probe = np.flatnonzero(probe_mask)
    where = np.minimum(np.searchsorted(codes, subject[probe]), n - 1)
    mate = np.where(codes[where] == subject[probe], index_of[where], -1).astype(np.int64)
    if not np.any(mate >= 0):
        raise InputError(MSG_NO_MATED.format(how=how), Location(file))
    if not np.any(mate < 0):
        raise InputError(MSG_NO_NON_MATED.format(how=how), Location(file))
    order = np.argsort(mate < 0, kind="stable")  # mated searches first
    probe, mate = probe[order], mate[order]
    sizes = _sizes(n)
    tier = np.searchsorted(np.asarray(sizes), np.arange(n), side="right").astype(np.int64)
    description = {
        **description,
        "n_enrolled_subjects": n,
        "n_gallery_samples": len(gal),
        "n_mated_searches": int(np.sum(mate >= 0)),
        "n_non_mated_searches": int(np.sum(mate < 0)),
        "gallery_sizes": list(sizes),
    }
    return Protocol(
        gallery=gal.astype(np.int64),
        gallery_subject=gallery_subject.astype(np.int64),
        enrolled=enrolled.astype(np.int64),
        enrolled_group=enrolled_group,
        probes=probe.astype(np.int64),
        probe_mate=mate,
        probe_group=group[probe].astype(np.int64),
        tier=tier,
        gallery_sizes=sizes,
        exclusions=tuple(exclusions),
        description=description,
    )


def build_protocol(
    subject: npt.ArrayLike,
    group: npt.ArrayLike,
    *,
    config: ProtocolConfig | None = None,
    file: str | None = None,
) -> Protocol:
    """The seeded open-set protocol (module notes) over samples with subjects and groups.

    Parameters
    ----------
    subject : array-like of int, shape (n,)
        Subject code of each sample.
    group : array-like of int, shape (n,)
        Group of each sample, ``MISSING`` (-1) where unknown.
    config : ProtocolConfig, optional
        Gallery samples per subject, non-mated fraction, seed.
    file : str, optional
        The metadata file, named in errors.

    Returns
    -------
    Protocol

    Raises
    ------
    InputError
        Fewer than 2 enrolled subjects, no mated or no non-mated search.

    Examples
    --------
    >>> p = build_protocol([0, 0, 1, 1, 2, 2, 3, 3], [0] * 8,
    ...                    config=ProtocolConfig(non_mated_fraction=0.25))
    >>> p.n_enrolled, int(p.mated.sum()), int((~p.mated).sum())
    (3, 3, 2)

    """
    config = config or ProtocolConfig()
    subj = np.asarray(subject, dtype=np.int64)
    grp = np.asarray(group, dtype=np.int64)
    rng = np.random.default_rng(config.seed)
    exclusions: list[Exclusion] = []
    known = grp != MISSING
    if not np.all(known):
        exclusions.append(Exclusion(NO_GROUP_REASON, int(np.sum(~known)), unit="samples"))
    rank_key = rng.random(len(subj))
    n_codes = int(subj.max()) + 1 if len(subj) else 0
    codes = np.arange(n_codes)
    kept = np.flatnonzero(known)
    # samples of known group, ordered by subject, then in a seeded random order
    order = kept[np.lexsort((rank_key[kept], subj[kept]))]
    s = subj[order]
    new_subject = np.r_[True, s[1:] != s[:-1]] if len(s) else np.zeros(0, dtype=bool)
    starts = np.flatnonzero(new_subject)
    position = np.full(len(subj), -1, dtype=np.int64)
    position[order] = np.arange(len(s)) - np.repeat(starts, np.diff(np.r_[starts, len(s)]))
    present = np.zeros(n_codes, dtype=bool)
    present[s] = True
    counts_known = np.bincount(s, minlength=n_codes)
    # each subject's group: that of its first sample in metadata order
    first = kept[np.unique(subj[kept], return_index=True)[1]]
    subject_group = np.full(n_codes, MISSING, dtype=np.int64)
    subject_group[subj[first]] = grp[first]
    withheld = np.zeros(n_codes, dtype=bool)
    for g in np.unique(subject_group[present]).tolist():
        members = codes[present & (subject_group == g)]
        members = members[rng.permutation(len(members))]
        n_out = round(config.non_mated_fraction * len(members))
        if len(members) >= 2:
            n_out = min(max(n_out, 1), len(members) - 1)
        withheld[members[:n_out]] = True
    too_few = present & ~withheld & (counts_known < config.gallery_samples)
    if np.any(too_few):
        exclusions.append(Exclusion(FEW_SAMPLES_REASON, int(np.sum(too_few)), unit="subjects"))
    enrolled = present & ~withheld & ~too_few
    gallery_mask = known & enrolled[subj] & (position < config.gallery_samples)
    probe_mask = known & ((enrolled[subj] & (position >= config.gallery_samples)) | withheld[subj])
    description = {
        "kind": "seeded",
        "gallery_samples": config.gallery_samples,
        "non_mated_fraction": config.non_mated_fraction,
        "seed": config.seed,
        "split_column": None,
    }
    return _assemble(
        subject=subj,
        group=grp,
        gallery_mask=gallery_mask,
        probe_mask=probe_mask,
        rank_key=rank_key,
        rng=rng,
        exclusions=exclusions,
        description=description,
        file=file,
    )


def split_protocol(
    subject: npt.ArrayLike,
    group: npt.ArrayLike,
    roles: npt.ArrayLike,
    *,
    seed: int = 0,
    split_column: str | None = None,
    file: str | None = None,
) -> Protocol:
    """The protocol of a user-given split: ``roles`` is True for gallery samples.

    Parameters
    ----------
    subject, group : array-like of int, shape (n,)
        As for :func:`build_protocol`.
    roles : array-like of bool, shape (n,)
        True where the sample enrols, False where it searches (see :func:`read_roles`).
    seed : int, default 0
        Seed of the order of the nested sub-galleries.
    split_column : str, optional
        The metadata column the roles came from, for the record.
    file : str, optional
        The metadata file, named in errors.

    Returns
    -------
    Protocol

    """
    subj = np.asarray(subject, dtype=np.int64)
    grp = np.asarray(group, dtype=np.int64)
    role = np.asarray(roles, dtype=bool)
    rng = np.random.default_rng(seed)
    exclusions: list[Exclusion] = []
    known = grp != MISSING
    if not np.all(known):
        exclusions.append(Exclusion(NO_GROUP_REASON, int(np.sum(~known)), unit="samples"))
    description = {
        "kind": "split",
        "gallery_samples": None,
        "non_mated_fraction": None,
        "seed": seed,
        "split_column": split_column,
    }
    return _assemble(
        subject=subj,
        group=grp,
        gallery_mask=known & role,
        probe_mask=known & ~role,
        rank_key=np.arange(len(subj), dtype=np.float64),
        rng=rng,
        exclusions=exclusions,
        description=description,
        file=file,
    )


def read_roles(
    metadata: str | os.PathLike[str], column: str, rows: npt.ArrayLike
) -> npt.NDArray[np.bool_]:
    """Gallery (True) or probe (False) of each sample, from a metadata column.

    Values are ``gallery`` or ``probe`` (case and surrounding spaces ignored); any other
    value, an empty one included, is an InputError naming the file, the 1-based data
    row and the column.

    Parameters
    ----------
    metadata : str or path-like
        The metadata table.
    column : str
        The column naming each sample's role.
    rows : array-like of int
        0-based data rows of the samples kept (``EmbeddingTable.rows``).

    Returns
    -------
    ndarray of bool

    """
    from faceparity.readers._table import load_table, require_columns

    file = str(metadata)
    table = load_table(metadata)
    require_columns(table, [column], file=file)
    values = table[column].astype("string").str.strip().str.lower()
    positions = np.asarray(rows, dtype=np.int64)
    picked = values.iloc[positions].fillna("")
    ok = picked.isin([GALLERY_ROLE, PROBE_ROLE]).to_numpy(dtype=bool)
    if not np.all(ok):
        k = int(np.flatnonzero(~ok)[0])
        raw = table[column].iloc[int(positions[k])]
        raise InputError(
            MSG_BAD_ROLE.format(gallery=GALLERY_ROLE, probe=PROBE_ROLE, value=raw),
            Location(file, int(positions[k]) + 1, column),
        )
    return np.asarray(picked.to_numpy() == GALLERY_ROLE, dtype=bool)
