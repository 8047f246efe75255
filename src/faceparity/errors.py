"""Errors that reach the user: one message style, what was expected, what was got, where.

Every error the command line reports is one of these; each carries its exit code
(2 for bad input or usage, 73 for an output that cannot be written).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FaceparityError", "InputError", "Location", "OutputError", "UsageError"]


@dataclass(frozen=True)
class Location:
    """Where in the input a problem is: file, 1-based data row (header excluded), column."""

    file: str | None = None
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        parts = []
        if self.file is not None:
            parts.append(str(self.file))
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column!r}")
        return ", ".join(parts)


class FaceparityError(Exception):
    """Base class of the errors faceparity reports to its user."""

    exit_code = 2


class UsageError(FaceparityError):
    """An option or argument that cannot be used as given."""


class OutputError(FaceparityError):
    """An output file that cannot be written (exit code 73, EX_CANTCREAT of sysexits.h)."""

    exit_code = 73


class InputError(FaceparityError):
    """Input data that cannot be read as the stated format.

    Parameters
    ----------
    message : str
        What was expected and what was got.
    location : Location, optional
        File, row and column of the problem.

    """

    def __init__(self, message: str, location: Location | None = None) -> None:
        self.message = message
        self.location = location or Location()
        where = str(self.location)
        super().__init__(f"{where}: {message}" if where else message)
