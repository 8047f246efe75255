"""The ``test_log`` section of ``results.json``: when, with what and on what the audit ran.

The EU AI Act asks the technical documentation of a high-risk system for the test
logs, dated and signed (Annex IV 2(g)); ISO/IEC 19795-10 asks a demographic evaluation
to say how it was run. The log holds the date, the tool's version, the command line,
the SHA-256 of every input file and the machine. Added in schema 1.1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

__all__ = ["InputFileRecord", "MachineRecord", "TestLog"]


@dataclass(frozen=True)
class InputFileRecord:
    """One file the audit read: its role on the command line, path, size and SHA-256."""

    OMIT_WHEN_UNSET: ClassVar[tuple[str, ...]] = ("note",)

    role: str
    path: str
    size: int | None
    sha256: str | None
    note: str | None = None


@dataclass(frozen=True)
class MachineRecord:
    """The machine the audit ran on."""

    platform: str
    cpu_count: int | None
    python: str
    numpy: str


@dataclass(frozen=True)
class TestLog:
    """The test log of one audit run.

    Attributes
    ----------
    date : str
        When the results were made, ISO 8601 in UTC.
    tool_version : str
        faceparity's version.
    command_line : str or None
        The command as given (None when the audit was not run from the command line).
    input_files : list of InputFileRecord
        Every file read, with its SHA-256.
    machine : MachineRecord
        Platform, CPUs, Python and numpy.
    notes : list of str
        Caveats, in words.

    """

    __test__ = False  # not a pytest test class, whatever its name

    date: str
    tool_version: str
    command_line: str | None
    input_files: list[InputFileRecord]
    machine: MachineRecord
    notes: list[str] = field(default_factory=list)
