"""The ``faceparity`` command: parse, call the library, print.

No metric is computed here, and no policy is decided: each command builds a request for
the library (:mod:`faceparity.workflow` for the audits) and prints what comes back.
Results go to ``OUTDIR/results.json`` and a table to stdout (``--json`` prints the JSON
instead); messages go to stderr. A command writes all its outputs or none of them. The
exit codes are in :mod:`faceparity.cli.support`.

The commands, by family: :mod:`~faceparity.cli.audit` (``audit pairs``, ``histogram``,
``bfw``, ``rfw``, ``bob``, ``embeddings``, ``images``), :mod:`~faceparity.cli.review`
(``report``, ``compare``, ``check``, ``scenario``), :mod:`~faceparity.cli.plan`,
:mod:`~faceparity.cli.images` (``embed``, ``verify``), :mod:`~faceparity.cli.demo`
(``simulate``, ``demo``); the group is :mod:`~faceparity.cli.commands`.

Importing this package imports nothing else: :func:`run`, the program, watches Ctrl-C
(SIGINT) before it imports the commands and their libraries, which takes a second or
more, so that a Ctrl-C at any moment ends the program with exit 130 and one line.
"""

from __future__ import annotations

import importlib
import sys

TYPE_CHECKING = False  # not typing's: importing typing would slow the start
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from faceparity.cli.commands import main
    from faceparity.cli.support import (
        EXIT_BAD_INPUT,
        EXIT_INTERNAL,
        EXIT_INTERRUPTED,
        EXIT_OK,
        EXIT_VIOLATIONS,
    )

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_VIOLATIONS",
    "main",
    "run",
]

_LAZY = {
    "main": "faceparity.cli.commands",
    "EXIT_BAD_INPUT": "faceparity.cli.support",
    "EXIT_INTERNAL": "faceparity.cli.support",
    "EXIT_INTERRUPTED": "faceparity.cli.support",
    "EXIT_OK": "faceparity.cli.support",
    "EXIT_VIOLATIONS": "faceparity.cli.support",
}


def __getattr__(name: str) -> Any:
    """The command group and the exit codes, imported on first use."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


def run() -> NoReturn:
    """Run ``faceparity`` as a program, watching Ctrl-C from before its first import.

    The first watch is set with the interpreter's built-in ``_signal``: ``signal``
    imports ``enum`` and ``functools``, which took long enough (10 ms) for a Ctrl-C to
    land in them as a traceback. What is left uncovered is Python's own start-up
    (``site``), before any faceparity code runs: there Python ends the process.
    """
    import _signal  # type: ignore[import-not-found]

    early: list[int] = []
    if _signal.getsignal(_signal.SIGINT) is not _signal.SIG_IGN:
        _signal.signal(_signal.SIGINT, lambda signum, frame: early.append(signum))
    import signal

    from faceparity.io import MSG_INTERRUPTED, install_watch

    watch = install_watch()
    watch.received += len(early)
    if not watch.interrupted:
        try:
            from faceparity.cli.commands import main
        except KeyboardInterrupt:
            pass
    if watch.interrupted:  # raised above, or swallowed by a library while it was imported
        import os

        watch.settle()
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sys.stderr.write(MSG_INTERRUPTED.format(outcome=watch.outcome()) + "\n")
        sys.stderr.flush()
        os._exit(130)  # EXIT_INTERRUPTED, at once: see faceparity.cli.support.end_process
    main()
    sys.exit(0)  # not reached: the program exits
