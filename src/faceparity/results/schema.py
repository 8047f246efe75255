"""One writer and one reader for every result dataclass: JSON mapping out, typed object in.

The writer walks a frozen dataclass field by field, in declaration order (the key order
of the JSON), writes a non-finite float as ``null`` (JSON has no NaN) and leaves out an
optional field that is unset: a field named ``*_ci`` or ``*_support``, or one the class
lists in its ``OMIT_WHEN_UNSET``.

The reader is the boundary of every command that reads a result back. It refuses, with
the key path of the first offending value (``operating_points[0].summary.fmr.max_min:
expected an object, got true``):

* a key that is missing, unknown or of the wrong type (each key against the field's type
  hint; what was got in JSON's words: ``null``, ``true``, ``the string '18'``);
* a number that is not finite (Python's :mod:`json` reads ``NaN`` and ``Infinity``,
  which JSON does not have) or an integer that is not a count in ``[0, 2**63)``;
* a number outside the bounds its type declares with :class:`Within`
  (:data:`Fraction`, :data:`Target`, :data:`NonNegative`, ...), such as a rate above 1;
* lists that a class says go together but are of unequal length (its
  ``schema_problem``), such as a DET curve with more FMRs than thresholds;
* JSON nested deeper than :data:`MAX_DEPTH` and an object with a key given twice
  (:func:`load_json`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
import types
import typing
from collections.abc import Mapping, Sized
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, Union

__all__ = [
    "FRACTION",
    "LEVEL",
    "MAX_DEPTH",
    "MAX_INTEGER",
    "NON_NEGATIVE",
    "RATIO",
    "TARGET",
    "Fraction",
    "Level",
    "NonNegative",
    "Ratio",
    "SchemaError",
    "Target",
    "Within",
    "check_json",
    "from_json_value",
    "json_kind",
    "length_problem",
    "load_json",
    "to_json_value",
]

T = TypeVar("T")

MAX_DEPTH = 64
"""The deepest nesting of objects and lists a result may have (the schema itself needs 8)."""
MAX_INTEGER = 2**63 - 1
"""The largest count a result may hold (every integer of a result is a count, a rank or a seed)."""
MSG_DEPTH = f"expected JSON nested at most {MAX_DEPTH} deep"
MSG_REPEATED_KEY = "key {key!r} given twice"


class SchemaError(ValueError):
    """A mapping that does not have the shape of a result; ``path`` says where.

    ``expected`` is what the value at ``path`` should have been, when the error is about
    that value alone (its type, its bounds): the reader of an optional field adds
    ``or null`` to it.
    """

    def __init__(self, path: str, message: str, *, expected: str = "", got: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message
        self.expected = expected
        self.got = got


def _expected(path: str, expected: str, value: Any) -> SchemaError:
    got = json_kind(value)
    return SchemaError(path, f"expected {expected}, got {got}", expected=expected, got=got)


@dataclass(frozen=True)
class Within:
    """Bounds of a number, as the metadata of an ``Annotated`` type of a result field.

    Applied to a number, or to the ``BOUNDED`` fields of a dataclass (the bounds of an
    interval of a rate are rates too; the value of a Gini coefficient and its interval
    are fractions).

    Attributes
    ----------
    low, high : float
        The bounds.
    what : str
        The number in words, for the message (``a fraction in [0, 1]``).
    open : bool, default False
        Whether the bounds themselves are excluded.

    """

    low: float
    high: float
    what: str
    open: bool = False

    def holds(self, value: float) -> bool:
        """Whether ``value`` lies within the bounds."""
        if self.open:
            return self.low < value < self.high
        return self.low <= value <= self.high


FRACTION = Within(0.0, 1.0, "a fraction in [0, 1]")
"""A rate or a share: FMR, FNMR, FPIR, FNIR, the CMC, FTA, FTE."""
TARGET = Within(0.0, 1.0, "a rate in (0, 1)", open=True)
"""A target FMR or FPIR (the audit takes only rates in (0, 1))."""
LEVEL = Within(0.0, 1.0, "a number in (0, 1)", open=True)
"""A confidence level."""
NON_NEGATIVE = Within(0.0, math.inf, "a number >= 0")
"""An expected number of errors or of candidates."""
RATIO = Within(0.0, 2.0**63, "a ratio of rates in [0, 2**63]")
"""A ratio of two rates (a nonzero rate of fewer than 2**63 trials is at least 2**-63)."""

Fraction = Annotated[float, FRACTION]
Target = Annotated[float, TARGET]
Level = Annotated[float, LEVEL]
NonNegative = Annotated[float, NON_NEGATIVE]
Ratio = Annotated[float, RATIO]


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


def json_kind(value: Any) -> str:
    """What a JSON value is, in JSON's words: ``null``, ``true``, ``the string 'x'``, ``NaN``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, int):
        digits = _digits(value)
        return str(value) if digits <= 20 else f"an integer of {digits} digits"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _digits(value: int) -> int:
    try:
        return len(str(abs(value)))
    except ValueError:  # beyond Python's limit on converting integers to text
        return int(abs(value).bit_length() * math.log10(2)) + 1


class _JsonObject(dict[str, Any]):
    """A JSON object as parsed, remembering the first key that was given twice."""

    repeated: str | None = None


def _object_pairs(pairs: list[tuple[str, Any]]) -> _JsonObject:
    obj = _JsonObject(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                obj.repeated = key
                break
            seen.add(key)
    return obj


def load_json(text: str) -> Any:
    """Parse the text of a result; :func:`from_json_value` then checks what it holds.

    An object whose key is given twice is kept (with the last value, as :mod:`json`
    does) but marked, so that :func:`check_json` refuses it with its key path.

    Raises
    ------
    SchemaError
        When the text is not JSON, or nests so deep that the parser gives up (with the
        key path and the line and column where it goes deeper than :data:`MAX_DEPTH`).

    """
    try:
        data = json.loads(text, object_pairs_hook=_object_pairs)
    except json.JSONDecodeError as err:
        raise SchemaError(
            "", f"expected JSON: {err.msg} (line {err.lineno}, column {err.colno})"
        ) from err
    except RecursionError as err:
        path, line, column = _too_deep_in_text(text)
        raise SchemaError(path, f"{MSG_DEPTH} (line {line}, column {column})") from err
    except ValueError as err:  # an integer beyond Python's limit on converting text
        raise SchemaError("", f"expected JSON with numbers Python can read: {err}") from err
    return data


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]')


def _too_deep_in_text(text: str) -> tuple[str, int, int]:
    """Key path, line and column of the first object or list nested too deep in ``text``."""
    stack: list[list[Any]] = []  # per open container: [kind, key or index, expecting a key]
    for match in _TOKEN.finditer(text):
        token = match.group()
        top = stack[-1] if stack else None
        if token in ("[", "{"):
            if len(stack) >= MAX_DEPTH:
                start = match.start()
                line = text.count("\n", 0, start) + 1
                column = start - (text.rfind("\n", 0, start) + 1) + 1
                return _path_of(stack), line, column
            stack.append([token, 0 if token == "[" else "", token == "{"])
        elif token in ("]", "}"):
            if stack:
                stack.pop()
        elif token == ",":
            if top is not None and top[0] == "[":
                top[1] += 1
            elif top is not None:
                top[2] = True
        elif top is not None and top[0] == "{" and top[2]:
            try:
                top[1] = json.loads(token)
            except ValueError:
                top[1] = token.strip('"')
            top[2] = False
    return "", 1, 1  # pragma: no cover - only called on text the parser found too deep


def _path_of(stack: list[list[Any]]) -> str:
    path = ""
    for kind, at, _ in stack:
        path = _join(path, at if kind == "[" else str(at))
    return path


def _join(path: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else part


def check_json(data: Any, path: str = "") -> None:
    """Refuse parsed JSON nested deeper than :data:`MAX_DEPTH`, or with a key given twice.

    Walks without recursion, so that no nesting can exhaust Python's stack.

    Raises
    ------
    SchemaError
        With the key path of the first container too deep, or of the object whose key
        was given twice.

    """
    pending: list[tuple[Any, str, int]] = [(data, path, 1)]
    while pending:
        value, where, depth = pending.pop()
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_DEPTH:
            raise SchemaError(where, MSG_DEPTH)
        if isinstance(value, _JsonObject) and value.repeated is not None:
            raise SchemaError(where, MSG_REPEATED_KEY.format(key=value.repeated))
        items = value.items() if isinstance(value, dict) else enumerate(value)
        pending.extend((item, _join(where, key), depth + 1) for key, item in reversed(list(items)))


def length_problem(
    lists: Mapping[str, Sized], *, expected: int, per: str
) -> tuple[str, str] | None:
    """The first of ``lists`` (by name) whose length is not ``expected``, for ``schema_problem``.

    Returns
    -------
    tuple of str or None
        The name and ``expected N items (one per <per>), got M``; None when all fit.

    """
    for name, items in lists.items():
        if len(items) != expected:
            return name, f"expected {expected} items (one per {per}), got {len(items)}"
    return None


def from_json_value(cls: type[T], data: Any, path: str = "") -> T:
    """Build the dataclass ``cls`` from its JSON mapping, checking every key's type.

    Raises
    ------
    SchemaError
        With the key path, for a missing key, an unknown key, a value of the wrong type
        or out of its bounds, lists of unequal length or nesting too deep.

    """
    check_json(data, path)
    return typing.cast(T, _read(cls, data, path))


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _read(tp: Any, value: Any, path: str) -> Any:
    if tp is Any:
        _check_finite(value, path)
        return value
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _read_within(tp, value, path)
    if origin in (Union, types.UnionType):
        return _read_union(tp, value, path)
    if origin is list:
        if not isinstance(value, list):
            raise _expected(path, "a list", value)
        (item,) = typing.get_args(tp)
        return [_read(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _expected(path, "an object", value)
        _, item = typing.get_args(tp)
        return {k: _read(item, v, _join(path, k)) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return _read_dataclass(tp, value, path)
    if tp is float:
        return _read_number(value, path, "a finite number")
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _expected(path, "an integer", value)
        if value < 0:
            raise SchemaError(path, f"expected an integer >= 0, got {json_kind(value)}")
        if value > MAX_INTEGER:
            raise SchemaError(path, f"expected an integer below 2**63, got {json_kind(value)}")
        return value
    if tp is str:
        if isinstance(value, str):
            return value
        raise _expected(path, "a string", value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _expected(path, "true or false", value)
    raise TypeError(f"no reader for the type {tp!r}")  # a schema bug, not an input error


def _check_finite(value: Any, path: str) -> None:
    """Refuse ``NaN`` and ``Infinity`` anywhere in a value of any shape (JSON has neither)."""
    pending = [(value, path)]
    while pending:
        item, where = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise _expected(where, "a finite number", item)
        if isinstance(item, dict | list):
            items = item.items() if isinstance(item, dict) else enumerate(item)
            pending.extend((v, _join(where, k)) for k, v in reversed(list(items)))


def _read_number(value: Any, path: str, expected: str) -> Any:
    # JSON writes 1.0 as 1.0, but a hand-made file may hold 1: an int is a number too.
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _expected(path, expected, value)
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer beyond the largest float
        finite = False
    if not finite:
        raise _expected(path, expected, value)
    return value


def _read_within(tp: Any, value: Any, path: str) -> Any:
    base, *extras = typing.get_args(tp)
    bounds = [e for e in extras if isinstance(e, Within)]
    if base is float:
        for bound in bounds:
            _read_number(value, path, bound.what)
    item = _read(base, value, path)
    for bound in bounds:
        _check_within(bound, item, path)
    return item


def _check_within(bound: Within, item: Any, path: str) -> None:
    if item is None:
        return
    if dataclasses.is_dataclass(item):
        for name in getattr(item, "BOUNDED", ()):
            _check_within(bound, getattr(item, name), f"{path}.{name}")
        return
    if not bound.holds(item):
        raise _expected(path, bound.what, item)


def _read_union(tp: Any, value: Any, path: str) -> Any:
    options = typing.get_args(tp)
    nullable = type(None) in options
    if value is None and nullable:
        return None
    concrete = [o for o in options if o is not type(None)]
    if len(concrete) == 1:
        try:
            return _read(concrete[0], value, path)
        except SchemaError as err:
            if nullable and err.expected and err.path == path:
                raise SchemaError(
                    path,
                    f"expected {err.expected} or null, got {err.got}",
                    expected=f"{err.expected} or null",
                    got=err.got,
                ) from None
            raise
    for option in concrete:
        try:
            return _read(option, value, path)
        except SchemaError:
            continue
    raise SchemaError(path, f"expected {tp}, got {json_kind(value)}")


def _read_dataclass(cls: Any, value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        raise _expected(path, "an object", value)
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    names = set()
    for f in dataclasses.fields(cls):
        names.add(f.name)
        where = _join(path, f.name)
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
        kwargs[f.name] = _read(hints[f.name], value[f.name], where)
    unknown = [k for k in value if k not in names]
    if unknown:
        raise SchemaError(path, f"unexpected key {unknown[0]!r}")
    result = cls(**kwargs)
    problem = getattr(result, "schema_problem", None)
    found = problem() if problem is not None else None
    if found is not None:
        name, message = found
        raise SchemaError(_join(path, name) if name else path, message)
    return result
