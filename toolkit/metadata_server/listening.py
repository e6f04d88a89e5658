"""The server's listening socket, made before anything else of the server (and, for a forked server, before the
fork: requests queue on it until the server answers them)."""

from __future__ import annotations

import socket

from toolkit.errors import EnvironmentProblem


def listening_socket(host: str, port: int) -> tuple[socket.socket, str]:
    """A socket listening on ``host:port`` (``port=0``: a free one), and the server's URL (no trailing slash)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise EnvironmentProblem(f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.listen(128)
    url_host = f"[{host}]" if ":" in host else host
    return sock, f"http://{url_host}:{sock.getsockname()[1]}"
