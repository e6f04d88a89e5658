"""Running the server: in a background thread (tests, Python callers), in a process of its own forked from the
toolkit program (its commands), or in the foreground (``toolkit metadata serve``)."""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import uvicorn

from toolkit.errors import EnvironmentProblem
from toolkit.metadata_server._paths import default_db_path
from toolkit.metadata_server.app import create_app
from toolkit.metadata_server.ids import DEFAULT_CODEC, IdCodec
from toolkit.metadata_server.outputs import ObjectInspector
from toolkit.metadata_server.service import Service
from toolkit.metadata_server.store import Store
from toolkit.process import HELPER_PIDS


# URLs of the servers running in this process's background threads (see serves_in_this_process).
IN_PROCESS_URLS: set[str] = set()


class RunningServer:
    """A server running in a background thread. ``url`` has no trailing slash; ``stop()`` is idempotent."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, url: str, store: Store, db_path: Path):
        self._server = server
        self._thread = thread
        self.url = url
        self.store = store
        self.db_path = db_path

    def stop(self, timeout: float = 10.0, *, wait: bool = True) -> None:
        """Stop serving. ``wait=False``: only ask the server to stop, for a process that ends next (the toolkit
        program, toolkit.process): uvicorn's graceful shutdown waits out a 0.1 s tick and a fixed 0.1 s pause
        for connections whose answers the command already has, and the store needs no closing to be safe:
        each write was committed before its answer was sent (WAL), and the OS closes the file."""
        IN_PROCESS_URLS.discard(self.url)
        if not wait:
            self._server.should_exit = True
            return
        if self._thread.is_alive():
            self._server.should_exit = True
            self._thread.join(timeout)
        self.store.close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningServer(url={self.url!r}, db_path={str(self.db_path)!r})"


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise EnvironmentProblem(f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.listen(128)
    return sock


def build(db_path: Path | None, host: str, port: int, gcs_mirror: Path | None, codec: IdCodec = DEFAULT_CODEC):
    db_path = Path(db_path) if db_path else default_db_path()
    sock = _bind(host, port)
    actual_port = sock.getsockname()[1]
    url_host = f"[{host}]" if ":" in host else host
    url = f"http://{url_host}:{actual_port}"
    inspector = ObjectInspector(gcs_mirror=Path(gcs_mirror) if gcs_mirror else None)
    store = Store(db_path)
    service = Service(store, codec=codec, inspector=inspector)
    app = create_app(service, bind_host=host)
    # No proxy sits in front of this server: X-Forwarded-* headers are not for it to trust (and not parsing them,
    # nor writing Server/Date headers, saves time on every request). No WebSockets either (Metamist has none):
    # uvicorn then does not import a WebSocket library at every start.
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", proxy_headers=False,
                            server_header=False, date_header=False, ws="none")
    return uvicorn.Server(config), sock, url, store, db_path


def start_server(db_path: Path | None = None, host: str = "127.0.0.1", port: int = 0,
                 gcs_mirror: Path | None = None, codec: IdCodec = DEFAULT_CODEC) -> RunningServer:
    server, sock, url, store, db_path = build(db_path, host, port, gcs_mirror, codec)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="metadata-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise EnvironmentProblem(f"the embedded metadata server did not start on {url}")
        time.sleep(0.01)
    IN_PROCESS_URLS.add(url)
    return RunningServer(server, thread, url, store, db_path)


class ServerProcess:
    """A server running in a child process forked by :func:`start_server_process`; the same surface as
    :class:`RunningServer` (``url``, ``db_path``, ``stop``) but no ``store``: that lives in the child."""

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
        """Stop serving. ``wait=False``: only tell the child (it exits on its own, as it would if this
        process died: the pipe closes either way); otherwise also wait for it, killing it after ``timeout``."""
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
                         gcs_mirror: Path | None = None, codec: IdCodec = DEFAULT_CODEC) -> ServerProcess:
    """Start the server in a child process forked from this one.

    Why a process: the server's work (a page of 5,000 groups is ~0.1 s of Python) then runs on another core
    instead of taking turns with the command's own under one interpreter lock. Why forked: the child starts
    with this process's imports (a new interpreter would spend ~0.45 s importing uvicorn, Starlette and
    graphql-core). The socket listens before the fork, so requests queue until the child answers them, and the
    store is opened here first, so a store that cannot be opened fails here, in this process's words.

    The child ignores Ctrl-C (the command may still need Metamist while it winds down) and exits when the
    lifeline pipe closes: at :meth:`ServerProcess.stop`, or when this process ends in any way. Only call when
    :func:`toolkit.process.can_fork`.
    """
    server, sock, url, store, db_path = build(db_path, host, port, gcs_mirror, codec)
    store.close()  # no SQLite connection may cross a fork; the child opens its own
    readable, lifeline = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the command's code
        status = 1
        try:
            os.close(lifeline)
            # Ctrl-C and SIGTERM reach the whole process group (or a run's stop_jobs): the command may still
            # need Metamist while it winds down, so only the lifeline ends this process. Also drops the
            # command's own Python handlers, which this process inherited.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            devnull = os.open(os.devnull, os.O_RDWR)  # a reader of the command's stdout must not wait for us
            os.dup2(devnull, 0)
            os.dup2(devnull, 1)
            os.close(devnull)
            thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="metadata-server",
                                      daemon=True)
            thread.start()
            # Serve until the lifeline closes, or until the server itself ends (then the listening socket closes
            # with this process, and the command's requests are refused at once instead of waiting in its queue).
            while thread.is_alive():
                ready, _, _ = select.select([readable], [], [], 0.5)
                if ready and not os.read(readable, 1):
                    break
            server.should_exit = True
            thread.join(10)
            store.close()
            status = 0
        except BaseException:  # noqa: BLE001 - whatever happens, the child must not go on as the command
            import traceback

            traceback.print_exc()
        finally:
            os._exit(status)
    os.close(readable)
    sock.close()  # the child accepts; this copy would only keep the port open after the child is gone
    HELPER_PIDS.add(pid)
    return ServerProcess(pid, url, db_path, lifeline)


def serve_forever(db_path: Path | None, host: str, port: int, gcs_mirror: Path | None = None, on_ready=None) -> None:
    """Foreground server; Ctrl-C (SIGINT) or SIGTERM stops it cleanly through uvicorn's own handlers."""
    server, sock, url, store, _db = build(db_path, host, port, gcs_mirror)
    if on_ready:
        on_ready(url)
    try:
        server.run(sockets=[sock])
    finally:
        store.close()
