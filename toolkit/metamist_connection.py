"""The toolkit's only door to the ``metamist`` client: where it points, and how its failures read.

The client reads ``SM_URL`` / ``SM_ENVIRONMENT`` when ``metamist.configuration`` is imported (module globals)
and again whenever a ``Configuration`` is built; ``SM_ENVIRONMENT`` must be exactly ``local`` to switch Google
auth off. :func:`connect` therefore sets the environment *and*, when the client is already imported (by anyone),
rewrites those module globals and drops the cached GraphQL clients; it then checks that a fresh configuration
points where it should, and raises otherwise. Whatever the import order, a local run's request cannot reach
production.

Failures become toolkit errors: no answer at all -> :class:`MetadataUnreachable` (one line, fast: no minute-long
retry loop), an error answer -> :class:`MetadataError` carrying the server's message.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from dataclasses import dataclass

from toolkit.errors import MetadataError, MetadataUnreachable

LOCAL_ENVIRONMENT = "local"
_CONNECT_TIMEOUT = 5
_READ_TIMEOUT = 300


@dataclass(frozen=True)
class Connection:
    url: str  # base URL, no trailing slash
    local: bool


_lock = threading.Lock()
_current: Connection | None = None
_graphql_client = None


def connect(url: str | None, *, local: bool) -> Connection:
    """Point the metamist client at ``url``.

    ``local=True``: the embedded server (or any Metamist running with ``SM_ENVIRONMENT=local``), no Google auth;
    ``url`` is required. ``local=False``: a real Metamist; ``url`` overrides ``SM_URL`` when given, otherwise the
    client's own choice from ``SM_URL`` / ``SM_ENVIRONMENT`` stands (and a leftover ``local`` is refused).
    """
    global _current, _graphql_client
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
        _graphql_client = None
        _current = Connection(url=target.rstrip("/"), local=local)
        _verify(_current)
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


# -- GraphQL ------------------------------------------------------------------------------------------------

def _client():
    """A gql client with the schema bundled in the metamist package: no introspection round-trip."""
    global _graphql_client
    connection = current()
    with _lock:
        if _graphql_client is not None:
            return _graphql_client
        from gql import Client
        from gql.transport.requests import RequestsHTTPTransport
        from metamist.graphql import get_local_schema

        headers = {}
        if not connection.local:
            from cpg_utils.cloud import get_google_identity_token

            try:
                headers["Authorization"] = f"Bearer {get_google_identity_token(target_audience=connection.url)}"
            except Exception as error:  # noqa: BLE001 - google-auth raises many kinds
                raise MetadataUnreachable(
                    f"cannot get Google credentials for Metamist at {connection.url}: {error}",
                    hint="run `gcloud auth application-default login`, or use the embedded server (no SM_URL)",
                ) from None
        transport = RequestsHTTPTransport(
            url=f"{connection.url}/graphql", headers=headers, timeout=_READ_TIMEOUT, retries=0
        )
        _graphql_client = Client(transport=transport, schema=_bundled_schema(get_local_schema()))
        return _graphql_client


@functools.lru_cache(maxsize=2)
def _bundled_schema(text: str):
    """The parsed schema: building it takes about 0.2 s, and a new client is made after every connect()."""
    from graphql import build_schema

    return build_schema(text)


def graphql_query(query_text: str, variables: dict | None = None) -> dict:
    """Run a GraphQL query; answers ``data``. Validated offline against the bundled schema first."""
    import requests
    from gql import gql
    from gql.transport.exceptions import TransportQueryError, TransportServerError
    from graphql import GraphQLError

    client = _client()
    url = current().url
    try:
        document = gql(query_text)
        return client.execute(document, variable_values=variables or {})
    except TransportQueryError as error:
        messages = [item.get("message", str(item)) for item in (error.errors or [])] or [str(error)]
        raise MetadataError(f"Metamist at {url} answered: {'; '.join(messages)}") from None
    except GraphQLError as error:
        raise MetadataError(f"the GraphQL query does not fit Metamist's schema: {error.message}") from None
    except TransportServerError as error:
        raise MetadataError(f"Metamist at {url} failed: HTTP {error.code}: {error}") from None
    except requests.exceptions.ConnectionError:
        raise MetadataUnreachable(f"cannot reach Metamist at {url}: connection refused or host unknown") from None
    except requests.exceptions.Timeout:
        raise MetadataUnreachable(f"Metamist at {url} did not answer in time") from None


# -- REST ---------------------------------------------------------------------------------------------------

def _api_client():
    import urllib3
    from metamist.api_client import ApiClient
    from metamist.configuration import Configuration

    connection = current()
    configuration = Configuration(host=connection.url)
    # Retry only failed connects (safe for PUT); a read retry could register an analysis twice.
    configuration.retries = urllib3.Retry(total=2, connect=2, read=0, status=0, backoff_factor=0.1)
    return ApiClient(configuration)


def _translating(method, url: str):
    def call(*args, **kwargs):
        import urllib3
        from metamist.exceptions import ApiException, ApiValueError

        kwargs.setdefault("_request_timeout", (_CONNECT_TIMEOUT, _READ_TIMEOUT))
        try:
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


def _translate_methods(api) -> None:
    import inspect

    url = current().url
    for name, method in inspect.getmembers(api, inspect.ismethod):
        if not name.startswith("_"):
            setattr(api, name, _translating(method, url))


def analysis_api():
    """A ``metamist.apis.AnalysisApi`` on the current connection whose calls raise toolkit errors."""
    from metamist.apis import AnalysisApi

    api = AnalysisApi(_api_client())
    _translate_methods(api)
    return api


def project_api():
    """``metamist.apis.ProjectApi``, same error translation as :func:`analysis_api`."""
    from metamist.apis import ProjectApi

    api = ProjectApi(_api_client())
    _translate_methods(api)
    return api
