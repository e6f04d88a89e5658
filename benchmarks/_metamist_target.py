"""The Metamist a registration benchmark talks to: ``--url``, else an embedded server on a demo database of its
own, started as the ``toolkit`` program starts it (forked into a process of its own; in a thread of this
process where forking is not possible)."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def metamist_target(url: str | None, project: str) -> Iterator[tuple[str, list[str]]]:
    """Connects the toolkit's client; yields (where, the project's sequencing group ids)."""
    from toolkit import metamist_connection

    server = None
    if url:
        metamist_connection.connect(url, local=True)
        where = f"Metamist at {url}"
    else:
        from toolkit.metadata_server import load_demo, start_server, start_server_process

        folder = Path(tempfile.mkdtemp(prefix="registration-bench-"))
        load_demo(folder / "metadata.sqlite")
        server = start_server_process(db_path=folder / "metadata.sqlite")
        where = "the embedded server (a process of its own, as `toolkit run` starts it)"
        if server is None:
            server = start_server(db_path=folder / "metadata.sqlite")
            where = "the embedded server (in a thread of this process: forking was not possible)"
        metamist_connection.connect(server.url, local=True)
    try:
        sgs = [group["id"] for group in metamist_connection.graphql_query(
            "query($p: String!) { project(name: $p) { sequencingGroups { id } } }", {"p": project}
        )["project"]["sequencingGroups"]]
        yield where, sgs
    finally:
        if server is not None:
            server.stop()
