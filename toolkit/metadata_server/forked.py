"""The server in a process of its own, forked from the toolkit program (its commands' embedded Metamist).

Why a process: the server's work (a page of 5,000 groups is ~0.1 s of Python) then runs on another core instead
of taking turns with the command's own under one interpreter lock. Why forked: the child starts with what this
process imported (a new interpreter would spend ~0.45 s importing uvicorn, Starlette and graphql-core before its
first answer). This module imports none of the server stack: the child does, and builds the server, while the
command goes on with its own work; the socket listens before the fork, so requests queue until the child
answers them.

The child ignores Ctrl-C and SIGTERM, which reach the whole process group (or come from a run stopping its
jobs): the command may still need Metamist while it winds down. It ends when the lifeline pipe closes: at
:meth:`ServerProcess.stop`, or when the command ends in any way (the kernel closes the command's end).
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
import time
from pathlib import Path

from toolkit.metadata_server._paths import default_db_path
from toolkit.metadata_server.listening import listening_socket
from toolkit.process import HELPER_PIDS


class ServerProcess:
    """A server running in a child process forked by :func:`start_server_process`; the same surface as
    toolkit.metadata_server.runner.RunningServer (``url``, ``db_path``, ``stop``) but no ``store``: that lives in
    the child."""

    def __init__(self, pid: int, url: str, db_path: Path, lifeline: int):
        self.pid = pid
        self.url = url
        self.db_path = db_path
        self._lifeline = lifeline  # write end of a pipe: the child serves until it reads end-of-file

    def alive(self) -> bool:
        if self.pid > 0 and os.waitpid(self.pid, os.WNOHANG)[0]:
            self.pid = 0
        return self.pid > 0

    def stop(self, timeout: float = 10.0, *, wait: bool = True) -> None:
        """Stop serving. ``wait=False``: only tell the child (it exits on its own, as it would if this process
        died: the pipe closes either way); otherwise also wait for it, killing it after ``timeout``."""
        if self._lifeline >= 0:
            os.close(self._lifeline)
            self._lifeline = -1
        HELPER_PIDS.discard(self.pid)
        if not wait or self.pid <= 0:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.waitpid(self.pid, os.WNOHANG)[0]:
                self.pid = 0
                return
            time.sleep(0.01)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        self.pid = 0

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ServerProcess(pid={self.pid}, url={self.url!r}, db_path={str(self.db_path)!r})"


def start_server_process(db_path: Path | None = None, host: str = "127.0.0.1", port: int = 0,
                         gcs_mirror: Path | None = None) -> ServerProcess:
    """Start the server in a child process forked from this one. Only call when toolkit.process.can_fork.

    The store is opened here first, so a store that cannot be opened fails in this process, in its words.
    """
    from toolkit.metadata_server.store import Store

    db_path = Path(db_path) if db_path else default_db_path()
    Store(db_path).close()  # no SQLite connection may cross a fork: the child opens its own
    sock, url = listening_socket(host, port)
    readable, lifeline = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the command's code
        status = 1
        try:
            os.close(lifeline)
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # also drops the command's own inherited handlers
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            devnull = os.open(os.devnull, os.O_RDWR)  # a reader of the command's stdout must not wait for us
            os.dup2(devnull, 0)
            os.dup2(devnull, 1)
            os.close(devnull)
            status = _serve_until_released(sock, db_path, host, gcs_mirror, readable)
        except BaseException:  # noqa: BLE001 - whatever happens, the child must not go on as the command
            import traceback

            traceback.print_exc()
        finally:
            os._exit(status)
    os.close(readable)
    sock.close()  # the child accepts; this copy would only keep the port open after the child is gone
    HELPER_PIDS.add(pid)
    return ServerProcess(pid, url, db_path, lifeline)


def _serve_until_released(sock, db_path: Path, host: str, gcs_mirror: Path | None, lifeline: int) -> int:
    """In the child: build the server and serve until the lifeline closes, or until the server itself ends
    (then the listening socket closes with this process, and the command's requests are refused at once
    instead of waiting in its queue).

    Released, it ends at once, without uvicorn's graceful shutdown (a 0.1 s tick and a pause for open
    connections): the command that asked is done, or gone, and wants no more answers; SQLite keeps each write
    whole whether its transaction finished or not. Waiting, the child kept the command's standard error open,
    so that a reader of it (``toolkit plan 2>&1 | less``) saw the end of the output 0.1-0.2 s after the
    command had ended."""
    from toolkit.metadata_server.runner import assemble, warm_up
    from toolkit.metadata_server.store import Store

    store = Store(db_path)
    server = assemble(store, host, gcs_mirror)
    warm_up()  # requests already waiting in the socket's queue wait that long anyway
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="metadata-server", daemon=True)
    thread.start()
    while thread.is_alive():
        ready, _, _ = select.select([lifeline], [], [], 0.5)
        if ready and not os.read(lifeline, 1):
            return 0  # the caller ends the process (os._exit): the server's daemon thread with it
    store.close()
    return 0
