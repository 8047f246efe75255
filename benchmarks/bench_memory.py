"""Peak resident memory (RSS) and wall time of one command, run in a subprocess.

Usage::

    python benchmarks/bench_memory.py -- COMMAND [ARG ...]
    python benchmarks/bench_memory.py --json -- .venv/bin/faceparity demo -o /tmp/d

The command's own output passes through unchanged; after it ends, one line is
printed to stdout::

    peak_rss_mb: 123.4   wall_s: 5.67   exit_code: 0   command: ...

(with ``--json``, one JSON object with the same figures). This script exits with the
command's exit code, so a failing command is never reported as a success.

How it is measured: the command is started with ``subprocess.Popen`` and reaped
with ``os.wait4``, whose ``ru_maxrss`` is the high-water mark of the command's
resident set, including that of any descendant it waited for (a shell running a
program counts as the program). Linux reports ``ru_maxrss`` in KiB, macOS in bytes;
both are converted to MB (1e6 bytes). The measuring process itself is small and
not counted.

Other benchmarks import :func:`measure` to measure each side in its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

__all__ = ["Measurement", "measure"]

_MAXRSS_BYTES = 1 if sys.platform == "darwin" else 1024
"""Bytes per unit of ``ru_maxrss``: bytes on macOS, KiB on Linux."""


@dataclass(frozen=True)
class Measurement:
    """What one command cost.

    Parameters
    ----------
    peak_rss_mb : float
        Peak resident set size of the command (and the descendants it waited for), in MB.
    wall_s : float
        Wall-clock time from start to exit, in seconds.
    exit_code : int
        The command's exit code (negative: killed by that signal).
    stdout : str or None
        The command's standard output when it was captured, else None.

    """

    peak_rss_mb: float
    wall_s: float
    exit_code: int
    stdout: str | None = None


def measure(argv: Sequence[str], *, capture_stdout: bool = False) -> Measurement:
    """Run ``argv`` to completion and return its peak RSS, wall time and exit code.

    Parameters
    ----------
    argv : sequence of str
        The command and its arguments (no shell).
    capture_stdout : bool, default False
        Capture the command's stdout (returned in the measurement) instead of
        passing it through. Stderr always passes through.

    Returns
    -------
    Measurement
        The figures of this one command.

    """
    stdout = subprocess.PIPE if capture_stdout else None
    start = time.perf_counter()
    proc = subprocess.Popen(list(argv), stdout=stdout)
    captured = None
    if capture_stdout:
        assert proc.stdout is not None
        captured = proc.stdout.read().decode()
        proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Measurement(
        peak_rss_mb=usage.ru_maxrss * _MAXRSS_BYTES / 1e6,
        wall_s=wall,
        exit_code=proc.returncode,
        stdout=captured,
    )


def main(args: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Peak RSS (MB) and wall time of a command run in a subprocess.",
        usage="%(prog)s [--json] -- COMMAND [ARG ...]",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after '--'")
    ns = parser.parse_args(args)
    command = ns.command[1:] if ns.command[:1] == ["--"] else ns.command
    if not command:
        parser.error("no command given; put it after '--'")
    try:
        result = measure(command)
    except OSError as err:
        print(f"bench_memory: cannot run {command[0]!r}: {err}", file=sys.stderr)
        return 127
    sys.stdout.flush()
    if ns.json:
        figures = {k: v for k, v in asdict(result).items() if k != "stdout"}
        print(json.dumps({**figures, "command": command}))
    else:
        print(
            f"peak_rss_mb: {result.peak_rss_mb:.1f}   wall_s: {result.wall_s:.2f}   "
            f"exit_code: {result.exit_code}   command: {shlex.join(command)}"
        )
    return result.exit_code if result.exit_code >= 0 else 128 - result.exit_code


if __name__ == "__main__":
    sys.exit(main())
