"""Golden files: the Markdown model card of the golden audits, byte for byte.

The report of ``faceparity report`` for the fixed 1:1 audit of ``sex.json`` (bootstrap
intervals) and the 1:N audit of ``ident_sex.json``. Run with
``FACEPARITY_UPDATE_GOLDEN=1`` to rewrite them after a deliberate change, then read the
diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from faceparity import __version__, cli

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize(
    ("source", "name"),
    [("sex.json", "report_sex.md"), ("ident_sex.json", "report_ident_sex.md")],
)
def test_markdown_card_matches_golden_file(source: str, name: str, tmp_path: Path) -> None:
    output = tmp_path / "report.md"
    run = CliRunner().invoke(
        cli.main, ["report", str(GOLDEN / source), "-o", str(output)], catch_exceptions=False
    )
    assert run.exit_code == 0, run.stderr
    text = output.read_text(encoding="utf-8").replace(__version__, "VERSION")
    path = GOLDEN / name
    if os.environ.get("FACEPARITY_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")
