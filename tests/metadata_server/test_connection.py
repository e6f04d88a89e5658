"""toolkit.metamist_connection: whatever the import order, a local run's requests reach the local server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit.errors import MetadataError

REPO = Path(__file__).resolve().parents[2]

CHECK_REQUESTS = """
from metamist.apis import ProjectApi
from metamist.graphql import query
assert ProjectApi().get_my_projects() == ["sandbox-test"], "REST went elsewhere"
assert [p["name"] for p in query("{ myProjects { name } }")["myProjects"]] == ["sandbox-test"], "GraphQL went elsewhere"
assert mc.graphql_query("{ myProjects { name } }", {})["myProjects"] == [{"name": "sandbox-test"}]
print("all local")
"""

METAMIST_FIRST = """
import metamist.configuration, metamist.graphql, metamist.apis
assert "run.app" in metamist.configuration.sm_url  # imported while pointing at production
from toolkit import metamist_connection as mc
mc.connect(URL, local=True)
""" + CHECK_REQUESTS

CONNECT_FIRST = """
from toolkit import metamist_connection as mc
mc.connect(URL, local=True)
import metamist.configuration, metamist.graphql, metamist.apis
""" + CHECK_REQUESTS


def _run(script: str, url: str, **extra_env) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("SM_URL", "SM_ENVIRONMENT")}
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "-c", f"URL = {url!r}\n" + script], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=120,
    )


@pytest.mark.parametrize("script", [METAMIST_FIRST, CONNECT_FIRST], ids=["metamist-imported-first", "connect-first"])
def test_every_import_order_reaches_the_local_server(demo_server, script):
    result = _run(script, demo_server.url)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "all local" in result.stdout


def test_production_environment_variables_are_overridden(demo_server):
    # A user's shell may say production; a local run must still stay local.
    result = _run(METAMIST_FIRST.replace('assert "run.app" in metamist.configuration.sm_url', "pass"),
                  demo_server.url, SM_ENVIRONMENT="production", SM_URL="https://metamist.example.org")
    assert result.returncode == 0, result.stderr[-2000:]


def test_graphql_error_carries_the_servers_message(demo_server):
    from toolkit.metamist_connection import graphql_query

    with pytest.raises(MetadataError, match='Could not find projects with names: "nope"'):
        graphql_query('{ project(name: "nope") { id } }', {})


def test_query_not_fitting_the_schema_is_refused_before_sending(demo_server):
    from toolkit.metamist_connection import graphql_query

    with pytest.raises(MetadataError, match="Cannot query field 'bogus'"):
        graphql_query('{ project(name: "sandbox-test") { bogus } }', {})


def test_leftover_local_environment_without_url_is_refused(restore_metamist_env, monkeypatch):
    from toolkit import metamist_connection

    monkeypatch.setenv("SM_ENVIRONMENT", "local")
    monkeypatch.delenv("SM_URL", raising=False)
    with pytest.raises(MetadataError, match="SM_ENVIRONMENT=local"):
        metamist_connection.connect(None, local=False)
