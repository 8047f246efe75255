"""Writing what a command produces: all of it or none of it, or an OutputError (exit 73).

Every command writes its files through one :class:`OutputTransaction`. Each file is
written under a temporary name in its destination folder; :meth:`~OutputTransaction.commit`
moves them all into place at the end, with Ctrl-C put off while it does. When the
command fails or is interrupted before that, the temporary files are removed, and a
file that was at an output path before the command is left as it was.

A file the command itself reads back (the embeddings of ``audit images``, the data of
the demo) is moved into place when it is written, and the file it replaced is kept
aside until the end: put back if the command fails, removed if it succeeds.

Persistent stores are not outputs: the record cache of the image pipeline and the
checkpoint of the streaming engine exist to outlive a run that stops, so that a rerun
resumes. A failed run keeps them and says so (:meth:`~OutputTransaction.keep`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from faceparity.errors import OutputError, UsageError
from faceparity.io import current_watch, deferred_interrupts
from faceparity.results.audit import AuditResult
from faceparity.workflow.progress import Message, silent

__all__ = [
    "MSG_DIRECTORY_IN_THE_WAY",
    "MSG_OUTPUT_NOT_WRITABLE",
    "MSG_OVERWRITES",
    "MSG_WRITE_PROTECTED",
    "OutputTransaction",
    "check_outputs",
    "refuse_overwriting",
    "write_results",
    "write_text",
]

MSG_OVERWRITES = (
    "{output_name} {output}: is the same file as {input_name} {input}; writing it would "
    "destroy {what}. Choose another path (nothing was written)"
)
MSG_DIRECTORY_IN_THE_WAY = "cannot write {path}: a directory of that name is in the way"
MSG_WRITE_PROTECTED = (
    "cannot write {path}: the file there is write-protected (read-only); make it writable "
    "or choose another path"
)
MSG_OUTPUT_NOT_WRITABLE = "cannot write {output}: {where} is not a writable directory"


def _writable_file(path: Path) -> bool:
    """Whether the file at ``path`` may be replaced: some write permission, and the user's."""
    mode = path.stat().st_mode
    return bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) and os.access(path, os.W_OK)


def _check_destination(path: Path) -> None:
    """OutputError when ``path`` is a directory or a write-protected file."""
    if path.is_dir():
        raise OutputError(MSG_DIRECTORY_IN_THE_WAY.format(path=path))
    if path.exists() and not _writable_file(path):
        raise OutputError(MSG_WRITE_PROTECTED.format(path=path))


def check_outputs(paths: Iterable[Path | None]) -> None:
    """Refuse, before any work, output files that could not be written at the end.

    Parameters
    ----------
    paths : iterable of Path or None
        Output files; None entries are ignored.

    Raises
    ------
    OutputError
        For a path where a directory is in the way, an existing file that is
        write-protected, or a path whose nearest existing folder is not a writable
        directory (exit 73).

    """
    for path in paths:
        if path is None:
            continue
        path = Path(path)
        _check_destination(path)
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise OutputError(MSG_OUTPUT_NOT_WRITABLE.format(output=path, where=folder))


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(path: Path) -> None:
    """Make the renames in a folder durable (where the platform allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _reason(err: OSError) -> str:
    return str(err.strerror or err)


@dataclass
class _Entry:
    """One output file: where it goes, where it is written, what it replaces."""

    final: Path
    tmp: Path
    placed: bool = False
    backup: Path | None = None


class OutputTransaction:
    """A command's output files: moved into place together, or none of them.

    Parameters
    ----------
    message : callable, optional
        Told ``wrote PATH`` for every file, in order, once all are in place.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with OutputTransaction() as outputs:
    ...     _ = outputs.write_text(folder / "a.txt", "a")
    ...     _ = outputs.write_text(folder / "b.txt", "b")
    ...     sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    ...     written = outputs.commit()
    []
    >>> sorted(p.name for p in folder.iterdir())
    ['a.txt', 'b.txt']
    >>> import shutil
    >>> shutil.rmtree(folder)

    A block that raises before :meth:`commit` leaves nothing behind; so does one that
    ends without committing.

    """

    def __init__(self, *, message: Message = silent) -> None:
        self.message = message
        self._entries: list[_Entry] = []
        self._folders: list[Path] = []
        self._created: list[Path] = []
        self._kept: list[tuple[str, Path | None]] = []
        self._done = False

    def __enter__(self) -> OutputTransaction:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if not self._done:
            self.rollback()

    # --- writing -----------------------------------------------------------------------

    def _folder_for(self, path: Path) -> None:
        """Create the folders above ``path`` that are missing, remembering them."""
        missing = []
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            missing.append(folder)
            folder = folder.parent
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(f"cannot write {path}: {_reason(err)}") from err
        self._created.extend(reversed(missing))

    def _temporary(self, final: Path, mode: int) -> Path:
        if self._done:
            raise RuntimeError("this output transaction is over")
        final = Path(final)
        _check_destination(final)
        self._folder_for(final)
        try:
            fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
            os.close(fd)
            os.chmod(name, mode)
        except OSError as err:
            raise OutputError(f"cannot write {final}: {_reason(err)}") from err
        return Path(name)

    @contextlib.contextmanager
    def path(self, final: Path, *, mode: int = 0o644, now: bool = False) -> Iterator[Path]:
        """A temporary file beside ``final`` for a writer that takes a file name.

        Parameters
        ----------
        final : Path
            Where the file goes.
        mode : int, default 0o644
            Its permissions, set before anything is written.
        now : bool, default False
            Move it into place when the block ends (for a file the command reads back);
            else at :meth:`commit`.

        Raises
        ------
        OutputError
            When the file cannot be written there (exit 73).

        """
        tmp = self._temporary(final, mode)
        entry = _Entry(Path(final), tmp)
        self._entries.append(entry)
        try:
            yield tmp
            os.chmod(tmp, mode)
            _fsync_file(tmp)
        except OSError as err:
            raise OutputError(f"cannot write {final}: {_reason(err)}") from err
        if now:
            with deferred_interrupts():
                self._place(entry)

    def write_bytes(self, final: Path, data: bytes, *, mode: int = 0o644) -> Path:
        """Write ``data`` to be moved to ``final`` at :meth:`commit`; ``final``."""
        with self.path(final, mode=mode) as tmp:
            tmp.write_bytes(data)
        return Path(final)

    def write_text(self, final: Path, text: str, *, mode: int = 0o644) -> Path:
        """Write UTF-8 text to be moved to ``final`` at :meth:`commit`; ``final``."""
        return self.write_bytes(final, text.encode("utf-8"), mode=mode)

    @contextlib.contextmanager
    def folder(self, final: Path, *, now: bool = False) -> Iterator[Path]:
        """A temporary folder for a writer that fills a folder; its files go to ``final``.

        Every file the writer leaves in the temporary folder becomes an output at the
        same relative path under ``final`` (moved into place when the block ends with
        ``now``, else at :meth:`commit`); other files already in ``final`` stay.
        """
        if self._done:
            raise RuntimeError("this output transaction is over")
        final = Path(final)
        if final.exists() and not final.is_dir():
            raise OutputError(f"cannot write {final}: a file of that name is in the way")
        self._folder_for(final / "_")
        try:
            staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final))
        except OSError as err:
            raise OutputError(f"cannot write {final}: {_reason(err)}") from err
        self._folders.append(staging)
        yield staging
        entries = []
        for tmp in sorted(p for p in staging.rglob("*") if not p.is_dir()):
            target = final / tmp.relative_to(staging)
            _check_destination(target)
            _fsync_file(tmp)
            entries.append(_Entry(target, tmp))
        self._entries.extend(entries)
        if now:
            with deferred_interrupts():
                for entry in entries:
                    self._place(entry)

    def keep(self, description: str, *, path: Path | None = None) -> None:
        """Name a persistent store this run writes to, kept whatever becomes of the outputs.

        ``description`` says what it is and where, e.g. ``"the record cache PATH"``:
        what the program tells its user on failure. Given ``path``, the store is named
        only if that path exists when the transaction rolls back.
        """
        self._kept.append((description, path))

    # --- the end -----------------------------------------------------------------------

    def _place(self, entry: _Entry) -> None:
        """Move one file into place; the file it replaces is set aside until the end."""
        final = entry.final
        self._folder_for(final)
        try:
            _check_destination(final)
            if final.exists() or final.is_symlink():
                backup = final.with_name(f".{final.name}.{secrets.token_hex(4)}.bak")
                try:
                    os.link(final, backup, follow_symlinks=False)
                except OSError:
                    os.replace(final, backup)
                entry.backup = backup
            os.replace(entry.tmp, final)
        except OSError as err:
            raise OutputError(f"cannot write {final}: {_reason(err)}") from err
        entry.placed = True

    def commit(self) -> tuple[Path, ...]:
        """Move every output into place; their paths, in the order they were written.

        Raises
        ------
        KeyboardInterrupt
            When a Ctrl-C arrived before (one a library swallowed included): nothing
            is moved into place. One that arrives during the commit is raised after it.
        OutputError
            When a file cannot be moved into place; the outputs moved before it are
            taken back, and the transaction rolls back (exit 73).

        """
        if self._done:
            raise RuntimeError("this output transaction is over")
        watch = current_watch()
        if watch is not None and watch.interrupted:
            raise KeyboardInterrupt
        with deferred_interrupts():
            for entry in self._entries:
                if not entry.placed:
                    _check_destination(entry.final)
            for entry in self._entries:
                if not entry.placed:
                    self._place(entry)
            self._done = True
            for entry in self._entries:
                if entry.backup is not None:
                    entry.backup.unlink(missing_ok=True)
            for folder in {entry.final.parent for entry in self._entries}:
                _fsync_folder(folder)
            self._remove_staging()
            written = tuple(entry.final for entry in self._entries)
            if watch is not None:
                watch.written.extend(written)
            for path in written:
                self.message(f"wrote {path}")
        return written

    def rollback(self) -> None:
        """Remove every output written, put back the files they replaced, keep the stores."""
        if self._done:
            return
        self._done = True
        leftovers: list[Path] = []
        with deferred_interrupts():
            for entry in reversed(self._entries):
                try:
                    if not entry.placed:
                        entry.tmp.unlink(missing_ok=True)
                    elif entry.backup is not None:
                        os.replace(entry.backup, entry.final)
                    else:
                        entry.final.unlink(missing_ok=True)
                except OSError:
                    leftovers.append(entry.final if entry.placed else entry.tmp)
            self._remove_staging()
            for folder in reversed(self._created):
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty: nothing of the user's is removed
            watch = current_watch()
            if watch is not None:
                watch.discarded = watch.discarded or bool(self._entries)
                watch.kept.extend(
                    what for what, path in self._kept if path is None or path.exists()
                )
                watch.leftovers.extend(leftovers)

    def _remove_staging(self) -> None:
        for staging in self._folders:
            shutil.rmtree(staging, ignore_errors=True)
        self._folders.clear()


def write_text(path: Path, text: str, *, message: Message = silent) -> Path:
    """Write one text output, all or nothing, and say so; or raise OutputError (exit 73)."""
    with OutputTransaction(message=message) as outputs:
        outputs.write_text(path, text)
        outputs.commit()
    return path


def write_results(
    result: AuditResult,
    output: Path,
    *,
    report: str | None = None,
    message: Message = silent,
    outputs: OutputTransaction | None = None,
) -> tuple[Path, ...]:
    """Write ``output/results.json`` and, given its text, ``output/report.html``; the paths.

    Into ``outputs`` when given (they are moved into place at its commit); else both
    are moved into place together here, or neither.
    """
    if outputs is None:
        with OutputTransaction(message=message) as own:
            paths = write_results(result, output, report=report, outputs=own)
            own.commit()
        return paths
    written = [outputs.write_text(Path(output) / "results.json", result.to_json())]
    if report is not None:
        written.append(outputs.write_text(Path(output) / "report.html", report))
    return tuple(written)


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same inode where both exist, else one path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve(strict=False) == b.resolve(strict=False)


def refuse_overwriting(
    inputs: Mapping[str, Path | None], outputs: Mapping[str, Path | None]
) -> None:
    """Refuse, before any work, an output that is an input or another output of the command.

    Parameters
    ----------
    inputs, outputs : mapping of str to Path or None
        The files a command reads and writes, by the name the user gave them (an
        option or an argument); None entries are ignored. Symbolic and hard links
        to one file count as that file.

    Raises
    ------
    UsageError
        Naming the output, the file it would overwrite, and what would be lost.

    """
    given_outputs = [(name, Path(path)) for name, path in outputs.items() if path is not None]
    for name, path in given_outputs:
        for input_name, source in inputs.items():
            if source is not None and _same_file(path, Path(source)):
                raise UsageError(
                    MSG_OVERWRITES.format(
                        output_name=name,
                        output=path,
                        input_name=f"the input {input_name}",
                        input=source,
                        what="the input",
                    )
                )
    for i, (name, path) in enumerate(given_outputs):
        for other_name, other in given_outputs[i + 1 :]:
            if _same_file(path, other):
                raise UsageError(
                    MSG_OVERWRITES.format(
                        output_name=name,
                        output=path,
                        input_name=f"the output {other_name}",
                        input=other,
                        what="one of the two outputs",
                    )
                )
