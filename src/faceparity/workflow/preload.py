"""Modules the later steps of a command need, imported on a second thread meanwhile.

Importing the report's modules (jinja2, matplotlib and its fonts) and the bootstrap's
(numba) takes a good part of a second, and compiling the report's templates a tenth
more; a command that will need them starts their import while it reads its input and
computes, which leaves a core idle. A failed import is left to the step that needs the
module, which raises it with its own install hint.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence

from faceparity.io import wait_until

__all__ = [
    "BOOTSTRAP_KERNELS",
    "BOOTSTRAP_MODULES",
    "ENGINE_KERNELS",
    "REPORT_MODULES",
    "THREAD_NAME",
    "preload",
    "preload_stages",
]

THREAD_NAME = "faceparity-preload"
"""The importing thread's name (:data:`faceparity.uncertainty.processes.IMPORT_THREAD`:
the bootstrap does not fork while it runs; not imported from there, which would import
the uncertainty package, and scipy, with the command line)."""

REPORT_MODULES = (
    "faceparity.render.report",
    "matplotlib.figure",
    "matplotlib.ticker",
    "matplotlib.font_manager",
    "matplotlib.backends.backend_svg",
    "jinja2",
    "faceparity.render.environment:warm_templates",
    "PIL.Image:preinit",
)
"""What :func:`faceparity.render.report.render_html` imports, directly or on first use
(``module:function``: a function of the module called once it is imported)."""

BOOTSTRAP_MODULES = ("faceparity.uncertainty.apply", "faceparity.uncertainty.kernels")
"""What the subject bootstrap imports."""

BOOTSTRAP_KERNELS = ("faceparity.uncertainty.kernels:warm",)
"""The subject bootstrap's compiled loops, loaded from numba's cache."""

ENGINE_KERNELS = ("faceparity.accumulate.kernels:warm",)
"""The streaming engine's compiled loops, loaded from numba's cache."""


def preload(modules: Sequence[str]) -> Callable[[], None]:
    """Import ``modules`` on a daemon thread; the returned callable waits for it to end.

    Call it before the first use of a module: the main thread then never imports one
    of them while the other thread does. ``module:function`` entries also call the
    module's ``function`` (without arguments) once it is imported.
    """
    return preload_stages(modules)[-1]


def preload_stages(*stages: Sequence[str]) -> list[Callable[[], None]]:
    """Import the modules of each stage in turn on one daemon thread; a waiter per stage.

    The waiter of a stage returns once that stage and those before it are imported,
    so the main thread can go on with what needs only the first stages (whose modules
    it then never imports at the same time as the thread) while the thread imports
    the later ones.
    """
    if not any(stages):
        return [lambda: None for _ in stages] or [lambda: None]
    events = [threading.Event() for _ in stages]

    def load() -> None:
        try:
            for stage, event in zip(stages, events, strict=True):
                for entry in stage:
                    _load(entry)
                event.set()
        finally:
            for event in events:  # an interrupted thread leaves no waiter waiting
                event.set()

    thread = threading.Thread(target=load, name=THREAD_NAME, daemon=True)
    thread.start()
    waiters: list[Callable[[], None]] = []
    for event in events[:-1]:
        waiters.append(lambda event=event: wait_until(event.is_set, event.wait))  # type: ignore[misc]
    waiters.append(lambda: wait_until(lambda: not thread.is_alive(), thread.join))
    return waiters


def _load(entry: str) -> None:
    """Import ``module`` (and call ``module:function``); failures are left to its user."""
    name, _, function = entry.partition(":")
    try:
        module = importlib.import_module(name)
        if function:
            getattr(module, function)()
    except Exception:  # noqa: BLE001, S110 - raised again where the module is used
        pass
