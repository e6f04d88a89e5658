"""Running the server: in a background thread (tests, Python callers) or in the foreground (``toolkit metadata
serve``); toolkit.metadata_server.forked runs it in a process of its own (the toolkit program's commands)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import uvicorn

from toolkit.errors import EnvironmentProblem
from toolkit.metadata_server._paths import default_db_path
from toolkit.metadata_server.listening import listening_socket
from toolkit.metadata_server.app import create_app
from toolkit.metadata_server.ids import DEFAULT_CODEC, IdCodec
from toolkit.metadata_server.outputs import ObjectInspector
from toolkit.metadata_server.service import Service
from toolkit.metadata_server.store import Store


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

    def alive(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningServer(url={self.url!r}, db_path={str(self.db_path)!r})"


def build(db_path: Path | None, host: str, port: int, gcs_mirror: Path | None, codec: IdCodec = DEFAULT_CODEC):
    db_path = Path(db_path) if db_path else default_db_path()
    sock, url = listening_socket(host, port)
    store = Store(db_path)
    server = assemble(store, host, gcs_mirror, codec)
    return server, sock, url, store, db_path


def assemble(store: Store, host: str, gcs_mirror: Path | None, codec: IdCodec = DEFAULT_CODEC) -> uvicorn.Server:
    """The server over ``store``, not yet running."""
    inspector = ObjectInspector(gcs_mirror=Path(gcs_mirror) if gcs_mirror else None)
    service = Service(store, codec=codec, inspector=inspector)
    app = create_app(service, bind_host=host)
    # No proxy sits in front of this server: X-Forwarded-* headers are not for it to trust (and not parsing them,
    # nor writing Server/Date headers, saves time on every request). No WebSockets either (Metamist has none):
    # uvicorn then does not import a WebSocket library at every start.
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", proxy_headers=False,
                            server_header=False, date_header=False, ws="none")
    return uvicorn.Server(config)


def warm_up() -> None:
    """Do now what the first request would wait for: Starlette hands each request's work to a worker thread
    through anyio, which imports its asyncio backend when first asked (~25 ms). For a server that has time
    before its first request (a forked one: its command is still importing and loading the spec)."""
    import anyio

    anyio.run(anyio.sleep, 0)


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


def serve_forever(db_path: Path | None, host: str, port: int, gcs_mirror: Path | None = None, on_ready=None) -> None:
    """Foreground server; Ctrl-C (SIGINT) or SIGTERM stops it cleanly through uvicorn's own handlers."""
    server, sock, url, store, _db = build(db_path, host, port, gcs_mirror)
    if on_ready:
        on_ready(url)
    try:
        server.run(sockets=[sock])
    finally:
        store.close()
