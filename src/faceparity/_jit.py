"""numba's ``njit`` as faceparity compiles its loops: without the GIL, cached on disk.

A loop is compiled on its first call, or loaded from numba's on-disk cache: the
``__pycache__`` folder next to its module or, where that is not writable, numba's
user-wide cache folder (``NUMBA_CACHE_DIR`` chooses another). Where no folder is
writable, numba refuses ``cache=True``; the loop is then compiled in every process
instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["jit"]


def jit(**options: Any) -> Callable[[Any], Any]:
    """``numba.njit(nogil=True, cache=True, **options)``; uncached where nothing is writable."""
    from numba import njit

    def compile_(func: Any) -> Any:
        try:
            return njit(nogil=True, cache=True, **options)(func)
        except RuntimeError:  # numba found no writable cache folder for this file
            return njit(nogil=True, **options)(func)

    return compile_
