"""``faceparity composition``: read a table of images, count, write the card (JSON and HTML)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

from faceparity.composition import CompositionConfig, compose
from faceparity.errors import InputError, Location
from faceparity.readers._table import load_table
from faceparity.results.composition import CompositionResult
from faceparity.workflow.outputs import OutputTransaction, check_outputs, refuse_overwriting
from faceparity.workflow.progress import Message, silent

__all__ = [
    "add_skin_colour",
    "read_reference",
    "read_table_without_embeddings",
    "run_composition",
]


def read_reference(path: Path) -> dict[str, dict[str, float]]:
    """A reference population: a TOML table per grouping, group label = share.

    Examples of the file::

        [race]
        white = 0.6
        black = 0.13

        ["sex x race"]
        "female/white" = 0.3

    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read the reference: {err}", Location(str(path))) from err
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"expected TOML: {err}", Location(str(path))) from err
    out: dict[str, dict[str, float]] = {}
    for grouping, shares in data.items():
        if not isinstance(shares, dict) or not shares:
            raise InputError(
                f"[{grouping}]: expected a table of group = share", Location(str(path))
            )
        for label, share in shares.items():
            if isinstance(share, bool) or not isinstance(share, int | float):
                raise InputError(
                    f"[{grouping}] {label}: expected a number, got {share!r}", Location(str(path))
                )
        out[grouping] = {str(k): float(v) for k, v in shares.items()}
    return out


def read_table_without_embeddings(path: Path) -> pd.DataFrame:
    """The table, without an ``embedding`` column (a composition never reads templates)."""
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            names = [n for n in pq.read_schema(path).names if n != "embedding"]
        except (OSError, ValueError) as err:
            raise InputError(f"cannot read the Parquet file: {err}", Location(str(path))) from err
        return load_table(path, columns=names)
    return load_table(path)


def add_skin_colour(
    frame: pd.DataFrame, table: Path, *, root: Path, path_column: str, subject_column: str
) -> pd.DataFrame:
    """Columns ``skin_l``, ``skin_a``, ``skin_b``: each image measured as an aligned face crop.

    The table is read as a manifest (its paths checked to stay inside ``root``); an
    image that cannot be read or decoded gets NaN (no skin colour), not an error.
    """
    from faceparity.pipeline.skincolour import skin_colours_of_images
    from faceparity.readers.manifest import read_manifest

    manifest = read_manifest(
        table, root=root, path_column=path_column, subject_column=subject_column
    )
    colours = list(skin_colours_of_images(manifest.files))
    out = frame.copy()
    out["skin_l"] = np.array([c.lightness for c in colours])
    out["skin_a"] = np.array([c.a for c in colours])
    out["skin_b"] = np.array([c.b for c in colours])
    return out


def run_composition(
    table: Path,
    config: CompositionConfig,
    *,
    output: Path,
    report: bool = True,
    root: Path | None = None,
    path_column: str = "path",
    message: Message = silent,
) -> tuple[CompositionResult, tuple[Path, ...]]:
    """Compose the card of ``table``; write ``output/composition.json`` (and ``.html``)."""
    json_path, html_path = output / "composition.json", output / "composition.html"
    refuse_overwriting(
        {"TABLE": table}, {"composition.json": json_path, "composition.html": html_path}
    )
    check_outputs([json_path, html_path if report else None])
    frame = read_table_without_embeddings(table)
    if root is not None:
        frame = add_skin_colour(
            frame,
            table,
            root=root,
            path_column=path_column,
            subject_column=config.subject or "subject",
        )
    result = compose(frame, config, file=str(table))
    with OutputTransaction(message=message) as outputs:
        written = [outputs.write_text(json_path, result.to_json())]
        if report:
            from faceparity.render.composition import render_composition_html

            written.append(outputs.write_text(html_path, render_composition_html(result)))
        outputs.commit()
    return result, tuple(written)
