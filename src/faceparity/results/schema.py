"""One writer and one reader for every result dataclass: JSON mapping out, typed object in.

The writer walks a frozen dataclass field by field, in declaration order (the key order
of the JSON), writes a non-finite float as ``null`` (JSON has no NaN) and leaves out an
optional field that is unset: a field named ``*_ci`` or ``*_support``, or one the class
lists in its ``OMIT_WHEN_UNSET``. The reader checks every key against the field's type
hint and names the key path of the first one that is missing or of the wrong type
(``operating_points[0].groups[2]: expected key 'fmr'``).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar, Union

__all__ = ["SchemaError", "from_json_value", "to_json_value"]

T = TypeVar("T")


class SchemaError(ValueError):
    """A mapping that does not have the shape of a result; ``path`` says where."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


def _omitted(cls: type, name: str) -> bool:
    """Whether the field ``name`` of ``cls`` is left out of the JSON while unset."""
    return name.endswith(("_ci", "_support")) or name in getattr(cls, "OMIT_WHEN_UNSET", ())


def to_json_value(value: Any) -> Any:
    """The JSON-ready form of a result dataclass (or of a value inside one)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if item is None and _omitted(cls, f.name):
                continue
            out[f.name] = to_json_value(item)
        return out
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    return value


def from_json_value(cls: type[T], data: Any, path: str = "") -> T:
    """Build the dataclass ``cls`` from its JSON mapping, checking every key's type.

    Raises
    ------
    SchemaError
        With the key path, for a missing key, an unknown key or a value of the wrong type.

    """
    return typing.cast(T, _read(cls, data, path))


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _read(tp: Any, value: Any, path: str) -> Any:
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        concrete = [o for o in options if o is not type(None)]
        if len(concrete) == 1:
            return _read(concrete[0], value, path)
        for option in concrete:
            try:
                return _read(option, value, path)
            except SchemaError:
                continue
        raise SchemaError(path, f"expected {tp}, got {_kind(value)}")
    if origin is list:
        if not isinstance(value, list):
            raise SchemaError(path, f"expected a list, got {_kind(value)}")
        (item,) = typing.get_args(tp)
        return [_read(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise SchemaError(path, f"expected an object, got {_kind(value)}")
        _, item = typing.get_args(tp)
        return {k: _read(item, v, f"{path}.{k}" if path else k) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return _read_dataclass(tp, value, path)
    if tp is float:
        # JSON writes 1.0 as 1.0, but a hand-made file may hold 1: an int is a number too.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        raise SchemaError(path, f"expected a number, got {_kind(value)}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise SchemaError(path, f"expected an integer, got {_kind(value)}")
    if tp is str or tp is bool:
        if isinstance(value, tp):
            return value
        raise SchemaError(
            path, f"expected {'a string' if tp is str else 'true or false'}, got {_kind(value)}"
        )
    raise TypeError(f"no reader for the type {tp!r}")  # a schema bug, not an input error


def _read_dataclass(cls: Any, value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        raise SchemaError(path, f"expected an object, got {_kind(value)}")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    names = set()
    for f in dataclasses.fields(cls):
        names.add(f.name)
        where = f"{path}.{f.name}" if path else f.name
        if f.name not in value:
            optional = (
                f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            )
            if optional:
                continue
            if _omitted(cls, f.name):
                kwargs[f.name] = None
                continue
            raise SchemaError(path, f"expected key {f.name!r}")
        item = _read(hints[f.name], value[f.name], where)
        if f.name.startswith("n_") and isinstance(item, int) and item < 0:
            raise SchemaError(where, f"expected an integer >= 0, got {item}")
        kwargs[f.name] = item
    unknown = [k for k in value if k not in names]
    if unknown:
        raise SchemaError(path, f"unexpected key {unknown[0]!r}")
    return cls(**kwargs)
