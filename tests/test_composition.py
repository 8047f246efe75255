"""The composition card: counts, pairs, supportable rates and coverage on hand-built tables;
Monk Skin Tone swatches on pixels of known colour; the command and its card in Chromium."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from _browser import Browser, find_chromium
from _shared import shared_file
from faceparity import cli
from faceparity.composition import CompositionConfig, compose, errors_needed
from faceparity.errors import InputError, UsageError
from faceparity.pipeline.skincolour import (
    MONK_SWATCHES,
    hue_angle,
    monk_lightness,
    monk_tone,
    skin_colour,
)
from faceparity.pipeline.skintone import srgb_to_lab
from faceparity.results.composition import CompositionResult

SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-output"


def _table() -> pd.DataFrame:
    # subject a: 3 images (F), b: 1 image (F), c: 2 images (M); one image without sex.
    return pd.DataFrame(
        {
            "subject": ["a", "a", "a", "b", "c", "c", "d"],
            "sex": ["F", "F", "F", "F", "M", "M", ""],
            "age": ["20", "22", "24", "40", "31", "", "50"],
        }
    )


def test_counts_pairs_and_shares_by_hand() -> None:
    result = compose(_table(), CompositionConfig(("sex",), subject="subject", measures=("age",)))
    assert (result.overall.n_images, result.overall.n_subjects) == (7, 4)
    sex = result.grouping("sex")
    assert sex.n_ungrouped == 1
    f, m = sex.groups
    assert (f.label, f.n_images, f.n_subjects) == ("F", 4, 2)
    assert f.share_of_images == pytest.approx(4 / 7) and f.share_of_subjects == 0.5
    # mated: C(3,2) of a; non-mated: a's 3 x b's 1
    assert (f.n_mated_pairs, f.n_non_mated_pairs) == (3, 3)
    assert (m.n_mated_pairs, m.n_non_mated_pairs) == (1, 0)
    assert (f.images_per_subject_mean, f.images_per_subject_max) == (2.0, 3)
    # fewer trials than the rule of 30 asks: no supportable rate
    assert f.min_rate_per_image is None and f.min_fmr is None
    age = next(x for x in f.measures if x.name == "age")
    assert (age.n, age.mean, age.median) == (4, 26.5, 23.0)
    age_m = next(x for x in m.measures if x.name == "age")
    assert age_m.n == 1  # an empty cell is no measure, not a zero


def test_supportable_rates_follow_the_rule_of_30() -> None:
    assert errors_needed(1) == pytest.approx(30.06, abs=0.01)
    assert errors_needed(10) == pytest.approx(73.72, abs=0.01)  # z = 2.5758
    n = 300
    frame = pd.DataFrame({"subject": [f"s{i // 3}" for i in range(n)], "g": ["x"] * n})
    result = compose(frame, CompositionConfig(("g",), subject="subject", comparisons=10))
    (group,) = result.grouping("g").groups
    assert group.min_rate_per_image == pytest.approx(errors_needed(10) / 300)
    assert group.n_mated_pairs == 100 * 3
    assert group.n_non_mated_pairs == (300 * 300 - 100 * 9) // 2
    assert group.min_fnmr == pytest.approx(errors_needed(10) / 300)
    assert group.min_fmr == pytest.approx(errors_needed(10) / group.n_non_mated_pairs)


def test_coverage_against_a_reference() -> None:
    frame = pd.DataFrame({"g": ["x"] * 30 + ["y"] * 70})
    result = compose(frame, CompositionConfig(("g",), reference={"g": {"x": 0.5, "y": 0.5}}))
    coverage = result.grouping("g").coverage
    assert coverage is not None and coverage.unit == "images"
    assert coverage.total_variation == pytest.approx(0.2)
    assert coverage.chi_square == pytest.approx(2 * 20**2 / 50)
    assert coverage.dof == 1
    assert coverage.p_value == pytest.approx(math.erfc(math.sqrt(16 / 2)))
    assert (coverage.under_represented, coverage.over_represented) == (["x"], ["y"])
    x, _ = result.grouping("g").groups
    assert (x.reference_share, x.representation) == (0.5, "under")
    # a group of the reference missing from the data counts as zero
    result = compose(
        frame, CompositionConfig(("g",), reference={"g": {"x": 0.4, "y": 0.4, "z": 0.2}})
    )
    coverage = result.grouping("g").coverage
    assert coverage is not None and "z" in coverage.under_represented
    with pytest.raises(UsageError, match="'y' has none"):
        compose(frame, CompositionConfig(("g",), reference={"g": {"x": 1.0}}))
    with pytest.raises(UsageError, match="summing to 1"):
        compose(frame, CompositionConfig(("g",), reference={"g": {"x": 0.5, "y": 0.2}}))


def test_bad_cells_name_row_and_column() -> None:
    frame = pd.DataFrame({"g": ["x", "y"], "age": ["3", "old"]})
    with pytest.raises(InputError, match=r"t\.csv, row 2, column 'age'"):
        compose(frame, CompositionConfig(("g",), measures=("age",)), file="t.csv")


@pytest.mark.parametrize("tone", range(1, 11))
def test_monk_swatch_of_a_face_of_that_colour(tone: int) -> None:
    colour = MONK_SWATCHES[tone - 1]
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    face = np.zeros((112, 112, 3), dtype=np.uint8)
    face[:] = rgb
    measured = skin_colour(face)
    lab = srgb_to_lab(np.array([rgb], dtype=np.uint8))[0]
    assert (measured.lightness, measured.a, measured.b) == pytest.approx(tuple(lab))
    assert measured.monk == tone
    assert measured.hue == pytest.approx(math.degrees(math.atan2(lab[2], lab[1])))


def test_monk_of_grey_and_unmeasurable_faces() -> None:
    # sRGB 119 grey has L* 50.0; the nearest swatch lightness is MST 6 (55.1, against 42.5)
    grey = np.full((56, 56, 3), 119, dtype=np.uint8)
    assert skin_colour(grey).lightness == pytest.approx(50.0, abs=0.05)
    assert skin_colour(grey).monk == 6
    white = np.full((112, 112, 3), 255, dtype=np.uint8)  # clipped: not skin
    assert math.isnan(skin_colour(white).lightness) and skin_colour(white).monk == 0
    assert monk_lightness()[0] == pytest.approx(94.21, abs=0.01)
    assert monk_tone([100.0, 0.0]).tolist() == [1, 10]
    assert hue_angle(-1.0, 0.0) == 180.0


def test_embed_like_columns_give_skin_categories() -> None:
    frame = pd.DataFrame(
        {
            "g": ["x", "x", "y"],
            "skin_l": [94.21, 30.68, np.nan],
            "skin_a": [1.5, 11.67, np.nan],
            "skin_b": [5.43, 13.34, np.nan],
            "yaw": ["1.5", "-3", ""],
        }
    )
    result = compose(frame, CompositionConfig(("g",)))
    x, y = result.grouping("g").groups
    assert x.categories["monk"]["MST 1"] == 1 and x.categories["monk"]["MST 8"] == 1
    assert x.categories["ita_band"] == {"very light": 1, "dark": 1}
    assert sum(y.categories["monk"].values()) == 0
    names = {m.name for m in x.measures}
    assert {"skin_l", "skin_hue", "ita", "yaw"} <= names


def test_command_card_round_trip_and_browser(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    table = pd.DataFrame(
        {
            "path": [f"i{i}.png" for i in range(40)],
            "subject": [f"s{i // 2}" for i in range(40)],
            "sex": ["female", "female", "male", "male"] * 10,
            "race": ['<img src=x onerror="window.__pwned=1">'] * 4 + ["b"] * 36,
        }
    )
    table.to_csv(manifest, index=False)
    reference = tmp_path / "ref.toml"
    reference.write_text("[sex]\nfemale = 0.5\nmale = 0.5\n")
    out = tmp_path / "card"
    args = ["composition", str(manifest), "--group-by", "sex", "--group-by", "race"]
    args += ["--subject", "subject", "--reference", str(reference), "-o", str(out)]
    run = CliRunner().invoke(cli.main, args, catch_exceptions=False)
    assert run.exit_code == 0, run.stderr
    assert "40 images of 20 subjects" in run.stdout
    card = CompositionResult.read_json(out / "composition.json")
    assert card.grouping("sex").coverage is not None
    data = json.loads((out / "composition.json").read_text())
    data["overall"]["share_of_images"] = 2.0
    (out / "bad.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="overall.share_of_images"):
        CompositionResult.read_json(out / "bad.json")
    bad = CliRunner().invoke(
        cli.main, [*args[:-2], "--reference", str(manifest), "-o", str(tmp_path / "x")]
    )
    assert bad.exit_code == 2 and not (tmp_path / "x").exists()
    find_chromium()
    facts_js = """({
      figures: [...document.querySelectorAll('figure.chart')].map(f => f.id),
      labelled: [...document.querySelectorAll('figure.chart > svg[role=img]')].length,
      scripts: document.scripts.length, pwned: window.__pwned === 1,
    })"""
    with Browser(tmp_path / "profile") as browser:
        load = browser.load(
            out / "composition.html",
            facts_js=facts_js,
            screenshot=SCREENSHOTS / "composition-card.png",
        )
    assert load.console_errors == [] and load.requests == []
    assert load.facts["pwned"] is False and load.facts["scripts"] == 0
    assert load.facts["figures"] == ["share-0", "share-1", "share-2"]
    assert load.facts["labelled"] == 3


def test_utkface_sample_card(tmp_path: Path) -> None:
    manifest = shared_file("utkface-sample", "manifest.csv")
    from faceparity.workflow.composition import run_composition

    config = CompositionConfig(("sex", "race"), subject="subject", measures=("age",))
    result, _ = run_composition(
        manifest, config, output=tmp_path, root=manifest.parent, report=False
    )
    cells = result.grouping("sex x race").groups
    assert [g.n_images for g in cells] == [200] * 10
    monk = sum(sum(g.categories["monk"].values()) for g in cells)
    assert monk > 1900  # nearly every chip has a measurable skin colour


def test_ita_band_counts_match_the_per_image_band() -> None:
    from faceparity.composition.card import ita_band_counts
    from faceparity.pipeline.skintone import ita_band

    rng = np.random.default_rng(1)
    values = np.concatenate(
        [rng.uniform(-90, 90, 500), [55.0, 41.0, 28.0, 10.0, -30.0, np.nan, 120.0, -170.0]]
    )
    expected = pd.Series([ita_band(v) for v in values]).value_counts().to_dict()
    assert ita_band_counts(values) == expected
