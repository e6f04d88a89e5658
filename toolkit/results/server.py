"""``toolkit serve``: the results page and this toolkit home's web outputs, on 127.0.0.1 only.

What it guarantees (docs/results.md has the why):

* It serves only web-category storage: ``<home>/buckets/<name>-web`` folders, under the home's path key
  (``/<key>/<name>-web/...``); nothing else of the home (other buckets, the metadata store, configs), no path
  that leaves its folder (``..``, symbolic links out), no hidden files.
* Reports are data from tools and metadata, so each is sent with a sandboxing Content-Security-Policy: it runs
  in an opaque origin of its own, never the page's (a read named ``<svg onload=...>`` cannot touch the page),
  and may fetch nothing.
* The page allows scripts from its own files only, and nothing from outside.
* Requests must name this server in ``Host`` (DNS rebinding) and, when they carry an ``Origin``, come from it;
  only GET and HEAD exist.
"""

from __future__ import annotations

import mimetypes
import threading
from pathlib import Path
from typing import Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from toolkit.results.render import ASSETS, STATIC, page_csp, report_origins

# Reports may run their own inline scripts and styles, in a unique origin, and load nothing from anywhere.
REPORT_CSP = (
    "sandbox allow-scripts allow-popups allow-popups-to-escape-sandbox allow-downloads; "
    "default-src 'none'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; media-src 'self' data: blob:; frame-src 'self'; "
    "connect-src 'none'; form-action 'none'; base-uri 'none'"
)
COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
WEB_BUCKET_SUFFIX = "-web"


def create_app(*, buckets: Path, key: str, port: int, render: Callable[[], tuple[str, set[str]]]):
    """The ASGI app. ``render()`` returns (page HTML, origins of the reports it frames), once per page load."""
    allowed_hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
    allowed_origins = {f"http://{host}" for host in allowed_hosts}
    render_lock = threading.Lock()  # the cpg-utils config is process-wide: one page is built at a time

    def render_serially() -> tuple[str, set[str]]:
        with render_lock:
            return render()

    async def page(request: Request) -> Response:
        html, origins = await run_in_threadpool(render_serially)
        # frame-ancestors only works as a header: no report (nor any other page) may frame the results page.
        policy = page_csp(origins) + "; frame-ancestors 'none'"
        return HTMLResponse(html, headers={**COMMON_HEADERS, "Content-Security-Policy": policy})

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            return _not_found()
        path = STATIC / ASSETS[name]
        media = "text/css" if name.endswith(".css") else "text/javascript"
        return FileResponse(path, media_type=media, headers=dict(COMMON_HEADERS))

    async def web_file(request: Request) -> Response:
        if request.path_params["key"] != key:
            return PlainTextResponse(
                "not found: this toolkit server serves another toolkit home (its URLs start with "
                f"/{key}/)", status_code=404, headers=dict(COMMON_HEADERS),
            )
        path = _web_path(buckets, request.path_params["bucket"], request.path_params["rest"])
        if path is None:
            return _not_found()
        if path.is_dir():
            if not request.url.path.endswith("/"):
                return RedirectResponse(request.url.path + "/", status_code=307)
            path = path / "index.html"
            if not path.is_file():
                return _not_found()
        media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if media.startswith("text/") or media in ("image/svg+xml", "application/javascript", "application/json"):
            media += "; charset=utf-8"
        return FileResponse(path, media_type=media, headers={**COMMON_HEADERS, "Content-Security-Policy": REPORT_CSP})

    app = Starlette(routes=[
        Route("/", page, methods=["GET", "HEAD"]),
        Route("/assets/{name}", asset, methods=["GET", "HEAD"]),
        Route("/{key}/{bucket}/{rest:path}", web_file, methods=["GET", "HEAD"]),
        Route("/{key}/{bucket}", _add_slash, methods=["GET", "HEAD"]),
    ])

    async def guarded(scope, receive, send):
        if scope["type"] == "http":
            request = Request(scope)
            refusal = _refusal(request, allowed_hosts, allowed_origins)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await app(scope, receive, send)

    def warm_up() -> None:
        try:
            render_serially()
        except Exception:  # noqa: BLE001 - only a head start; the first visit reports any problem itself
            pass

    guarded.warm_up = warm_up
    return guarded


def _refusal(request: Request, allowed_hosts: set[str], allowed_origins: set[str]) -> Response | None:
    host = request.headers.get("host", "")
    if host not in allowed_hosts:
        # A page of another site whose name was made to resolve to 127.0.0.1 (DNS rebinding) names itself here.
        return PlainTextResponse(f"refused: unexpected Host {host!r}", status_code=421, headers=dict(COMMON_HEADERS))
    origin = request.headers.get("origin")
    if origin is not None and origin not in allowed_origins:
        return PlainTextResponse(f"refused: foreign Origin {origin!r}", status_code=403, headers=dict(COMMON_HEADERS))
    if request.method not in ("GET", "HEAD"):
        return PlainTextResponse("only GET and HEAD", status_code=405, headers=dict(COMMON_HEADERS))
    return None


async def _add_slash(request: Request) -> Response:
    return RedirectResponse(request.url.path + "/", status_code=307)


def _not_found() -> Response:
    return PlainTextResponse("not found", status_code=404, headers=dict(COMMON_HEADERS))


def _web_path(buckets: Path, bucket: str, rest: str) -> Path | None:
    """The file for ``/<key>/<bucket>/<rest>``, or None unless it is inside a web bucket of this home."""
    if not bucket.endswith(WEB_BUCKET_SUFFIX) or bucket.startswith(".") or "/" in bucket or "\\" in bucket:
        return None
    parts = [part for part in rest.split("/") if part]
    if any(part in (".", "..") or part.startswith(".") or "\\" in part or "\x00" in part for part in parts):
        return None
    if (buckets / bucket).is_symlink():
        return None  # a "-web" name that leads to another bucket (or anywhere else) is not web storage
    root = (buckets / bucket).resolve()
    if not root.is_dir() or root.parent != buckets.resolve():
        return None
    candidate = root.joinpath(*parts).resolve()
    if candidate != root and not candidate.is_relative_to(root):
        return None  # a symbolic link that leads out of the bucket
    if not candidate.exists():
        return None
    return candidate


def page_renderer(projects: list[str | None], spec_paths: list[str], title: str) -> Callable[[], tuple[str, set[str]]]:
    def render() -> tuple[str, set[str]]:
        from toolkit.results.collect import collect_results
        from toolkit.results.render import render_page

        results = collect_results(projects, spec_paths)
        source = ", ".join(spec_paths) if spec_paths else "jobspecs recorded in the Analyses"
        return render_page(results, title=title, source=source), report_origins(results)

    return render
