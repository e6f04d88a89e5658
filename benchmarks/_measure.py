"""Waiting for a measured child process: its CPU time and its own peak memory.

``ru_maxrss`` of a child is not its own peak: Linux starts a forked child's high-water mark at its parent's size
and keeps the larger one across ``exec``, so a benchmark that holds a 100,000-group dataset made every toolkit
command it started look 441 MB. ``VmHWM`` in ``/proc/PID/status`` is the running program's own high-water mark
(its memory since ``exec``); it is read until the child exits.
"""

from __future__ import annotations

import os
import resource
import time

__all__ = ["wait_measured"]


def _high_water_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None  # exited (a zombie has no memory left to report), or not Linux


def wait_measured(pid: int, interval: float = 0.02) -> tuple[int, resource.struct_rusage, float]:
    """(wait status, resource usage, peak RSS in MB) of child ``pid``, once it has exited. The peak is the last
    high-water mark read, at most ``interval`` before the end (a high-water mark only grows, so only growth in
    that last moment could be missed); ``ru_maxrss`` where /proc cannot tell."""
    peak_kb = None
    while True:
        seen = _high_water_kb(pid)
        if seen is not None:
            peak_kb = max(peak_kb or 0, seen)
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage, (peak_kb if peak_kb is not None else usage.ru_maxrss) / 1024
        time.sleep(interval)
