"""Processing time per image by group, from the image pipeline's output records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from faceparity.model.grouping import intersect
from faceparity.results.processing import GroupProcessingTime, ProcessingTime

__all__ = ["NOTE_MACHINE", "processing_time_by_group"]

NOTE_MACHINE = (
    "processing time measures this machine, with whatever else it ran, and this run's "
    "settings (threads, batch size, execution provider): per image, the wall time from "
    "reading the file to measuring the face on its thread, plus its share of its batch's "
    "inference; images whose record came from the pipeline's cache were not timed"
)


def processing_time_by_group(
    seconds: npt.ArrayLike,
    codes: Mapping[str, npt.NDArray[np.int32]],
    levels: Mapping[str, tuple[str, ...]],
    group_by: Sequence[str],
) -> ProcessingTime:
    """Median (and 90th percentile) time per image, overall and per group of ``group_by``.

    Parameters
    ----------
    seconds : array-like of float
        Each image's processing time; NaN for an image not timed.
    codes, levels : mappings
        Per attribute, each image's code and the levels (as for
        :func:`~faceparity.acquisition.acquisition_by_group`).
    group_by : sequence of str
        The attributes whose intersection makes the groups.

    """
    times = np.asarray(seconds, dtype=np.float64)
    groups, index = intersect(codes, levels, group_by)

    def summary(
        mask: npt.NDArray[np.bool_], attributes: dict[str, str], label: str
    ) -> GroupProcessingTime:
        mine = times[mask]
        timed = mine[~np.isnan(mine)]
        return GroupProcessingTime(
            attributes=attributes,
            label=label,
            n_images=int(mask.sum()),
            n_timed=int(timed.size),
            median_seconds=float(np.median(timed)) if timed.size else None,
            p90_seconds=float(np.quantile(timed, 0.9)) if timed.size else None,
        )

    return ProcessingTime(
        overall=summary(np.ones(times.size, dtype=bool), {}, "overall"),
        groups=[
            summary(np.asarray(index == g, dtype=bool), group.as_dict(), group.label)
            for g, group in enumerate(groups)
        ],
        notes=[NOTE_MACHINE],
    )
