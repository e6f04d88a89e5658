"""The embedded Metamist-compatible metadata server.

Public surface (heavy imports - starlette, uvicorn, graphql-core - happen only when these are called)::

    start_server(db_path=None, host="127.0.0.1", port=0, gcs_mirror=None) -> RunningServer
    start_server_process(db_path=None, host=..., port=0, gcs_mirror=None) -> ServerProcess | None
                                                           # ... forked, in a process of its own (None: cannot fork)
    load_dataset(path, db_path=None) -> LoadSummary        # seed.json format or CSV sample sheet
    load_demo(db_path=None) -> LoadSummary                 # the bundled sandbox-test project
    load_demo_once(db_path=None) -> LoadSummary | None     # ... or None when it is loaded already
    ensure_demo_loaded(db_path) -> bool                    # load the demo when the store is empty
    serves_in_this_process(url) -> bool                    # a server started here (start_server) is at url
    default_home() -> Path, default_db_path() -> Path

Layout: ``store`` (SQLite), ``ids`` (Metamist ids with Luhn check digit), ``outputs`` (output-file inspection
and rendering), ``service`` (access checks, analysis writes), ``graphql_api``, ``rest_api``, ``app``
(Starlette), ``runner`` (uvicorn, in a thread or the foreground), ``forked`` (in a process of its own),
``listening`` (the socket), ``dataset`` and ``loader`` (bulk loading), ``demo/`` (bundled data).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.metadata_server._paths import default_db_path, default_home

if TYPE_CHECKING:
    from toolkit.metadata_server.loader import LoadSummary
    from toolkit.metadata_server.forked import ServerProcess
    from toolkit.metadata_server.runner import RunningServer

__all__ = [
    "start_server",
    "start_server_process",
    "load_dataset",
    "load_demo",
    "load_demo_once",
    "ensure_demo_loaded",
    "default_home",
    "default_db_path",
    "serves_in_this_process",
    "DEMO_PROJECT",
]

DEMO_PROJECT = "sandbox-test"


def start_server(db_path: Path | None = None, host: str = "127.0.0.1", port: int = 0,
                 gcs_mirror: Path | None = None) -> RunningServer:
    """Start the server in a background thread; ``port=0`` picks a free port (see ``RunningServer.url``)."""
    from toolkit.metadata_server.runner import start_server as _start

    return _start(db_path=db_path, host=host, port=port, gcs_mirror=gcs_mirror)


def start_server_process(db_path: Path | None = None, host: str = "127.0.0.1", port: int = 0,
                         gcs_mirror: Path | None = None) -> ServerProcess | None:
    """Start the server in a child process forked from this one, so that its work runs beside the caller's
    on another core; None where forking is not safe (another thread is running) or not available. For a
    process that is about to do a lot of its own work with the server's answers: the toolkit program."""
    from toolkit.process import can_fork

    if not can_fork():
        return None
    from toolkit.metadata_server.forked import start_server_process as _start

    return _start(db_path=db_path, host=host, port=port, gcs_mirror=gcs_mirror)


def load_dataset(path, db_path: Path | None = None) -> LoadSummary:
    """Load a seed.json-format dataset (``.json``) or a CSV sample sheet (``.csv``) in one transaction."""
    from toolkit.metadata_server.loader import load_dataset as _load

    return _load(Path(path), db_path)


def load_demo(db_path: Path | None = None) -> LoadSummary:
    from toolkit.metadata_server.loader import load_demo as _load_demo

    return _load_demo(db_path)


def load_demo_once(db_path: Path | None = None) -> LoadSummary | None:
    """Load the demo unless the store holds it already (then None: loading it twice is a no-op, not an error)."""
    from toolkit.metadata_server.loader import load_demo_once as _once

    return _once(db_path)


def ensure_demo_loaded(db_path: Path | None = None) -> bool:
    """Load the bundled demo when the store holds no project yet; True when it loaded it."""
    from toolkit.metadata_server.loader import ensure_demo_loaded as _ensure

    return _ensure(db_path)


def serves_in_this_process(url: str) -> bool:
    """Is ``url`` a server that this process runs in a background thread (:func:`start_server`, as Python callers
    of the toolkit start the embedded server)? Its requests and the client's then share one interpreter lock.
    (The ``toolkit`` program's own server runs in a process of its own: :func:`start_server_process`.)"""
    import sys

    runner = sys.modules.get("toolkit.metadata_server.runner")  # not imported: no server started here
    return runner is not None and url.rstrip("/") in runner.IN_PROCESS_URLS
