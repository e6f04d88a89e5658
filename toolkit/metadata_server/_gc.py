"""Pausing CPython's cyclic garbage collector while large, cycle-free structures are built.

Building a large answer or loading a large file allocates millions of small objects; every few thousand
allocations the collector walks the whole heap, which then costs more than the work itself (a third of a
10,000-group query, half of a 100,000-group load). These objects hold no reference cycles, so reference counting
frees them all without the collector. Pauses nest across threads: collection resumes when the last one ends.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_pauses = 0
_was_enabled = True


@contextlib.contextmanager
def paused() -> Iterator[None]:
    global _pauses, _was_enabled
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()
