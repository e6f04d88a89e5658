"""An HTTP proxy in front of a metadata server that loses the answer to one request creating Analyses: the
network failing mid-registration, which no server error can stand in for (the server did its work, or never
saw the request, and the client cannot tell which).

``CuttingProxy(upstream, cut_request=k, forward_cut=True, then_gone=False)``: the k-th request whose body
holds ``createAnalysis`` is forwarded (``forward_cut``) or not, and either way its connection is closed
without an answer. With ``then_gone`` the proxy then answers nothing more: it stops listening and drops every
open connection (Metamist went away). Every other request passes through unchanged.
"""

from __future__ import annotations

import http.client
import http.server
import socket
import threading
from urllib.parse import urlsplit

_HOP_BY_HOP = {
    "connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "upgrade",
}


class CuttingProxy:
    def __init__(self, upstream: str, *, cut_request: int, forward_cut: bool = True, then_gone: bool = False):
        self.upstream = urlsplit(upstream)
        self.cut_request = cut_request
        self.forward_cut = forward_cut
        self.then_gone = then_gone
        self.create_requests = 0  # requests seen whose body holds createAnalysis
        self.cut = threading.Event()
        self.gone = threading.Event()
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the metamist client's sessions use it

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self._pass_on(b"")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.gone.is_set():
                    return self._drop()
                if b"createAnalysis" in body:
                    with proxy._lock:
                        proxy.create_requests += 1
                        cutting = proxy.create_requests == proxy.cut_request
                    if cutting:
                        if proxy.forward_cut:
                            self._forward(body)  # the server does the work; its answer is lost
                        proxy.cut.set()
                        if proxy.then_gone:
                            proxy.go_away()
                        return self._drop()
                self._pass_on(body)

            do_PUT = do_PATCH = do_POST

            def _forward(self, body: bytes):
                host, port = proxy.upstream.hostname, proxy.upstream.port
                upstream = http.client.HTTPConnection(host, port, timeout=120)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                    upstream.request(self.command, self.path, body=body or None, headers=headers)
                    answer = upstream.getresponse()
                    return answer.status, answer.reason, answer.getheaders(), answer.read()
                finally:
                    upstream.close()

            def _pass_on(self, body: bytes) -> None:
                if proxy.gone.is_set():
                    return self._drop()
                status, reason, headers, content = self._forward(body)
                self.send_response(status, reason)
                for key, value in headers:
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def _drop(self) -> None:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="cutting-proxy", daemon=True)
        self._thread.start()

    def go_away(self) -> None:
        """Stop listening: new connections are refused, requests on open ones get no answer."""
        self.gone.set()
        self._server.shutdown()  # from a handler thread too: serve_forever runs in a thread of its own
        self._server.server_close()

    def close(self) -> None:
        if not self.gone.is_set():
            self.go_away()

    def __enter__(self) -> CuttingProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
