"""The package root: its public names, imported on first use."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import faceparity

HEAVY = ("pandas", "pyarrow", "scipy", "numba", "matplotlib", "jinja2", "torch", "dask",
         "onnxruntime", "cv2")  # fmt: skip


def _imported_after(code: str) -> list[str]:
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps(sorted(set(sys.modules) & {set(HEAVY)!r})))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_and_help_load_no_heavy_module() -> None:
    assert _imported_after("import faceparity") == []
    help_run = (
        "from click.testing import CliRunner\n"
        "from faceparity import cli\n"
        "result = CliRunner().invoke(cli.main, ['audit', 'pairs', '--help'])\n"
        "assert result.exit_code == 0, result.output"
    )
    assert _imported_after(help_run) == []


def test_every_public_name_resolves() -> None:
    for name in faceparity.__all__:
        assert getattr(faceparity, name) is not None, name
    assert set(faceparity.__all__) <= set(dir(faceparity))
    assert faceparity.read_pairs.__module__.startswith("faceparity.readers")


def test_subpackages_and_unknown_names() -> None:
    assert faceparity.metrics.__name__ == "faceparity.metrics"
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        _ = faceparity.no_such_name  # type: ignore[attr-defined]


def test_python_dash_m_faceparity_is_the_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "faceparity", "audit", "pairs", "--help"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "--score-kind" in result.stdout
