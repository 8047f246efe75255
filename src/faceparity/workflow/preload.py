"""Modules the later steps of a command need, imported on a second thread meanwhile.

Importing the report's modules (jinja2, matplotlib and its fonts) and the bootstrap's
(numba) takes a good part of a second; a command that will need them starts their
import while it reads its input, which leaves a core idle. A failed import is left to
the step that needs the module, which raises it with its own install hint.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence

__all__ = ["BOOTSTRAP_MODULES", "REPORT_MODULES", "preload"]

REPORT_MODULES = (
    "faceparity.render.report",
    "matplotlib.figure",
    "matplotlib.ticker",
    "matplotlib.font_manager",
    "matplotlib.backends.backend_svg",
)
"""What :func:`faceparity.render.report.render_html` imports, directly or on first use."""

BOOTSTRAP_MODULES = ("faceparity.uncertainty.apply", "faceparity.uncertainty.kernels")
"""What the subject bootstrap imports."""


def preload(modules: Sequence[str]) -> Callable[[], None]:
    """Import ``modules`` on a daemon thread; the returned callable waits for it to end.

    Call it before the first use of a module: the main thread then never imports one
    of them while the other thread does.
    """
    if not modules:
        return lambda: None

    def load() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001, S112 - raised again where the module is used
                continue

    thread = threading.Thread(target=load, name="faceparity-preload", daemon=True)
    thread.start()
    return thread.join
