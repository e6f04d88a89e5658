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


# -- threads ------------------------------------------------------------------------------------------------

def _analysis(sg: str, output: str, **meta):
    from metamist.models import Analysis, AnalysisStatus

    return Analysis(type="web", status=AnalysisStatus("completed"), output=output, sequencing_group_ids=[sg],
                    meta=meta)


def _in_threads(count: int, work) -> list[BaseException]:
    """Run ``work(index)`` in ``count`` threads started at the same instant; the exceptions they raised."""
    import threading

    start = threading.Barrier(count)
    failures: list[BaseException] = []

    def run(index: int) -> None:
        try:
            start.wait()
            work(index)
        except BaseException as error:  # noqa: BLE001 - reported by the caller
            failures.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def test_graphql_and_rest_calls_from_eight_threads_at_once(server):
    """One shared gql client failed here with "Transport is already connected" as soon as two threads queried."""
    from toolkit.metadata_server import load_demo
    from toolkit.metamist_connection import analysis_api, create_analyses, graphql_query

    load_demo(server.db_path)
    groups_query = '{ project(name: "sandbox-test") { sequencingGroups { id } } }'
    sgs = [group["id"] for group in graphql_query(groups_query, {})["project"]["sequencingGroups"]]
    created: dict[int, list[int]] = {index: [] for index in range(8)}

    def client(index: int) -> None:
        for number in range(25):
            listed = graphql_query(groups_query, {})["project"]["sequencingGroups"]
            assert [group["id"] for group in listed] == sgs
            created[index].append(int(analysis_api().create_analysis(
                "sandbox-test", _analysis(sgs[number % 3], f"gs://bucket/rest/{index}/{number}.txt",
                                          client=index, number=number))))
        created[index] += create_analyses("sandbox-test", [
            {"type": "web", "status": "COMPLETED", "output": f"gs://bucket/graphql/{index}/{number}.txt",
             "sequencingGroupIds": [sgs[0]], "meta": {"client": index, "number": 100 + number}}
            for number in range(25)], per_request=10)
        mine = graphql_query("query($ids: [Int!]) { analyses(id: {in_: $ids}) { id meta } }", {"ids": created[index]})
        assert sorted((a["meta"]["client"], a["meta"]["number"]) for a in mine["analyses"]) == [
            (index, number) for number in (*range(25), *range(100, 125))]

    assert _in_threads(8, client) == []
    ids = [analysis_id for per_client in created.values() for analysis_id in per_client]
    assert len(ids) == 400 and len(set(ids)) == 400
    stored = graphql_query('{ project(name: "sandbox-test") { analyses { id } } }', {})["project"]["analyses"]
    assert sorted(a["id"] for a in stored) == sorted(ids)


def test_a_thread_keeps_one_connection_for_its_graphql_calls_and_one_for_its_rest_calls(server, monkeypatch):
    """A new client per call (REST) and a new session per query (GraphQL) opened a TCP connection each time."""
    import urllib3.util.connection

    from toolkit.metadata_server import load_demo
    from toolkit.metamist_connection import analysis_api, graphql_query, project_api

    load_demo(server.db_path)
    opened = []
    real = urllib3.util.connection.create_connection

    def counting(address, *args, **kwargs):
        opened.append(address)
        return real(address, *args, **kwargs)

    # requests and the metamist client both open their sockets through urllib3.
    monkeypatch.setattr(urllib3.util.connection, "create_connection", counting)
    sg = graphql_query('{ project(name: "sandbox-test") { sequencingGroups { id } } }', {})[
        "project"]["sequencingGroups"][0]["id"]
    for number in range(20):
        graphql_query('{ project(name: "sandbox-test") { sequencingGroups { id } } }', {})
        analysis_api().create_analysis("sandbox-test", _analysis(sg, f"gs://bucket/keep/{number}.txt"))
        assert project_api().get_my_projects() == ["sandbox-test"]
    assert len(opened) == 2, opened  # this thread's GraphQL session and its REST connection pool


def test_many_analyses_in_few_requests_are_stored_as_single_creates_store_them(server):
    from toolkit.metadata_server import load_demo
    from toolkit.metamist_connection import analysis_api, create_analyses, graphql_query

    load_demo(server.db_path)
    sg = graphql_query('{ project(name: "sandbox-test") { sequencingGroups { id } } }', {})[
        "project"]["sequencingGroups"][0]["id"]
    meta = {"display_url": "https://example.org/r.html", "metrics": {"reads": 4000, "gc": 0.41}}
    single = int(analysis_api().create_analysis("sandbox-test", _analysis(sg, "gs://bucket/single.html", **meta)))
    batched = create_analyses("sandbox-test", [
        {"type": "web", "status": "COMPLETED", "output": f"gs://bucket/batched/{number}.html",
         "sequencingGroupIds": [sg], "meta": {**meta, "number": number}} for number in range(250)])
    assert len(batched) == 250 and batched == sorted(batched) and batched[0] > single

    fields = "id type status output active meta sequencingGroups { id } timestampCompleted"
    stored = {a["id"]: a for a in graphql_query(
        f"query($ids: [Int!]) {{ analyses(id: {{in_: $ids}}) {{ {fields} }} }}", {"ids": [single, *batched]})["analyses"]}
    assert [stored[i]["meta"]["number"] for i in batched] == list(range(250)), "in the order given"
    comparable = ("type", "status", "active", "sequencingGroups")
    assert {key: stored[batched[7]][key] for key in comparable} == {key: stored[single][key] for key in comparable}
    assert stored[batched[7]]["output"] == "gs://bucket/batched/7.html" and stored[batched[7]]["timestampCompleted"]
    assert {k: v for k, v in stored[batched[7]]["meta"].items() if k != "number"} == stored[single]["meta"]


def test_a_failing_create_among_many_says_which_requests_completed(server):
    from toolkit.metadata_server import load_demo
    from toolkit.metamist_connection import create_analyses, graphql_query

    load_demo(server.db_path)
    sg = graphql_query('{ project(name: "sandbox-test") { sequencingGroups { id } } }', {})[
        "project"]["sequencingGroups"][0]["id"]
    analyses = [{"type": "web", "status": "COMPLETED", "output": f"gs://bucket/f/{number}.html",
                 "sequencingGroupIds": [sg], "meta": {}} for number in range(30)]
    analyses[25]["sequencingGroupIds"] = ["CPGLCL999999"]  # no such group
    with pytest.raises(MetadataError) as raised:
        create_analyses("sandbox-test", analyses, per_request=10)
    assert "creating Analyses 21-30 of 30 in one request: the 20 before it were created" in raised.value.message
    stored = graphql_query('{ project(name: "sandbox-test") { analyses { output } } }', {})["project"]["analyses"]
    outputs = {a["output"] for a in stored}
    assert {f"gs://bucket/f/{number}.html" for number in range(20)} <= outputs
    assert "gs://bucket/f/25.html" not in outputs


class _RecordingMetamist:
    """Stands in for a real Metamist behind Google auth: records each request's Authorization header and
    answers a GraphQL query and an Analysis create."""

    def __init__(self):
        import http.server
        import json
        import threading

        self.authorizations: list[str | None] = []
        recording = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                recording.authorizations.append(self.headers.get("Authorization"))

            def do_POST(self):  # noqa: N802 - http.server's name
                self._record()
                self._answer({"data": {"myProjects": [{"name": "sandbox"}]}})

            def do_PUT(self):  # noqa: N802
                self._record()
                self._answer(1)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_against_a_real_metamist_one_identity_token_serves_every_thread(restore_metamist_env, monkeypatch):
    """The metamist client asked Google for a new identity token for every REST call."""
    from toolkit import metamist_connection

    metamist = _RecordingMetamist()
    fetched: list[str] = []
    monkeypatch.setattr(metamist_connection, "_fetch_identity_token",
                        lambda audience: fetched.append(audience) or "token-1")
    monkeypatch.delenv("SM_ENVIRONMENT", raising=False)
    try:
        metamist_connection.connect(metamist.url, local=False)

        def client(index: int) -> None:
            for number in range(5):
                assert metamist_connection.graphql_query("{ myProjects { name } }")["myProjects"] == [{"name": "sandbox"}]
                assert metamist_connection.analysis_api().create_analysis(
                    "sandbox", _analysis("CPGLCL17", f"gs://bucket/{index}/{number}.html")) == 1

        assert _in_threads(4, client) == []
    finally:
        metamist.stop()
    assert fetched == [metamist.url]
    assert metamist.authorizations == ["Bearer token-1"] * 40
