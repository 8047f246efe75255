"""A result document on disk: one JSON file, written atomically and checked when read.

Every result faceparity writes and reads back (``results.json`` of an audit or of an
attribute audit, a composition card, ``mitigation.json``, a mitigation's
``parameters.json``) goes through these two pieces, so that a file that cannot be read,
is not UTF-8 JSON, nests too deep or holds a value out of its schema is one
:class:`~faceparity.errors.InputError` naming the file (and the key path).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from faceparity.errors import InputError, Location
from faceparity.io import atomic_write_text
from faceparity.results.schema import SchemaError, load_json, to_json_value

__all__ = ["JsonDocument", "read_document"]

T = TypeVar("T")


def read_document(path: str | Path, build: Callable[[Any], T], *, what: str = "file") -> T:
    """``build`` of the JSON in ``path``; every failure an InputError naming the file.

    ``build`` checks the parsed value and raises :class:`SchemaError` (with the key
    path) or :class:`InputError`; ``what`` names the file in a read error.
    """
    where = Location(file=str(path))
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(f"cannot read the {what}: {err.strerror or err}", where) from err
    except UnicodeDecodeError as err:
        raise InputError("expected UTF-8 JSON text", where) from err
    try:
        return build(load_json(text))
    except SchemaError as err:
        raise InputError(str(err), where) from err


class JsonDocument:
    """What a frozen result dataclass needs to be one JSON file, its version key first."""

    VERSION_KEY: ClassVar[str] = "schema_version"
    INDENT: ClassVar[int] = 2

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready mapping; keys in a stable order, the version first."""
        body: dict[str, Any] = to_json_value(self)
        if self.VERSION_KEY not in body:
            return body
        return {self.VERSION_KEY: body.pop(self.VERSION_KEY), **body}

    def to_json(self) -> str:
        """The JSON text (strict: no NaN or infinity)."""
        return json.dumps(self.to_dict(), indent=self.INDENT, allow_nan=False) + "\n"

    def write_json(self, path: str | Path) -> None:
        """Write the JSON atomically (a reader never sees half a file)."""
        atomic_write_text(Path(path), self.to_json())
