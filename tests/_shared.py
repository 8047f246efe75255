"""Helpers shared by the tests (not a test module)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_file(*parts: str) -> Path:
    """A file from ../shared/data, or skip the test when it is absent (as on a user's machine)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


def mask_run(data: dict) -> dict:
    """``results.json`` with what differs between runs masked: version, date and machine.

    The test log's command line, input files and their SHA-256 stay: they are the same
    on every machine once the golden folder's path is taken out of the text.
    """
    data["tool"]["version"] = "VERSION"
    log = data.get("test_log")
    if log is not None:
        log["date"] = "DATE"
        log["tool_version"] = "VERSION"
        log["machine"] = {key: "MACHINE" for key in log["machine"]}
        log["machine"]["cpu_count"] = None
    return data
