"""The toolkit's only door to the ``metamist`` client: where it points, and how its failures read.

The client reads ``SM_URL`` / ``SM_ENVIRONMENT`` when ``metamist.configuration`` is imported (module globals)
and again whenever a ``Configuration`` is built; ``SM_ENVIRONMENT`` must be exactly ``local`` to switch Google
auth off. :func:`connect` therefore sets the environment *and*, when the client is already imported (by anyone),
rewrites those module globals and drops the cached GraphQL clients; a fresh configuration is then checked to
point where it should (at once when the client is imported already, else before its first REST client is
made), raising otherwise. Whatever the import order, a local run's request cannot reach production.

Failures become toolkit errors: no answer at all -> :class:`MetadataUnreachable` (one line, fast: no minute-long
retry loop), an error answer -> :class:`MetadataError` carrying the server's message.

Threads: every call here may be made from any thread. Each thread gets its own clients for the current
connection (a gql session and a REST ``ApiClient``, each with its own HTTP connection kept alive between calls):
gql's transport refuses a second ``connect`` while one is open ("Transport is already connected"), and
``requests.Session`` is not documented as thread-safe. A thread keeps its clients until ``connect`` points
elsewhere. Against a real Metamist the Google identity token is fetched once and shared, until it is due for
renewal (the ``metamist`` client would fetch one for every REST call). :func:`create_analyses_request` creates
many Analyses in one request (toolkit.registration sends several such requests at once);
``benchmarks/registration.py`` measures the ways of creating 1,000.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable

from toolkit.errors import MetadataError, MetadataUnreachable

LOCAL_ENVIRONMENT = "local"
_CONNECT_TIMEOUT = 5
_READ_TIMEOUT = 300


@dataclass(frozen=True)
class Connection:
    url: str  # base URL, no trailing slash
    local: bool


# Google identity tokens are valid for an hour; one is renewed after this many seconds.
_TOKEN_RENEWAL = 45 * 60

_lock = threading.Lock()
_current: Connection | None = None
_generation = 0  # advanced by connect(): a thread's clients for an earlier connection are not used again
_per_thread = threading.local()
_tokens: dict[str, tuple[str, float]] = {}  # audience -> (token, when fetched)


def connect(url: str | None, *, local: bool) -> Connection:
    """Point the metamist client at ``url``.

    ``local=True``: the embedded server (or any Metamist running with ``SM_ENVIRONMENT=local``), no Google auth;
    ``url`` is required. ``local=False``: a real Metamist; ``url`` overrides ``SM_URL`` when given, otherwise the
    client's own choice from ``SM_URL`` / ``SM_ENVIRONMENT`` stands (and a leftover ``local`` is refused).
    """
    global _current, _generation
    with _lock:
        if local:
            if not url:
                raise ValueError("connect(local=True) needs the URL of the local server")
            os.environ["SM_URL"] = url.rstrip("/")
            os.environ["SM_ENVIRONMENT"] = LOCAL_ENVIRONMENT
        else:
            if os.environ.get("SM_ENVIRONMENT", "").lower() == LOCAL_ENVIRONMENT and not url:
                raise MetadataError(
                    "SM_ENVIRONMENT=local is set but no SM_URL was given for a real Metamist",
                    hint="unset SM_ENVIRONMENT, or set SM_URL to the Metamist you mean",
                )
            if url:
                os.environ["SM_URL"] = url.rstrip("/")
        target = os.environ.get("SM_URL") or _client_default_url()
        _repoint_imported_client(target)
        _current = Connection(url=target.rstrip("/"), local=local)
        _generation += 1
        if "metamist.configuration" in sys.modules:
            _verify(_current)
        # Else the environment set above is what the client's import will read; _api_client checks it then.
        # (Importing the client only to check it cost 0.7 s in commands that never use it: GraphQL goes
        # through gql with the connection's URL, and the client imports cpg-utils and its cloud stack.)
        return _current


def _client_default_url() -> str:
    import metamist.configuration

    return metamist.configuration.sm_url


def _repoint_imported_client(url: str) -> None:
    """If the client was imported before, its module globals still hold the old host: rewrite them."""
    configuration = sys.modules.get("metamist.configuration")
    if configuration is not None:
        configuration.sm_url = url
        configuration.TOKEN_AUDIENCE = url
        configuration.Configuration._default = None
    graphql = sys.modules.get("metamist.graphql")
    if graphql is not None:
        graphql._sync_client = None
        graphql._async_client = None


def _verify(connection: Connection) -> None:
    from metamist.configuration import Configuration

    fresh = Configuration()
    if fresh.host.rstrip("/") != connection.url:
        raise MetadataError(f"the metamist client still points at {fresh.host}, not {connection.url}")
    if connection.local and fresh.env != LOCAL_ENVIRONMENT:
        raise MetadataError(f"the metamist client is in environment {fresh.env!r}, not 'local'")


def current() -> Connection:
    if _current is None:
        raise MetadataError("not connected to a metadata server (call toolkit.metamist_connection.connect first)")
    return _current


# -- per-thread clients -------------------------------------------------------------------------------------

class _ThreadClients:
    """One thread's clients for one connection; only that thread uses them."""

    def __init__(self, generation: int, connection: Connection):
        self.generation = generation
        self.connection = connection
        self.graphql = None  # gql SyncClientSession, connected once and kept open (keep-alive)
        self.rest = None  # metamist ApiClient (its own urllib3 pool)
        self.apis: dict[type, Any] = {}

    def close(self) -> None:
        if self.graphql is not None:
            self.graphql.client.close_sync()
        if self.rest is not None:
            self.rest.close()


def _thread_clients() -> _ThreadClients:
    with _lock:
        connection, generation = _current, _generation
    if connection is None:
        current()  # raises: not connected
    clients = getattr(_per_thread, "clients", None)
    if clients is None or clients.generation != generation:
        if clients is not None:
            clients.close()
        clients = _per_thread.clients = _ThreadClients(generation, connection)
    return clients


def _forget_clients_in_child() -> None:
    """In a forked child: this thread's clients hold the parent's connections (the same sockets); drop them
    unclosed (closing could end the parent's connection), so a request made here opens its own."""
    global _per_thread
    _per_thread = threading.local()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_clients_in_child)


def release_thread_clients() -> None:
    """Close the calling thread's clients now: a worker thread that is about to end calls this, rather than
    leaving its connections open until the garbage collector finds them."""
    clients = getattr(_per_thread, "clients", None)
    if clients is not None:
        _per_thread.clients = None
        clients.close()


def call_then_release(function, *args):
    """``function(*args)``, then :func:`release_thread_clients`: for the last call of a worker thread."""
    try:
        return function(*args)
    finally:
        release_thread_clients()


def _bearer(connection: Connection) -> str | None:
    """``Bearer <Google identity token>`` for a real Metamist (None locally), shared by every thread."""
    if connection.local:
        return None
    with _lock:
        token, fetched = _tokens.get(connection.url, (None, 0.0))
        if token is None or time.monotonic() - fetched > _TOKEN_RENEWAL:
            token = _fetch_identity_token(connection.url)
            _tokens[connection.url] = (token, time.monotonic())
    return f"Bearer {token}"


def _fetch_identity_token(audience: str) -> str:
    from cpg_utils.cloud import get_google_identity_token

    try:
        return get_google_identity_token(target_audience=audience)
    except Exception as error:  # noqa: BLE001 - google-auth raises many kinds
        raise MetadataUnreachable(
            f"cannot get Google credentials for Metamist at {audience}: {error}",
            hint="run `gcloud auth application-default login`, or use the embedded server (no SM_URL)",
        ) from None


# -- GraphQL ------------------------------------------------------------------------------------------------

def _graphql_session(clients: _ThreadClients):
    """This thread's gql session. The client holds no schema: :func:`_document` validates each query once."""
    if clients.graphql is None:
        from gql import Client
        from gql.transport.requests import RequestsHTTPTransport

        transport = RequestsHTTPTransport(url=f"{clients.connection.url}/graphql", timeout=_READ_TIMEOUT, retries=0)
        clients.graphql = Client(transport=transport).connect_sync()
    return clients.graphql


@functools.lru_cache(maxsize=256)
def _document(query_text: str):
    """The parsed query, validated against the schema bundled in the metamist package (what gql's client would
    do on every call, here once per query text). Raises graphql.GraphQLError."""
    from gql import gql
    from graphql import validate

    from toolkit.metamist_types import bundled_schema

    document = gql(query_text)
    errors = validate(bundled_schema(), document)
    if errors:
        raise errors[0]
    return document


def graphql_query(query_text: str, variables: dict | None = None) -> dict:
    """Run a GraphQL query; answers ``data``. Validated offline against the bundled schema first."""
    import requests
    from gql.transport.exceptions import TransportQueryError, TransportServerError
    from graphql import GraphQLError

    clients = _thread_clients()
    url = clients.connection.url
    try:
        document = _document(query_text)
        session = _graphql_session(clients)
        bearer = _bearer(clients.connection)
        extra = {"extra_args": {"headers": {"Authorization": bearer}}} if bearer else {}
        return session.execute(document, variable_values=variables or {}, **extra)
    except TransportQueryError as error:
        errors = [item if isinstance(item, dict) else {"message": str(item)} for item in (error.errors or [])]
        messages = [item.get("message", str(item)) for item in errors] or [str(error)]
        raise GraphQLErrors(f"Metamist at {url} answered: {'; '.join(messages)}", errors, url) from None
    except GraphQLError as error:
        raise MetadataError(f"the GraphQL query does not fit Metamist's schema: {error.message}") from None
    except TransportServerError as error:
        raise MetadataError(f"Metamist at {url} failed: HTTP {error.code}: {error}") from None
    except requests.exceptions.ConnectionError:
        raise MetadataUnreachable(f"cannot reach Metamist at {url}: connection refused or host unknown") from None
    except requests.exceptions.Timeout:
        raise MetadataUnreachable(f"Metamist at {url} did not answer in time") from None


class GraphQLErrors(MetadataError):
    """Metamist answered a GraphQL request with errors; ``errors`` are those errors as answered (``message``,
    ``path``...)."""

    def __init__(self, message: str, errors: list[dict], url: str):
        super().__init__(message)
        self.errors = errors
        self.url = url


class MutationsFailed(MetadataError):
    """A request of several mutations failed.

    ``failed_item``: the index (in the request) of the mutation the server named in its error, with the
    server's ``item_message``; None when the error names none (no answer at all, an HTTP error). Which of the
    others were applied is not known from the answer: fields before the named one ran on the servers this was
    checked against, but an error answer carries no data at all (the fields are non-null), and without an
    answer even the named one may have been applied. Look them up before sending them again.
    """

    def __init__(self, message: str, *, failed_item: int | None, item_message: str | None, unreachable: bool,
                 hint: str | None = None):
        super().__init__(message, hint=hint)
        self.failed_item = failed_item
        self.item_message = item_message
        self.unreachable = unreachable


# Analyses per request of create_analyses: one alias each, and the embedded server refuses a query with more
# than 30 aliases (toolkit/metadata_server/limits.py); a real Metamist has no such limit.
ANALYSES_PER_REQUEST = 25


def run_mutations(document: str, variables: dict, count: int) -> list[dict]:
    """Send ``count`` aliased top-level mutations (``r0`` ... ``r{count-1}``) in one request; answers each
    one's field, in order. Raises :class:`MutationsFailed`.

    Top-level mutation fields run one after another (GraphQL's rule for mutations), each as the single
    mutation would.
    """
    try:
        data = graphql_query(document, variables)
    except GraphQLErrors as error:
        failed_item, item_message = None, None
        for item in error.errors:
            path = item.get("path") or []
            if path and isinstance(path[0], str) and path[0][:1] == "r" and path[0][1:].isdigit():
                failed_item = int(path[0][1:])
                item_message = f"Metamist at {error.url} answered: {item.get('message', item)}"
                break
        raise MutationsFailed(error.message, failed_item=failed_item, item_message=item_message,
                              unreachable=False) from None
    except MetadataUnreachable as error:
        raise MutationsFailed(error.message, failed_item=None, item_message=None, unreachable=True,
                              hint=error.hint) from None
    except MetadataError as error:
        raise MutationsFailed(error.message, failed_item=None, item_message=None, unreachable=False,
                              hint=error.hint) from None
    return [data[f"r{index}"] for index in range(count)]


def create_analyses_request(project: str, analyses: list[dict]) -> list[int]:
    """Create ``analyses`` (GraphQL ``AnalysisInput``s) in one request; answers their ids, in order. Raises
    :class:`MutationsFailed`."""
    variables = {"project": project, **{f"a{index}": analysis for index, analysis in enumerate(analyses)}}
    fields = run_mutations(_create_document(len(analyses)), variables, len(analyses))
    return [int(field["createAnalysis"]["id"]) for field in fields]


def deactivate_analyses_request(analysis_ids: list[int]) -> None:
    """Make the given Analyses inactive (their status and everything else kept), in one request. Raises
    :class:`MutationsFailed`. Doing it twice does no harm, so a failed request can simply be sent again."""
    run_mutations(_deactivate_document(len(analysis_ids)),
                  {f"i{index}": int(analysis_id) for index, analysis_id in enumerate(analysis_ids)},
                  len(analysis_ids))


def create_analyses(project: str, analyses: Iterable[dict], per_request: int = ANALYSES_PER_REQUEST) -> list[int]:
    """Create Analyses through GraphQL, ``per_request`` in one request, one request after another; answers
    their ids, in order.

    Each analysis is a GraphQL ``AnalysisInput`` (``type``, ``status`` such as ``COMPLETED``, ``output``,
    ``sequencingGroupIds``, ``meta``...). A request is one mutation with one aliased top-level ``analysis``
    field per Analysis, each the same ``createAnalysis`` a single call makes (Metamist runs the same code for
    it as for the REST create). If one of them fails the server answers no data at all, so the error says how
    many requests completed before; Analyses created earlier in the failed request are then known only from
    Metamist itself (by output): look them up before creating again (toolkit.registration does).
    """
    items = list(analyses)
    ids: list[int] = []
    for start in range(0, len(items), per_request):
        chunk = items[start : start + per_request]
        try:
            ids.extend(create_analyses_request(project, chunk))
        except MutationsFailed as error:
            done = f"the {start} before it were created" if start else "none before it"
            raise MetadataError(
                f"{error.message} (creating Analyses {start + 1}-{start + len(chunk)} of {len(items)} in one "
                f"request: {done}; some of these may have been)", hint=error.hint,
            ) from None
    return ids


@functools.lru_cache(maxsize=8)
def _create_document(count: int) -> str:
    variables = ", ".join(f"$a{index}: AnalysisInput!" for index in range(count))
    fields = " ".join(
        f"r{index}: analysis {{ createAnalysis(project: $project, analysis: $a{index}) {{ id }} }}"
        for index in range(count)
    )
    return f"mutation CreateAnalyses($project: String!, {variables}) {{ {fields} }}"


@functools.lru_cache(maxsize=8)
def _deactivate_document(count: int) -> str:
    variables = ", ".join(f"$i{index}: Int!" for index in range(count))
    inactive = "{active: false}"
    fields = " ".join(
        f"r{index}: analysis {{ updateAnalysis(analysisId: $i{index}, analysis: {inactive}) {{ id }} }}"
        for index in range(count)
    )
    return f"mutation DeactivateAnalyses({variables}) {{ {fields} }}"


# -- REST ---------------------------------------------------------------------------------------------------

def _api_client(clients: _ThreadClients):
    """This thread's ``ApiClient``: one connection pool per thread, kept between calls."""
    if clients.rest is None:
        import urllib3
        from metamist.api_client import ApiClient
        from metamist.configuration import Configuration

        _verify(clients.connection)
        configuration = Configuration(host=clients.connection.url)
        # Retry only failed connects (safe for PUT); a read retry could register an analysis twice.
        configuration.retries = urllib3.Retry(total=2, connect=2, read=0, status=0, backoff_factor=0.1)
        clients.rest = ApiClient(configuration)
    return clients.rest


def _translating(method, connection: Connection, configuration):
    url = connection.url

    def call(*args, **kwargs):
        import urllib3
        from metamist.exceptions import ApiException, ApiValueError

        kwargs.setdefault("_request_timeout", (_CONNECT_TIMEOUT, _READ_TIMEOUT))
        try:
            bearer = _bearer(connection)
            if bearer:
                # metamist's Configuration fetches a new token for every call unless it holds one.
                configuration.access_token = bearer.removeprefix("Bearer ")
            return method(*args, **kwargs)
        except ApiException as error:
            raise MetadataError(f"Metamist at {url} answered HTTP {error.status}: {_rest_message(error)}") from None
        except ApiValueError as error:
            raise MetadataError(f"invalid request to Metamist: {error}") from None
        except (urllib3.exceptions.MaxRetryError, urllib3.exceptions.NewConnectionError,
                urllib3.exceptions.ProtocolError):
            raise MetadataUnreachable(f"cannot reach Metamist at {url}: connection refused or host unknown") from None
        except urllib3.exceptions.TimeoutError:
            raise MetadataUnreachable(f"Metamist at {url} did not answer in time") from None

    call.__name__ = getattr(method, "__name__", "call")
    call.__doc__ = getattr(method, "__doc__", None)
    return call


def _rest_message(error) -> str:
    import json

    try:
        body = json.loads(error.body)
    except (TypeError, ValueError):
        return str(error.reason)
    if isinstance(body, dict) and "description" in body:
        return f"{body.get('name')}: {body['description']}"
    if isinstance(body, dict) and isinstance(body.get("detail"), list):
        return "; ".join(
            f"{'.'.join(str(part) for part in item.get('loc', []))}: {item.get('msg')}" for item in body["detail"]
        )
    return str(body)


def _api(api_class):
    """This thread's ``api_class`` on its ``ApiClient``, whose calls raise toolkit errors."""
    import inspect

    clients = _thread_clients()
    api = clients.apis.get(api_class)
    if api is None:
        client = _api_client(clients)
        api = api_class(client)
        for name, method in inspect.getmembers(api, inspect.ismethod):
            if not name.startswith("_"):
                setattr(api, name, _translating(method, clients.connection, client.configuration))
        clients.apis[api_class] = api
    return api


def analysis_api():
    """A ``metamist.apis.AnalysisApi`` on the current connection whose calls raise toolkit errors.

    For the calling thread: each thread that calls Metamist calls this itself (it is cheap: the thread's API
    object is kept), rather than sharing one API object between threads.
    """
    from metamist.apis import AnalysisApi

    return _api(AnalysisApi)


def project_api():
    """``metamist.apis.ProjectApi``, same error translation and threads as :func:`analysis_api`."""
    from metamist.apis import ProjectApi

    return _api(ProjectApi)
