"""Golden files: the JSON and the table of a small fixed audit, byte for byte.

Run with ``FACEPARITY_UPDATE_GOLDEN=1`` to rewrite them after a deliberate change,
then read the diff before committing it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from _shared import mask_run
from faceparity import __version__, cli

GOLDEN = Path(__file__).parent / "golden"
ARGS = [
    "--score",
    "score",
    "--score-kind",
    "similarity",
    "--mated",
    "label",
    "--subjects",
    "id1,id2",
    "--samples",
    "p1,p2",
    "--attribute",
    "sex=g1,g2",
    "--attribute",
    "ethnicity=e1,e2",
    "--fmr",
    "0.2,0.1",
    "--policy",
    "global",
    "--policy",
    "per-group",
]


def _run(*extra: str) -> str:
    result = CliRunner().invoke(
        cli.main,
        ["audit", "pairs", str(GOLDEN / "pairs.csv"), *ARGS, *extra],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    # The source path differs between machines; the golden file holds the file name.
    return result.stdout.replace(str(GOLDEN / "pairs.csv"), "pairs.csv")


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("sex.json", ["--group-by", "sex", "--policy", "reference:sex=M", "--json"]),
        (
            "sex_ethnicity.txt",
            ["--group-by", "sex,ethnicity", "--policy", "reference:sex=M,ethnicity=W"],
        ),
        ("sex_involving.json", ["--group-by", "sex", "--fmr-scope", "involving", "--json"]),
    ],
)
def test_output_matches_golden_file(name: str, extra: list[str]) -> None:
    text = _run(*extra)
    if name.endswith(".json"):
        data = json.loads(text)
        assert data["tool"]["version"] == __version__
        mask_run(data)
        text = json.dumps(data, indent=2) + "\n"
    path = GOLDEN / name
    if os.environ.get("FACEPARITY_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()
