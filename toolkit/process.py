"""Whether this process is the ``toolkit`` program itself, or Python code (a test, a script) that imported it;
and what it may do with a second core.

The program's process ends with its command, so it may trade what only matters to a process that goes on: it
freezes long-lived objects for the garbage collector (toolkit.backend, toolkit.cli). A caller in Python keeps
its collector as it was: frozen objects are never collected, and ``gc.get_referrers``/``gc.get_objects`` no
longer see them.

Python runs one thread's code at a time, so the toolkit's own work (the embedded server's answers, planning a
large project) uses a second core only in a second process. A forked one starts with everything this process
has imported and computed, at no cost: :func:`can_fork` says when that is safe, :class:`ForkedCall` runs a
function in a child and brings its result back.
"""

from __future__ import annotations

import os
import sys
import threading
from array import array
from typing import Any, Callable, Iterable

AS_PROGRAM = False

# Processes of the toolkit's own that live as long as the command (the embedded server's): stopping a run's jobs
# (toolkit.backend.stop_jobs) leaves them alone, the command may still need them while it winds down.
HELPER_PIDS: set[int] = set()


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def can_fork() -> bool:
    """Is forking this process safe? Only where there is a fork, and only while no other thread runs: a thread
    holding a lock (the allocator's, logging's, a connection pool's) at the fork would leave it held for ever
    in the child."""
    return hasattr(os, "fork") and threading.active_count() == 1


def name_hashes(names: Iterable[str]) -> array:
    """``names`` as their hashes, for a forked child to report compactly what its share of the work holds (ids,
    destinations): it hashes as its parent does (the same hash seed), so :func:`any_shared` compares them."""
    return array("q", map(hash, names))


def any_shared(hashes: Iterable[int], names: Iterable[str]) -> bool:
    """Might one of ``names`` be one of the names ``hashes`` came from? True also on a collision of two names'
    hashes: callers then redo the work in one process, which finds out for certain."""
    return not set(hashes).isdisjoint(map(hash, names))


class ChildFailed(Exception):
    """The forked child did not bring a result back (it raised, or died); the message says what is known."""


class ForkedCall:
    """``function()`` run in a forked child while this process goes on; :meth:`result` waits for it.

    The child shares nothing with this process after the fork but inherited files: what it writes to a file
    opened before the fork is there for this process to read afterwards. Its return value comes back pickled
    through a temporary file (a pipe would block the child until this process read it). The child ends with
    ``os._exit``, never returning into the caller's code: no ``finally`` of the caller, no ``atexit``, no
    flush of the parent's buffered output runs twice. Only call when :func:`can_fork`.
    """

    def __init__(self, function: Callable[[], Any]):
        import tempfile

        self._answer = tempfile.TemporaryFile(prefix="toolkit-child-")
        sys.stdout.flush()  # else what is buffered now would be written by both processes
        sys.stderr.flush()
        self._pid = os.fork()
        if self._pid == 0:
            import pickle

            status = 1
            try:
                outcome = ("value", function())
                status = 0
            except BaseException as error:  # noqa: BLE001 - reported to the parent, which decides
                outcome = ("error", f"{type(error).__name__}: {error}")
            try:
                with open(self._answer.fileno(), "wb", closefd=False) as answer:
                    pickle.dump(outcome, answer, protocol=pickle.HIGHEST_PROTOCOL)
            finally:
                os._exit(status)

    def cancel(self) -> None:
        """The caller no longer wants the result (it failed, or was interrupted): end the child now."""
        if self._pid > 0:
            import signal

            try:
                os.kill(self._pid, signal.SIGKILL)
                os.waitpid(self._pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self._pid = 0
            self._answer.close()

    def result(self) -> Any:
        """The child's return value; raises :class:`ChildFailed` when it raised or died."""
        import pickle

        try:
            _, status = os.waitpid(self._pid, 0)
        except BaseException:  # interrupted while waiting (Ctrl-C): the child's work is not wanted any more
            self.cancel()
            raise
        self._pid = 0
        try:
            self._answer.seek(0)
            try:
                kind, value = pickle.load(self._answer)
            except Exception:  # noqa: BLE001 - nothing or half an answer: the child died
                raise ChildFailed(f"the child process ended with status {status} and no answer") from None
            if kind != "value":
                raise ChildFailed(value)
            return value
        finally:
            self._answer.close()
