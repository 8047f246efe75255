from __future__ import annotations

import numpy as np
import pytest

from faceparity import ComparisonSet, InputError, ScoreKind, UsageError, group_comparisons
from faceparity.model.comparisons import MISSING
from faceparity.model.grouping import RESERVED_LABELS, intersect


def _set(sex_a, sex_b, eth_a, eth_b) -> ComparisonSet:
    n = len(sex_a)
    return ComparisonSet.from_arrays(
        score=np.linspace(0, 1, n),
        mated=[False] * n,
        score_kind=ScoreKind.SIMILARITY,
        subject_a=[f"a{i}" for i in range(n)],
        subject_b=[f"b{i}" for i in range(n)],
        attributes_a={"sex": sex_a, "eth": eth_a},
        attributes_b={"sex": sex_b, "eth": eth_b},
    )


def test_intersections_are_the_observed_combinations_in_level_order() -> None:
    cs = _set(["M", "F", "F"], ["F", "M", None], ["W", "B", "W"], ["B", "W", "B"])
    grouping = group_comparisons(cs, ["sex", "eth"])
    # Observed on either side: M/W, F/B, F/W, M/W (b side: F/B, M/W, missing); F/W from row 3 a
    assert [g.label for g in grouping.groups] == ["F/B", "F/W", "M/W"]
    assert [g.as_dict() for g in grouping.groups][0] == {"sex": "F", "eth": "B"}
    np.testing.assert_array_equal(grouping.codes, [[2, 0], [0, 2], [1, MISSING]])
    np.testing.assert_array_equal(grouping.complete, [True, True, False])


def test_order_of_group_by_sets_the_label_order() -> None:
    cs = _set(["M"], ["F"], ["W"], ["B"])
    assert [g.label for g in group_comparisons(cs, ["eth", "sex"]).groups] == ["B/F", "W/M"]


def test_colliding_labels_name_their_attributes() -> None:
    cs = _set(["x/y", "x"], ["x/y", "x"], ["z", "y/z"], ["z", "y/z"])
    labels = [g.label for g in group_comparisons(cs, ["sex", "eth"]).groups]
    assert labels == ["sex='x', eth='y/z'", "sex='x/y', eth='z'"]


def test_find_names_exactly_the_group_by_attributes() -> None:
    grouping = group_comparisons(_set(["M"], ["F"], ["W"], ["B"]), ["sex", "eth"])
    assert grouping.find([("eth", "B"), ("sex", "F")]) == 0
    with pytest.raises(UsageError, match="exactly the group-by attributes"):
        grouping.find([("sex", "F")])
    with pytest.raises(UsageError, match="not in the data"):
        grouping.find([("sex", "F"), ("eth", "W")])


@pytest.mark.parametrize(
    ("group_by", "error"),
    [([], UsageError), (["sex", "sex"], UsageError), (["age"], InputError)],
)
def test_bad_group_by(group_by, error) -> None:
    with pytest.raises(error):
        group_comparisons(_set(["M"], ["F"], ["W"], ["B"]), group_by)


def test_a_group_value_named_overall_is_labelled_by_its_attribute() -> None:
    codes = {"sex": np.array([0, 1, 1, 0], dtype=np.int32)}
    groups, _ = intersect(codes, {"sex": ("F", "overall")}, ["sex"])
    assert [g.label for g in groups] == ["sex='F'", "sex='overall'"]
    assert all(g.label not in RESERVED_LABELS for g in groups)
