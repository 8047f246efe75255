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
import threading
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from faceparity._version import __version__
from faceparity.errors import InputError, Location
from faceparity.io import wait_until
from faceparity.results.testlog import InputFileRecord, MachineRecord, TestLog

__all__ = ["FileDigests", "file_record", "machine_record", "make_test_log"]

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


class FileDigests:
    """The records of a run's input files, hashed on a daemon thread from the start of the run.

    Hashing a large input reads it once more (about a second a gigabyte); started when
    the run starts, it goes on while the main thread waits for its reading thread or
    its forked bootstrap. :meth:`record` waits for it; an error in hashing a file is
    raised there, where the test log is made, as :func:`file_record` raises it.
    """

    THREAD_NAME = "faceparity-hash"

    def __init__(self, inputs: Mapping[str, Path | None]) -> None:
        self._inputs = {role: path for role, path in inputs.items() if path is not None}
        self._records: dict[str, InputFileRecord | InputError] = {}
        self._done = threading.Event()
        threading.Thread(target=self._hash, name=self.THREAD_NAME, daemon=True).start()

    def _hash(self) -> None:
        try:
            for role, path in self._inputs.items():
                try:
                    self._records[role] = file_record(role, path)
                except InputError as err:
                    self._records[role] = err
        finally:
            self._done.set()

    def record(self, role: str, path: Path) -> InputFileRecord:
        """The record of ``path`` as ``role``: the one hashed ahead, else hashed now."""
        wait_until(self._done.is_set, self._done.wait)
        found = self._records.get(role) if self._inputs.get(role) == path else None
        if found is None:
            return file_record(role, path)
        if isinstance(found, InputError):
            raise found
        return found


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
    digests: FileDigests | None = None,
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
    digests : FileDigests, optional
        The inputs hashed ahead; a file not among them is hashed now.

    """
    record = file_record if digests is None else digests.record
    records = [record(role, path) for role, path in inputs.items() if path is not None]
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    return TestLog(
        date=now.isoformat().replace("+00:00", "Z"),
        tool_version=__version__,
        command_line=command_line,
        input_files=records,
        machine=machine_record(),
        notes=[NOTE_IMAGES] if images else [],
    )
