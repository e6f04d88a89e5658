"""What every request must pass before it reaches GraphQL or REST, and what no request may see on the way out.

The embedded server has no authentication and listens on a fixed port, so any process of this machine and any
web page the user opens (through the browser) can reach it. A web page can send a "simple" cross-origin POST
(``Content-Type: text/plain``, no preflight) and can point a DNS name of its own at 127.0.0.1 (DNS rebinding).
So, in this order (the first refusal answers):

* ``Host`` must name this machine: 127.0.0.1, localhost or [::1] (or the address the server was told to
  listen on): refused with 400 by Starlette's ``TrustedHostMiddleware`` (in ``app.py``);
* ``Origin``, when present, must be the server's own origin (a same-origin page, e.g. GraphiQL): else 403;
* a request with a body (POST, PUT, PATCH) must say ``Content-Type: application/json``: else 415. A browser
  cannot send that cross-origin without a preflight, which this server never grants;
* a body is at most ``limits.MAX_BODY_BYTES``: else 413, checked on ``Content-Length`` and while reading.

On the way out, an exception nobody handled becomes a 500 whose JSON body names it in one line, in Metamist's
error shape; no traceback goes to the client or to the terminal of the process running the server (which is
often the user's own ``toolkit plan``).

Refusals are HTTP-level, so they use FastAPI's shape ``{"detail": "..."}`` as real Metamist would.
"""

from __future__ import annotations

import logging

import orjson
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from toolkit.metadata_server.limits import MAX_BODY_BYTES

LOG = logging.getLogger("toolkit.metadata_server")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_json_media_type(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def allowed_hosts(bind_host: str) -> list[str]:
    """Host names requests may use: loopback, plus the listening address when it is a specific one.

    A wildcard address (0.0.0.0, ::) means the user opened the server to the network on purpose; then any Host
    is accepted (``["*"]``), and the Origin check still stands.
    """
    if bind_host in ("0.0.0.0", "::", ""):
        return ["*"]
    host = f"[{bind_host}]" if ":" in bind_host and not bind_host.startswith("[") else bind_host
    return list(dict.fromkeys([*LOOPBACK_HOSTS, host.lower()]))


async def _send_json(send: Send, status: int, body: dict, extra_headers: list | None = None) -> None:
    content = orjson.dumps(body)
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(content)).encode()),
        *(extra_headers or []),
    ]})
    await send({"type": "http.response.body", "body": content})


class _BodyTooLarge(Exception):
    pass


class RequestGuard:
    """Origin, content type, body size and one-line 500s (see the module doc); ``Host`` is checked before."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is not None and origin.rstrip("/").lower() != f"http://{headers.get('host', '')}".lower():
            await _send_json(send, 403, {"detail": f"cross-origin request refused: Origin {origin!r} is not this "
                                                   "server (the embedded metadata server answers only itself)"})
            return
        length = headers.get("content-length")
        has_body = (length is not None and length.strip() not in ("", "0")) or "chunked" in headers.get(
            "transfer-encoding", "").lower()
        if has_body and scope["method"] in BODY_METHODS and not is_json_media_type(headers.get("content-type")):
            await _send_json(send, 415, {"detail": "Unsupported Media Type: request bodies must be JSON "
                                                   f"(Content-Type: application/json), not {headers.get('content-type')!r}"})
            return
        if length is not None and length.strip().isdigit() and int(length) > self.max_body_bytes:
            await _send_json(send, 413, {"detail": f"request body of {int(length):,} bytes is larger than the "
                                                   f"limit of {self.max_body_bytes:,}"})
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge
            return message

        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _BodyTooLarge:
            if not started:
                await _send_json(send, 413, {"detail": f"request body larger than the limit of "
                                                       f"{self.max_body_bytes:,} bytes"})
        except Exception as error:  # noqa: BLE001 - the last place an exception can become an answer
            await self._one_line_500(scope, send, error, started)

    @staticmethod
    async def _one_line_500(scope: Scope, send: Send, error: Exception, started: bool) -> None:
        """Metamist's ``{name, description, stacktrace}``, one line each; the exception stops here.

        Starlette's own error middleware (outside this one) would re-raise it for uvicorn to print a traceback
        into the terminal of the process running the server.
        """
        name = type(error).__name__
        description = " ".join(str(error).split()) or "unexpected error"
        LOG.debug("%s %s failed", scope.get("method"), scope.get("path"), exc_info=True)
        if started:  # too late for an error answer; the client sees a cut response
            return
        await _send_json(send, 500, {
            "name": name,
            "description": f"the embedded metadata server failed: {description}",
            "stacktrace": f"(embedded metadata server: no traceback) last line: {name}: {description}",
        })
