"""Processing time per image by group: hand-worked medians, untimed images, empty groups."""

from __future__ import annotations

import math

import numpy as np
import pytest

from faceparity.acquisition import processing_time_by_group
from faceparity.model.grouping import MISSING


def test_median_and_90th_percentile_by_group_leave_untimed_images_out() -> None:
    # sex codes: F=0, M=1, and one image without a sex; levels also name an empty group X.
    codes = {"sex": np.array([0, 0, 0, 1, 1, MISSING, 0], dtype=np.int32)}
    levels = {"sex": ("F", "M", "X")}
    seconds = [0.1, 0.3, math.nan, 0.2, 0.6, 5.0, 0.2]
    timing = processing_time_by_group(seconds, codes, levels, ["sex"])
    by_label = {g.label: g for g in timing.groups}
    f, m = by_label["F"], by_label["M"]
    assert (f.n_images, f.n_timed) == (4, 3)
    assert f.median_seconds == pytest.approx(0.2)
    assert f.p90_seconds == pytest.approx(np.quantile([0.1, 0.3, 0.2], 0.9))
    assert (m.n_images, m.n_timed, m.median_seconds) == (2, 2, pytest.approx(0.4))
    if "X" in by_label:  # a level without images: counted as none, not as zero seconds
        assert by_label["X"].n_timed == 0 and by_label["X"].median_seconds is None
    # overall: every image, the ungrouped one included; NaN left out.
    assert timing.overall.n_images == 7 and timing.overall.n_timed == 6
    assert timing.overall.median_seconds == pytest.approx(0.25)
    assert "measures this machine" in timing.notes[0]


def test_nothing_timed_gives_no_median() -> None:
    codes = {"sex": np.array([0, 1], dtype=np.int32)}
    timing = processing_time_by_group([math.nan, math.nan], codes, {"sex": ("F", "M")}, ["sex"])
    assert all(g.median_seconds is None and g.p90_seconds is None for g in timing.groups)
    assert timing.overall.n_timed == 0
