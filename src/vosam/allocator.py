"""Hand the C allocator's freed memory back to the system, so long videos stay flat.

Each frame allocates and frees buffers of a frame's size (decoded frames, feature maps,
masks, the memory's tensors as it grows and is consolidated). glibc serves large ones with
their own mappings only below a threshold it raises as such mappings are freed; after the
first frames they come from the heap, whose freed space fragments and stays resident: at
480p the resident memory grew by 42 MiB from 500 to 5,000 frames although the engine's
memory held the same 18,100 elements. A fixed low threshold stops that but halves the
engine's speed (every buffer mapped and zeroed afresh); :func:`trim_heap` now and then (the
embedded engine calls it every ``EmbeddedConfig.trim_every`` frames) returns the freed
pages instead, for about a millisecond.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import sys
from collections.abc import Callable

__all__ = ["trim_heap"]

log = logging.getLogger(__name__)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
    trim.argtypes = (ctypes.c_size_t,)
    trim.restype = ctypes.c_int
    return trim


def trim_heap() -> bool:
    """Return the heap's free pages to the system (glibc ``malloc_trim(0)``).

    Returns:
        True when memory was returned; False when none was, or where the C library is not
        glibc.
    """
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
