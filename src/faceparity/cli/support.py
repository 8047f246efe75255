"""What every ``faceparity`` command shares: messages on stderr, errors to exit codes.

Exit codes: 0 success; 1 a limit of ``check`` or ``audit --check`` is violated; 2 bad
input or usage (the message names file, row and column); 73 an output file that cannot
be written; 71 out of memory (EX_OSERR of sysexits.h); 70 an internal error (a bug:
please report it); 130 interrupted.

A command writes all its outputs or none (:mod:`faceparity.workflow.outputs`). Ctrl-C
at any moment ends it with exit 130 and one line on stderr that says which: "interrupted;
nothing was written", or that every output was written (the interrupt came after they
were moved into place).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from faceparity.errors import FaceparityError
from faceparity.io import MSG_INTERRUPTED, InterruptWatch, install_watch, watch_interrupts

EXIT_OK = 0
EXIT_VIOLATIONS = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 70
EXIT_OUT_OF_MEMORY = 71
EXIT_INTERRUPTED = 130

MSG_OUT_OF_MEMORY = (
    "out of memory: this machine could not hold what the command needed. For pair "
    "tables and embeddings, --engine stream holds a bounded amount (see --block-size "
    "and --tail-capacity); fewer --replicates need less for intervals"
)

F = TypeVar("F", bound=Callable[..., Any])


def with_options(func: F, options: Sequence[Callable[[Any], Any]]) -> F:
    """``func`` decorated by click options, listed in the order ``--help`` shows them."""
    for option in reversed(options):
        func = option(func)
    return func


MSG_REPEATED_OPTION = (
    "{option}: given {count} times; expected once (a second value would silently replace the first)"
)


def repeated_options(command: click.Command, args: Sequence[str]) -> tuple[str, int] | None:
    """The first single-value option ``args`` give more than once, and how often; or None.

    Options that take several values (``multiple=True``) and counters may repeat. The
    arguments are walked as click reads them: an option's value is skipped, ``--`` ends
    the options, ``--name=value`` and ``-oVALUE`` count as the option.
    """
    by_name: dict[str, click.Option] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            for name in (*param.opts, *param.secondary_opts):
                by_name[name] = param
    counts: dict[str, int] = {}
    first: dict[str, str] = {}
    i = 0
    while i < len(args):
        token = args[i]
        i += 1
        if token == "--":
            break
        if token.startswith("--"):
            name, has_value = token.partition("=")[0], "=" in token
        elif token.startswith("-") and len(token) > 1:
            name, has_value = token[:2], len(token) > 2
        else:
            continue
        option = by_name.get(name)
        if option is None:
            continue
        if not (option.is_flag or option.count or has_value):
            i += 1  # the option's value
        if option.multiple or option.count:
            continue
        key = option.name or name
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, name)
        if counts[key] > 1:
            return first[key], counts[key]
    return None


ARGV_KEY = "faceparity.argv"
"""Where :class:`StrictGroup` keeps the command line in the click context's ``meta``."""


def command_line() -> str | None:
    """The command line as given (quoted for a shell), or None outside a command."""
    import shlex

    ctx = click.get_current_context(silent=True)
    argv = None if ctx is None else ctx.meta.get(ARGV_KEY)
    return None if argv is None else shlex.join(argv)


class StrictGroup(click.Group):
    """A command group whose commands refuse a single-value option given twice (exit 2)."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Resolve the command as click does, then check its arguments."""
        if ctx.parent is None:  # the whole command line, for the results' test log
            ctx.meta.setdefault(ARGV_KEY, ["faceparity", *args])
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None and not isinstance(command, click.Group):
            repeated = repeated_options(command, rest)
            if repeated is not None:
                raise click.UsageError(
                    MSG_REPEATED_OPTION.format(option=repeated[0], count=repeated[1]), ctx=ctx
                )
        return name, command, rest


def _message(text: str) -> None:
    click.echo(text, err=True)


def _write_output(path: Path, text: str) -> None:
    """Write a text output atomically, or raise OutputError (exit 73)."""
    from faceparity.workflow.outputs import write_text

    write_text(path, text, message=_message)


def _interrupted(watch: InterruptWatch) -> NoReturn:
    """Say that the command was interrupted and what became of its outputs; exit 130."""
    _message(MSG_INTERRUPTED.format(outcome=watch.outcome()))
    sys.exit(EXIT_INTERRUPTED)


def _reported(func: F) -> F:
    """Turn library errors into one line on stderr and an exit code; never a traceback.

    A Ctrl-C while the command runs gives exit 130 and one line saying whether its
    outputs were written, also when a library swallowed the ``KeyboardInterrupt`` (a
    weak reference's callback) or turned it into an error of its own: the SIGINT
    itself is counted (:class:`~faceparity.io.InterruptWatch`). After a failure that
    left something (a persistent store kept, a file that could not be removed), a
    second line says what.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with watch_interrupts() as watch:
            try:
                try:
                    value = func(*args, **kwargs)
                finally:
                    watch.settle()
            except KeyboardInterrupt:
                _interrupted(watch)
            except (click.exceptions.Exit, click.ClickException, SystemExit):
                if watch.interrupted:
                    _interrupted(watch)
                raise
            except FaceparityError as err:
                if watch.interrupted:
                    _interrupted(watch)
                _message(f"error: {err}")
                if watch.discarded or watch.kept or watch.leftovers:
                    _message(watch.outcome())
                sys.exit(err.exit_code)
            except MemoryError:
                if watch.interrupted:
                    _interrupted(watch)
                _message(f"error: {MSG_OUT_OF_MEMORY}")
                _message(watch.outcome())
                sys.exit(EXIT_OUT_OF_MEMORY)
            except Exception as err:  # noqa: BLE001 - the last line of defence
                if watch.interrupted:
                    _interrupted(watch)
                _message(
                    f"internal error: {type(err).__name__}: {err}\n"
                    "This is a bug in faceparity; please report it with the command you ran."
                )
                sys.exit(EXIT_INTERNAL)
            if watch.interrupted:
                _interrupted(watch)
            return value

    return wrapper  # type: ignore[return-value]


def _exit_code(code: object) -> int:
    """The process exit code of ``sys.exit(code)``."""
    if code is None:
        return EXIT_OK
    return code if isinstance(code, int) else 1


def run_program(command: click.Command) -> NoReturn:
    """Run ``command`` as the process: the console script and ``python -m faceparity.cli``.

    The exit codes are those of :func:`_reported`. A Ctrl-C outside any command (while
    the arguments are read) also gives 130 and one line. Once the command is over,
    Ctrl-C is ignored: the process only has to exit, and during Python's own shutdown
    it would otherwise die of the signal without a word (:func:`end_process`).
    """
    watch = install_watch()
    told = False
    try:
        try:
            value = command.main(standalone_mode=False)
        finally:
            watch.settle()
        code = value if isinstance(value, int) else EXIT_OK
    except SystemExit as stop:
        code = _exit_code(stop.code)
        told = code == EXIT_INTERRUPTED
    except click.Abort:
        code = 1
        if not watch.interrupted:  # the end of a prompt's input, as click says it
            _message("Aborted!")
    except click.ClickException as err:
        err.show()
        code = err.exit_code
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    if watch.interrupted and not told:
        _message(MSG_INTERRUPTED.format(outcome=watch.outcome()))
        code = EXIT_INTERRUPTED
    end_process(code, interrupted=watch.interrupted)


def end_process(code: int, *, interrupted: bool) -> NoReturn:
    """Exit with ``code``, Ctrl-C ignored from now on; at once when the run was interrupted.

    An interrupted process ends with ``os._exit`` once stdout and stderr are flushed
    (every ``finally`` has run by then): under ``python -m``, CPython ends a process
    in which a ``KeyboardInterrupt`` once went through ``exec`` of a string (as
    dataclasses and named tuples are made, on import) by sending itself SIGINT again,
    although the exception was handled: the process would die of the signal (exit
    -2) after saying it exits 130.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if interrupted:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)
    sys.exit(code)


@contextlib.contextmanager
def progress_bar(unit: str = "comparisons") -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr: ``unit`` done, their rate per second, and the ETA."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn(unit),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    start = time.monotonic()
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(unit, total=None, rate="")
        first: list[int] = []

        def update(done: int, total: int) -> None:
            if not first:
                first.append(done)
            elapsed = max(time.monotonic() - start, 1e-9)
            rate = (done - first[0]) / elapsed
            bar.update(task, completed=done, total=total, rate=f"{rate:,.0f}/s")

        yield update
