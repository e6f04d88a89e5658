"""Waiting for a measured child process: its CPU time and its own peak memory.

``ru_maxrss`` of a child is not its own peak: Linux starts a forked child's high-water mark at its parent's size
and keeps the larger one across ``exec``, so a benchmark that holds a 100,000-group dataset made every toolkit
command it started look 441 MB. ``VmHWM`` in ``/proc/PID/status`` is the running program's own high-water mark
(its memory since ``exec``); it is read until the child exits.

A toolkit command may fork processes of its own (the embedded server; a second planner for a large plan): their
memory is the command's too. So the peak is also the largest sum, over the samples, of the resident sizes of the
command and its descendants: an upper bound (pages a fork shares with its parent are counted in both).
"""

from __future__ import annotations

import os
import resource
import time

__all__ = ["wait_measured"]


def _status_kb(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None  # exited (a zombie has no memory left to report), or not Linux


def _high_water_kb(pid: int) -> int | None:
    return _status_kb(pid, "VmHWM:")


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            for task in os.listdir(f"/proc/{parent}/task"):
                with open(f"/proc/{parent}/task/{task}/children", encoding="ascii") as children:
                    todo.extend(int(child) for child in children.read().split())
        except OSError:
            continue
        if parent != pid:
            found.append(parent)
    return found


def wait_measured(pid: int, interval: float = 0.02) -> tuple[int, resource.struct_rusage, float]:
    """(wait status, resource usage, peak RSS in MB) of child ``pid``, once it has exited. The peak is the larger
    of its own last high-water mark read, at most ``interval`` before the end (a high-water mark only grows, so
    only growth in that last moment could be missed), and the largest sampled sum of its and its descendants'
    resident sizes; ``ru_maxrss`` where /proc cannot tell."""
    peak_kb = None
    while True:
        seen = _high_water_kb(pid)
        if seen is not None:
            peak_kb = max(peak_kb or 0, seen)
            family = sum(_status_kb(member, "VmRSS:") or 0 for member in _descendants(pid))
            if family:
                peak_kb = max(peak_kb, (_status_kb(pid, "VmRSS:") or 0) + family)
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage, (peak_kb if peak_kb is not None else usage.ru_maxrss) / 1024
        time.sleep(interval)
