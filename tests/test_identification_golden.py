"""Golden files of the 1:N audit: the table and the JSON of a small fixed run, byte for byte.

The embeddings are sign vectors (entries +-1/4 in 16 dimensions), so every score is a
multiple of 1/16 and exact on any machine. Run with ``FACEPARITY_UPDATE_GOLDEN=1`` to
rewrite them after a deliberate change, then read the diff before committing it.
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
    "audit", "embeddings", str(GOLDEN / "ident_embeddings.npy"),
    "--metadata", str(GOLDEN / "ident_metadata.csv"), "--sample-id", "sample",
    "--subject", "subject", "--attribute", "sex=sex", "--group-by", "sex", "--fmr", "0.1",
    "--mode", "identification", "--rank", "2", "--target-fpir", "0.3,0.1",
    "--non-mated-fraction", "0.34", "--policy", "global", "--policy", "per-group",
]  # fmt: skip


@pytest.mark.parametrize("name", ["ident_sex.txt", "ident_sex.json"])
def test_identification_output_matches_golden_file(name: str) -> None:
    extra = ["--json"] if name.endswith(".json") else []
    run = CliRunner().invoke(cli.main, [*ARGS, *extra], catch_exceptions=False)
    assert run.exit_code == 0, run.stderr
    text = run.stdout.replace(str(GOLDEN) + os.sep, "")
    if name.endswith(".json"):
        data = json.loads(text)
        assert data["tool"]["version"] == __version__
        mask_run(data)
        text = json.dumps(data, indent=2) + "\n"
    path = GOLDEN / name
    if os.environ.get("FACEPARITY_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()
