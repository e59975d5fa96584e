"""Freed memory handed back to the operating system between jobs.

Torch's CPU tensors come from the C allocator, and glibc keeps what they free in its heaps for
reuse instead of returning it, so that after a few techniques a process holds far more than the
job at hand needs (benchmarks/README.md, "Whole commands").
``malloc_trim`` returns the free pages; elsewhere than glibc it is absent and nothing is done.
"""
from __future__ import annotations

import ctypes
import functools
import gc
from typing import Callable


def return_free_memory() -> None:
    """Collect unreachable objects, then give the allocator's free pages back (glibc only)."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        return None
