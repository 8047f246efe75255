"""The test log of an audit run: date, version, command line, inputs' SHA-256, machine.

What the EU AI Act (Annex IV 2(g): "test logs and all test reports dated and signed")
and ISO/IEC 19795-10 ask an evaluation to keep of how it ran. Each input file is read
once more, in blocks, to hash it (about a second a gigabyte); a directory is named but
not hashed.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from faceparity._version import __version__
from faceparity.errors import InputError, Location
from faceparity.results.testlog import InputFileRecord, MachineRecord, TestLog

__all__ = ["file_record", "machine_record", "make_test_log"]

NOTE_DIRECTORY = "a directory: named, its files not hashed"
NOTE_IMAGES = (
    "the images a manifest lists are not hashed one by one: the manifest, the model and the "
    "embeddings file written from them are"
)


def file_record(role: str, path: Path) -> InputFileRecord:
    """The path, size and SHA-256 of one input file (a directory is named, not hashed).

    Raises
    ------
    InputError
        Naming the file, when it cannot be read.

    """
    if path.is_dir():
        return InputFileRecord(
            role=role, path=str(path), size=None, sha256=None, note=NOTE_DIRECTORY
        )
    try:
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        size = path.stat().st_size
    except OSError as err:
        raise InputError(
            f"cannot read the file to hash it: {err.strerror or err}", Location(file=str(path))
        ) from err
    return InputFileRecord(role=role, path=str(path), size=size, sha256=digest)


def machine_record() -> MachineRecord:
    """The platform, the CPU count, Python's and numpy's versions of this machine."""
    return MachineRecord(
        platform=platform.platform(),
        cpu_count=os.cpu_count(),
        python=sys.version.split()[0],
        numpy=np.__version__,
    )


def make_test_log(
    inputs: Mapping[str, Path | None],
    *,
    command_line: str | None,
    images: bool = False,
) -> TestLog:
    """The test log of a run that read ``inputs`` (by their command-line names).

    Parameters
    ----------
    inputs : mapping of str to Path or None
        The files read, by the name the command line gives them (None: not given).
    command_line : str or None
        The command as given.
    images : bool, default False
        Whether the run read images through a manifest (noted: they are not hashed).

    """
    records = [file_record(role, path) for role, path in inputs.items() if path is not None]
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    return TestLog(
        date=now.isoformat().replace("+00:00", "Z"),
        tool_version=__version__,
        command_line=command_line,
        input_files=records,
        machine=machine_record(),
        notes=[NOTE_IMAGES] if images else [],
    )
