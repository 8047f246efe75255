"""Output files written atomically, and Ctrl-C (SIGINT) that cannot cut a commit in half.

A reader never sees a half-written file: every file is written under a temporary name
beside its destination and renamed into place (:func:`atomic_write_bytes`,
:func:`atomic_path`). A command that writes several files moves them into place
together (:class:`faceparity.workflow.outputs.OutputTransaction`); the
:class:`InterruptWatch` here is what lets it do so whatever the moment of a Ctrl-C.

Python turns SIGINT into a ``KeyboardInterrupt`` raised wherever the interpreter
happens to be. Some places swallow it: a weak reference's callback or a ``__del__``
(CPython prints "Exception ignored in ..." and carries on), or a C extension that turns
the pending exception into its own error (matplotlib's path code gives a ``ValueError``).
While a watch is active, every SIGINT is also counted, so that a program can tell that
it was interrupted even when the exception never reached it, refuse to commit its
outputs, and put off the interrupt while files are being renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = [
    "MSG_COMPLETE",
    "MSG_INTERRUPTED",
    "MSG_KEPT",
    "MSG_LEFTOVERS",
    "MSG_NOTHING_WRITTEN",
    "InterruptWatch",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "current_watch",
    "deferred_interrupts",
    "install_watch",
    "wait_until",
    "watch_interrupts",
]

MSG_INTERRUPTED = "interrupted; {outcome}"
MSG_NOTHING_WRITTEN = "nothing was written"
MSG_KEPT = "nothing was written but {kept}, kept for a rerun to resume"
MSG_COMPLETE = "every output was written: {written}"
MSG_LEFTOVERS = "; could not remove {paths}"


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Write UTF-8 text atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


@contextlib.contextmanager
def atomic_path(path: Path, *, mode: int = 0o644) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed into place when the block ends.

    For writers that take a file name (Parquet): the file is created with ``mode``
    before anything is written to it, and removed if the block raises.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, mode)
        yield Path(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class InterruptWatch:
    """The SIGINTs a program received, and what its outputs became.

    While the watch is installed (:func:`watch_interrupts`) each SIGINT is counted and
    raised as ``KeyboardInterrupt``, except inside :meth:`deferred` (raised when the
    block ends) and after :meth:`settle` (counted apart, in ``late``, and not raised).
    The output transactions record here what they moved into place (``written``),
    whether they removed outputs again (``discarded``), the persistent stores a failed
    run leaves for a rerun (``kept``) and the files they could not remove
    (``leftovers``): what the program's last line on stderr says (:meth:`outcome`).
    """

    received: int = 0
    late: int = 0
    written: list[Path] = field(default_factory=list)
    discarded: bool = False
    kept: list[str] = field(default_factory=list)
    leftovers: list[Path] = field(default_factory=list)
    _deferring: int = 0
    _pending: bool = False
    _settled: bool = False

    @property
    def interrupted(self) -> bool:
        """Whether a SIGINT arrived before :meth:`settle`, whatever became of its exception."""
        return self.received > 0

    def handler(self, signum: int, frame: FrameType | None) -> None:
        """The SIGINT handler: count, then raise unless deferred or every output is written.

        Once the outputs are in place there is nothing left to stop, and an exception
        raised then can land in a weak reference's callback, where CPython prints it as
        "Exception ignored" with a traceback: the SIGINT is only counted (the program
        still ends with exit 130 and says every output was written). Once settled, a
        SIGINT is counted apart.
        """
        if self._settled:
            self.late += 1
            return
        self.received += 1
        if self._deferring:
            self._pending = True
        elif not self.written:
            raise KeyboardInterrupt

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` for a SIGINT whose exception was lost.

        An exception raised by the handler can land where CPython ignores exceptions
        (a weak reference's callback, a destructor): printed as "Exception ignored", it
        does not stop the program, and it can leave the import lock held, so that a
        thread importing a module waits for ever. Code that waits for another thread
        calls this between short waits (:func:`wait_until`): a SIGINT received, not
        deferred and before any output was written, is raised again there.
        """
        if self.received and not self._settled and not self._deferring and not self.written:
            raise KeyboardInterrupt

    def outcome(self) -> str:
        """What became of the outputs, in words: none, none but the stores kept, or all.

        >>> InterruptWatch().outcome()
        'nothing was written'
        >>> InterruptWatch(written=[Path("out/results.json")]).outcome()
        'every output was written: out/results.json'
        """
        if self.written:
            text = MSG_COMPLETE.format(written=", ".join(str(p) for p in self.written))
        elif self.kept:
            text = MSG_KEPT.format(kept="; ".join(self.kept))
        else:
            text = MSG_NOTHING_WRITTEN
        if self.leftovers:
            text += MSG_LEFTOVERS.format(paths=", ".join(str(p) for p in self.leftovers))
        return text

    def settle(self) -> None:
        """From now on count SIGINTs without raising: the program's work is over."""
        self._settled = True

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A block that a SIGINT does not cut: it is raised when the block ends."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
        if not self._deferring and self._pending:
            self._pending = False
            if not self._settled:
                raise KeyboardInterrupt


_watch: InterruptWatch | None = None


def current_watch() -> InterruptWatch | None:
    """The installed watch, if any."""
    return _watch


def wait_until(
    done: Callable[[], bool], wait: Callable[[float], object], step: float = 0.1
) -> None:
    """Wait until ``done()``, ``step`` seconds at a time (``wait(step)``), interruptibly.

    Between the steps the installed watch raises a SIGINT whose exception was lost
    (:meth:`InterruptWatch.check`): a thread that can never finish (it waits for the
    import lock a lost exception left held) does not keep the program from ending.
    """
    while not done():
        wait(step)
        watch = _watch
        if watch is not None and threading.current_thread() is threading.main_thread():
            watch.check()


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _unraisable(unraisable: Any) -> None:
    """``sys.unraisablehook`` while a watch is installed: a lost Ctrl-C is not printed.

    The watch's KeyboardInterrupt can land where CPython cannot raise it (a weak
    reference's callback, a destructor) and would print it as "Exception ignored" with
    a traceback. The watch has counted that SIGINT: the program still stops at the
    next wait (:func:`wait_until`) or before its outputs are committed, exit 130. Any
    other exception goes to the hook that was there before.
    """
    exc_type = getattr(unraisable, "exc_type", None)
    if (
        _watch is not None
        and isinstance(exc_type, type)
        and issubclass(exc_type, KeyboardInterrupt)
    ):
        return
    _previous_unraisable(unraisable)


_previous_unraisable: Callable[[Any], object] = sys.unraisablehook


def _install(watch: InterruptWatch) -> tuple[bool, Any]:
    """Make ``watch`` the SIGINT handler where Python runs one and SIGINT is not ignored."""
    global _watch, _previous_unraisable
    _watch = watch
    if not _in_main_thread() or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        return False, None
    if sys.unraisablehook is not _unraisable:
        _previous_unraisable = sys.unraisablehook
        sys.unraisablehook = _unraisable
    return True, signal.signal(signal.SIGINT, watch.handler)


def install_watch() -> InterruptWatch:
    """Install a watch for the rest of the process (a program's entry point); the watch.

    The installed one if there is one. Outside the main thread, where Python runs no
    signal handler, or where SIGINT is ignored (a background job), the watch is
    current but not the handler.
    """
    if _watch is not None:
        return _watch
    watch = InterruptWatch()
    _install(watch)
    return watch


@contextlib.contextmanager
def watch_interrupts() -> Iterator[InterruptWatch]:
    """A watch for the block (:func:`install_watch`); the previous handler comes back after.

    Within an active watch, that same watch: nothing is installed twice.
    """
    global _watch
    if _watch is not None:
        yield _watch
        return
    watch = InterruptWatch()
    installed, previous = _install(watch)
    try:
        yield watch
    finally:
        _watch = None
        if installed:
            signal.signal(signal.SIGINT, previous or signal.default_int_handler)
            if sys.unraisablehook is _unraisable:
                sys.unraisablehook = _previous_unraisable


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """A block (a commit, a rollback) that a SIGINT does not cut; raised when it ends.

    With a watch installed, its :meth:`InterruptWatch.deferred`; otherwise, in the main
    thread, a handler that notes the signal for the block.
    """
    if _watch is not None:
        with _watch.deferred():
            yield
        return
    if not _in_main_thread() or signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, None):
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt
