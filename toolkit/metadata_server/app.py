"""The Starlette application: GraphQL at ``/graphql``, REST under ``/api/v1``.

Web outputs are not served here: ``toolkit serve`` serves them, from an origin of their own.

Every request passes ``guard`` first (Host, Origin, JSON bodies, body size; see there). Answers are encoded
with orjson: a 10,000-group answer is several megabytes and the standard library took most of the time.
"""

from __future__ import annotations

from pathlib import Path

from graphql import OperationType
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from toolkit.metadata_server import jsonvalues
from toolkit.metadata_server.graphql_api import GraphQLExecutor
from toolkit.metadata_server.guard import RequestGuard, allowed_hosts
from toolkit.metadata_server.rest_api import ROUTES, JSONAnswer
from toolkit.metadata_server.service import Service

GRAPHIQL_DIR = Path(__file__).parent / "graphiql"

# GraphiQL from files shipped with the package (graphiql/README.md): the page works offline. The policy lets the
# page run only this server's scripts and talk only to this server.
_GRAPHIQL = """<!doctype html>
<html><head><meta charset="utf-8"><title>toolkit metadata server - GraphiQL</title>
<link rel="stylesheet" href="/graphiql/graphiql.min.css">
<link rel="stylesheet" href="/graphiql/graphiql-page.css"></head>
<body><div id="graphiql">Loading GraphiQL&hellip; (it needs JavaScript)</div>
<script src="/graphiql/react.production.min.js"></script>
<script src="/graphiql/react-dom.production.min.js"></script>
<script src="/graphiql/graphiql.min.js"></script>
<script src="/graphiql/graphiql-page.js"></script>
</body></html>
"""
GRAPHIQL_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def graphql_error(message: str, status: int, headers: dict | None = None) -> Response:
    return JSONAnswer({"data": None, "errors": [{"message": message}]}, status_code=status, headers=headers)


async def graphql_endpoint(request: Request) -> Response:
    executor: GraphQLExecutor = request.app.state.graphql
    if request.method == "GET":
        if "query" not in request.query_params:
            return HTMLResponse(_GRAPHIQL, headers={"Content-Security-Policy": GRAPHIQL_CSP})
        try:
            variables = jsonvalues.parse_document(request.query_params.get("variables") or "null")
        except jsonvalues.InvalidJson as error:
            return graphql_error(f"the variables parameter is not JSON: {error}", 400)
        except jsonvalues.BadJsonValue as error:
            return graphql_error(error.under("variables"), 400)
        payload = {
            "query": request.query_params["query"],
            "variables": variables,
            "operationName": request.query_params.get("operationName"),
        }
        if _is_mutation(executor, payload):
            # GraphQL over HTTP: a GET must not change anything (a link or an <img> could send it).
            return graphql_error("mutations are only accepted in POST requests", 405, {"Allow": "POST"})
    else:
        try:
            payload = jsonvalues.parse_document(await request.body())
        except jsonvalues.InvalidJson as error:
            return graphql_error(f"invalid JSON body: {error}", 400)
        except jsonvalues.BadJsonValue as error:
            return graphql_error(error.under("body"), 400)
        if not isinstance(payload, dict):
            return graphql_error("the body must be a JSON object", 400)
    answer = await run_in_threadpool(
        executor.run, payload.get("query"), payload.get("variables"), payload.get("operationName")
    )
    return JSONAnswer(answer)


def _is_mutation(executor: GraphQLExecutor, payload: dict) -> bool:
    if not isinstance(payload["query"], str):
        return False
    document, errors = executor.document(payload["query"])
    return not errors and executor.operation_type(document, payload["operationName"]) == OperationType.MUTATION


async def index(request: Request) -> Response:
    return JSONAnswer({
        "server": "toolkit embedded metadata server (Metamist-compatible subset)",
        "graphql": str(request.url_for("graphql")),
    })


def create_app(service: Service, bind_host: str = "127.0.0.1") -> Starlette:
    routes = [
        Route("/", index, methods=["GET"]),
        Route("/graphql", graphql_endpoint, methods=["GET", "POST"], name="graphql"),
        Route("/graphql/", graphql_endpoint, methods=["GET", "POST"]),
        Mount("/graphiql", app=StaticFiles(directory=str(GRAPHIQL_DIR)), name="graphiql"),
        *ROUTES,
    ]
    middleware = [
        Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(bind_host), www_redirect=False),
        Middleware(RequestGuard),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.service = service
    app.state.graphql = GraphQLExecutor(service)
    return app

