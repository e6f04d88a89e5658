"""The Starlette application: GraphQL at ``/graphql``, REST under ``/api/v1``.

Web outputs are not served here: ``toolkit serve`` serves them, from an origin of their own.
"""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from toolkit.metadata_server.graphql_api import GraphQLExecutor
from toolkit.metadata_server.rest_api import ROUTES
from toolkit.metadata_server.service import Service

# GraphiQL from its CDN: the browser fetches it, the server stays offline-capable.
_GRAPHIQL = """<!doctype html>
<html><head><meta charset="utf-8"><title>toolkit metadata server - GraphiQL</title>
<link rel="stylesheet" href="https://unpkg.com/graphiql@3/graphiql.min.css"></head>
<body style="margin:0"><div id="graphiql" style="height:100vh"></div>
<script crossorigin src="https://unpkg.com/react@18/umd/react.production.min.js"></script>
<script crossorigin src="https://unpkg.com/react-dom@18/umd/react-dom.production.min.js"></script>
<script crossorigin src="https://unpkg.com/graphiql@3/graphiql.min.js"></script>
<script>
const fetcher = GraphiQL.createFetcher({url: window.location.pathname});
ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, {fetcher, defaultQuery:
    '{ myProjects { name dataset sequencingGroups { id type sample { externalId } } } }'}));
</script></body></html>
"""


async def graphql_endpoint(request: Request) -> Response:
    executor: GraphQLExecutor = request.app.state.graphql
    if request.method == "GET":
        if "query" not in request.query_params:
            return HTMLResponse(_GRAPHIQL)
        payload = {
            "query": request.query_params["query"],
            "variables": json.loads(request.query_params.get("variables") or "null"),
            "operationName": request.query_params.get("operationName"),
        }
    else:
        try:
            payload = json.loads(await request.body())
        except json.JSONDecodeError as error:
            return JSONResponse({"data": None, "errors": [{"message": f"invalid JSON body: {error}"}]},
                                status_code=400)
        if not isinstance(payload, dict):
            return JSONResponse({"data": None, "errors": [{"message": "the body must be a JSON object"}]},
                                status_code=400)
    answer = await run_in_threadpool(
        executor.run, payload.get("query"), payload.get("variables"), payload.get("operationName")
    )
    return JSONResponse(answer)


async def index(request: Request) -> Response:
    return JSONResponse({
        "server": "toolkit embedded metadata server (Metamist-compatible subset)",
        "graphql": str(request.url_for("graphql")),
    })


def create_app(service: Service) -> Starlette:
    routes = [
        Route("/", index, methods=["GET"]),
        Route("/graphql", graphql_endpoint, methods=["GET", "POST"], name="graphql"),
        Route("/graphql/", graphql_endpoint, methods=["GET", "POST"]),
        *ROUTES,
    ]
    app = Starlette(routes=routes)
    app.state.service = service
    app.state.graphql = GraphQLExecutor(service)
    return app
