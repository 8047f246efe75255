"""Bootstrap replicates shared with a second process, so that both cores read them.

A replicate's numbers are read by Python code (the audit's own operating points and
summary measures), which holds the interpreter's lock: threads cannot run two of them
at once. :func:`fill_rows` computes the rows of a replicate table in this process and,
where it pays, hands the last part to a forked copy of the process, which sends its
rows back through a pipe. The rows are the same whichever process computes them (each
replicate's weights come from its own place in the seed's stream:
:func:`~faceparity.uncertainty.bootstrap.poisson_weights` with ``start``), so the
table, and every interval read from it, is identical to one computed in one process.

The second process is a plain ``os.fork`` (Linux only; elsewhere, with one core, or
while modules are being imported on another thread, everything runs here). It ignores
Ctrl-C (this process stops it when interrupted), turns warnings into errors and exits
with ``os._exit``: it writes nothing but its rows, and when it fails for any reason
this process computes those rows itself, raising or warning as it would have.
"""

from __future__ import annotations

import os
import select
import signal
import struct
import sys
import threading
import time
import warnings
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

__all__ = [
    "FORK_MIN_SECONDS",
    "IMPORT_THREAD",
    "PROBE_ROWS",
    "WAIT_FACTOR",
    "WAIT_SECONDS",
    "fill_rows",
]

PROBE_ROWS = 20
"""Rows computed here first, to time a row before deciding to fork."""

FORK_MIN_SECONDS = 0.3
"""Fork only when the rows left would take at least this long in one process."""

WAIT_SECONDS, WAIT_FACTOR = 5.0, 4.0
"""Once its own rows are done, this process waits for the child's at most this many
seconds plus this factor times the time its own took; then it stops the child and
computes them itself (a child that hangs does not hang the audit)."""

IMPORT_THREAD = "faceparity-preload"
"""The name of the thread that imports modules ahead (:mod:`faceparity.workflow.preload`):
no fork while it runs, since a forked process would find an import it left half done."""

Fill = Callable[[int, int, npt.NDArray[np.float64]], None]
"""``fill(start, stop, out)``: rows ``start`` to ``stop - 1`` of the table into ``out``."""


def available_cores() -> int:
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover - Linux has sched_getaffinity


def fill_rows(fill: Fill, out: npt.NDArray[np.float64]) -> None:
    """Fill every row of ``out`` (float64, 2-D) with ``fill``, the last part forked off.

    ``fill(start, stop, rows)`` must write rows ``start`` to ``stop - 1`` into ``rows``
    and depend on nothing else, so that any split of the rows gives the same table.
    The first :data:`PROBE_ROWS` are computed here and timed; when the rest would take
    :data:`FORK_MIN_SECONDS` or more, a forked process computes their second half
    while this one computes the first.
    """
    n = out.shape[0]
    first = min(PROBE_ROWS, n)
    started = time.perf_counter()
    fill(0, first, out[:first])
    if first == n:
        return
    per_row = (time.perf_counter() - started) / first
    if per_row * (n - first) < FORK_MIN_SECONDS or not _can_fork():
        fill(first, n, out[first:])
        return
    middle = first + (n - first) // 2
    _fill_forked(fill, out, first, middle)


def _can_fork() -> bool:
    importing = any(t.name == IMPORT_THREAD and t.is_alive() for t in threading.enumerate())
    return (
        hasattr(os, "fork")
        and sys.platform.startswith("linux")
        and available_cores() >= 2
        and not importing
    )


_HEADER = struct.Struct("<q")  # the number of bytes of rows that follow


def _fill_forked(fill: Fill, out: npt.NDArray[np.float64], first: int, middle: int) -> None:
    """Rows ``first:middle`` here, ``middle:`` in a forked process (or here if it fails)."""
    n = out.shape[0]
    try:
        read_end, write_end = os.pipe()
    except OSError:  # no file descriptors left: all here
        fill(first, n, out[first:])
        return
    try:
        with warnings.catch_warnings():
            # Python 3.12 warns of a fork while other threads run (a progress display's):
            # the child takes no lock they might hold (it writes to the pipe only).
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError:  # no process to be had (memory, a process limit): all here
        os.close(read_end)
        os.close(write_end)
        fill(first, n, out[first:])
        return
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        os.close(read_end)
        _child(fill, out, middle, n, write_end)
    os.close(write_end)
    done = False
    try:
        started = time.perf_counter()
        fill(first, middle, out[first:middle])
        patience = WAIT_SECONDS + WAIT_FACTOR * (time.perf_counter() - started)
        data = _read_all(read_end, patience)
        done = data is not None and _unpack(data, out[middle:])
    finally:
        os.close(read_end)
        if not done:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # pragma: no cover - it had already ended
                pass
        os.waitpid(pid, 0)
    if not done:
        fill(middle, n, out[middle:])


def _child(fill: Fill, out: npt.NDArray[np.float64], middle: int, n: int, fd: int) -> None:
    """The forked process: rows ``middle:n`` into the pipe ``fd``, then exit (never returns)."""
    status = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        warnings.simplefilter("error")
        rows = np.empty((n - middle, out.shape[1]), dtype=np.float64)
        fill(middle, n, rows)
        data = rows.tobytes()
        view = memoryview(_HEADER.pack(len(data)) + data)
        while view:
            view = view[os.write(fd, view) :]
        status = 0
    except BaseException:  # noqa: BLE001, S110 - the parent computes these rows itself
        pass
    finally:
        os._exit(status)


def _read_all(fd: int, timeout: float) -> bytes | None:
    """Everything written to ``fd`` until it is closed; None after ``timeout`` seconds."""
    parts: list[bytes] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)


def _unpack(data: bytes, rows: npt.NDArray[np.float64]) -> bool:
    """Copy the child's rows into ``rows``; False when they did not all come."""
    if len(data) < _HEADER.size:
        return False
    (size,) = _HEADER.unpack_from(data)
    body = data[_HEADER.size :]
    if size != rows.nbytes or len(body) != size:
        return False
    rows[...] = np.frombuffer(body, dtype=np.float64).reshape(rows.shape)
    return True
