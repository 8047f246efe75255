"""The package's imports follow its data flow: no module imports a later stage, no cycles.

Stages, from the bottom (importable by every stage above) to the top:

0. foundation: the version, errors, atomic writing, how loops are compiled (numba),
   the data model (comparisons, groups, populations, configuration) and the result
   schema (``results/``, which imports nothing but the standard library and this
   foundation);
1. scoring and accumulation (comparison kernels, the streaming accumulator);
2. metrics (rates, curves, summary measures of a differential);
3. readers (tables, embeddings, manifests), the image pipeline and the simulator:
   streamed readers fill an accumulator as they read, so they sit above it;
4. audits (1:1 verification, 1:N identification);
5. uncertainty (the subject bootstrap re-runs the audits' operating points), and
   acquisition, whose failure rates are computed with their subject-bootstrap intervals;
6. render and review (what is done with a finished result);
7. workflow and the demo;
8. the command line; then the package root, which re-exports the public API.

A module may import from its own stage or any stage below. Imports are read from the
source (every ``import`` statement, at any depth, except under ``TYPE_CHECKING``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "faceparity"

# Most specific prefix first.
STAGES: list[tuple[str, int]] = [
    ("faceparity._version", 0),
    ("faceparity._jit", 0),
    ("faceparity.errors", 0),
    ("faceparity.io", 0),
    ("faceparity.model", 0),
    ("faceparity.results", 0),
    ("faceparity.scoring", 1),
    ("faceparity.accumulate", 1),
    ("faceparity.metrics", 2),
    ("faceparity.readers", 3),
    ("faceparity.pipeline", 3),
    ("faceparity.synthetic.simulate", 3),
    ("faceparity.verification", 4),
    ("faceparity.identification", 4),
    ("faceparity.uncertainty", 5),
    ("faceparity.acquisition", 5),
    ("faceparity.attributes", 5),
    ("faceparity.composition", 5),
    ("faceparity.explain", 5),
    ("faceparity.mitigation", 5),
    ("faceparity.render", 6),
    ("faceparity.review", 6),
    ("faceparity.workflow", 7),
    ("faceparity.synthetic", 7),
    ("faceparity.cli", 8),
    ("faceparity", 9),
]

RESULTS_MAY_IMPORT = ("faceparity._version", "faceparity.errors", "faceparity.io")


def stage(module: str) -> int:
    for prefix, level in STAGES:
        if module == prefix or module.startswith(prefix + "."):
            return level
    raise AssertionError(f"{module} is in no stage of the layout")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """The faceparity modules ``path`` imports (a ``from X import name`` counts ``X.name``
    when that is a module of the package, else ``X``)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            for alias in node.names:
                candidate = f"{origin}.{alias.name}"
                found.add(candidate if _is_module(candidate) else origin)
    return {m for m in found if m == "faceparity" or m.startswith("faceparity.")}


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_run_down_the_flow(path: Path) -> None:
    name = module_name(path)
    upward = sorted(m for m in imported(path) if stage(m) > stage(name))
    assert not upward, f"{name} (stage {stage(name)}) imports later stages: {upward}"


def test_results_import_only_the_foundation() -> None:
    for path in (PACKAGE / "results").rglob("*.py"):
        others = {
            m
            for m in imported(path)
            if not m.startswith("faceparity.results") and m not in RESULTS_MAY_IMPORT
        }
        assert not others, f"{module_name(path)} imports {sorted(others)}"


def test_no_import_cycles() -> None:
    graph = {module_name(p): imported(p) for p in MODULES}

    def owner(m: str) -> str:
        while m not in graph and "." in m:
            m = m.rpartition(".")[0]
        return m

    edges = {m: {owner(t) for t in targets} - {m} for m, targets in graph.items()}
    # A package's __init__ re-exporting its own modules is not a cycle of the layout.
    for m in edges:
        edges[m] = {t for t in edges[m] if not m.startswith(t + ".")}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(m: str) -> None:
        if m in done:
            return
        assert m not in visiting, "import cycle: " + " -> ".join([*visiting, m])
        visiting.append(m)
        for t in sorted(edges.get(m, ())):
            visit(t)
        visiting.pop()
        done.add(m)

    for m in sorted(edges):
        visit(m)


def test_every_module_has_a_stage() -> None:
    for path in MODULES:
        stage(module_name(path))


ISSUE_NUMBER = re.compile(r"\bissues? #?\d", re.IGNORECASE)


def test_no_comment_names_an_issue() -> None:
    offenders = []
    for path in MODULES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if ISSUE_NUMBER.search(line):
                offenders.append(f"{module_name(path)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
