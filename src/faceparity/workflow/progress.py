"""How a workflow reports as it runs: messages (one line each) and progress."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

__all__ = ["Message", "Progress", "Update", "no_progress", "silent"]

Message = Callable[[str], None]
"""Called with each line a workflow has to say (the command line prints them on stderr)."""

Update = Callable[[int, int], None]
"""Called with (units done, units in all)."""

Progress = Callable[[str], AbstractContextManager[Update]]
"""Opens a progress display for a unit ("comparisons", "images") and yields its update."""


def silent(text: str) -> None:
    """Say nothing."""


def _ignore(done: int, total: int) -> None:
    pass


@contextlib.contextmanager
def no_progress(unit: str = "comparisons") -> Iterator[Update]:
    """Show no progress."""
    yield _ignore
