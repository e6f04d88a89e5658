"""Analyses through the client: local outputs (file://, web URLs), restart, concurrency."""

from __future__ import annotations

import threading

import pytest

from toolkit.errors import MetadataError, MetadataUnreachable
from toolkit.metadata_server import load_demo, start_server


def _first_sg(server) -> str:
    from toolkit.metamist_connection import graphql_query

    return graphql_query('{ project(name: "sandbox-test") { sequencingGroups { id } } }', {})[
        "project"]["sequencingGroups"][0]["id"]


def _create(sg: str, **fields) -> int:
    from metamist.models import Analysis, AnalysisStatus

    from toolkit.metamist_connection import analysis_api

    fields.setdefault("status", "completed")
    fields["status"] = AnalysisStatus(fields["status"])
    return analysis_api().create_analysis("sandbox-test", Analysis(type="web", sequencing_group_ids=[sg], **fields))


def test_an_http_output_stays_a_path_and_the_server_serves_no_web_folder(server, tmp_path):
    """Like Metamist, which only looks objects up in GCS: a web URL is recorded as given. Web outputs are served by
    `toolkit serve`, from an origin of their own, never by the metadata server (issue 7)."""
    import requests

    from toolkit.metamist_connection import graphql_query

    load_demo(server.db_path)
    sg = _first_sg(server)
    url = "http://127.0.0.1:9/hkey/cpg-sandbox-test-web/fastqe/report.html"
    analysis_id = _create(sg, output=url, meta={"display_url": url})
    answer = graphql_query("query($ids:[Int!]){ analyses(id:{in_:$ids}){ output outputs } }", {"ids": [analysis_id]})
    assert answer["analyses"] == [{"output": url, "outputs": url}]
    assert requests.get(f"{server.url}/web/", timeout=10).status_code == 404


def test_file_output_missing_stays_a_path_and_no_scheme_is_refused(server, tmp_path):
    from toolkit.metamist_connection import graphql_query

    load_demo(server.db_path)
    sg = _first_sg(server)
    missing = f"file://{tmp_path}/nothing-here.txt"
    analysis_id = _create(sg, output=missing, meta={})
    answer = graphql_query("query($ids:[Int!]){ analyses(id:{in_:$ids}){ output outputs status } }",
                           {"ids": [analysis_id]})
    assert answer["analyses"] == [{"output": missing, "outputs": missing, "status": "COMPLETED"}]
    with pytest.raises(MetadataError, match="Output file path must contain a protocol prefix"):
        _create(sg, output=str(tmp_path / "x.txt"), meta={})


def test_update_analysis_to_completed_sets_timestamp(server):
    from metamist.models import AnalysisStatus, AnalysisUpdateModel

    from toolkit.metamist_connection import analysis_api, graphql_query

    load_demo(server.db_path)
    sg = _first_sg(server)
    analysis_id = _create(sg, status="in-progress", meta={"stage": "x"})
    assert analysis_api().update_analysis(
        analysis_id, AnalysisUpdateModel(status=AnalysisStatus("completed"), meta={"done": True})) is True
    (analysis,) = graphql_query("query($ids:[Int!]){ analyses(id:{in_:$ids}){ status meta timestampCompleted } }",
                                {"ids": [analysis_id]})["analyses"]
    assert analysis["status"] == "COMPLETED" and analysis["meta"] == {"stage": "x", "done": True}
    assert analysis["timestampCompleted"]


def test_restart_keeps_the_data(tmp_path, restore_metamist_env):
    from toolkit import metamist_connection

    db = tmp_path / "metadata.sqlite"
    load_demo(db)
    with start_server(db_path=db) as first:
        metamist_connection.connect(first.url, local=True)
        sg = _first_sg(first)
        analysis_id = _create(sg, output="gs://bucket/a.html", meta={"run": 1})
    with start_server(db_path=db) as second:
        metamist_connection.connect(second.url, local=True)
        answer = metamist_connection.graphql_query(
            "query($ids:[Int!]){ analyses(id:{in_:$ids}){ id meta sequencingGroups { id } } }",
            {"ids": [analysis_id]})
        assert answer["analyses"] == [{"id": analysis_id, "meta": {"run": 1}, "sequencingGroups": [{"id": sg}]}]
        assert _create(sg, output="gs://bucket/b.html", meta={}) == analysis_id + 1


def test_eight_clients_two_hundred_creates_each_lose_and_duplicate_nothing(server):
    from toolkit.metamist_connection import graphql_query

    load_demo(server.db_path)
    sg = _first_sg(server)
    created: list[list[int]] = [[] for _ in range(8)]
    failures: list[BaseException] = []

    def client(index: int) -> None:
        try:
            for number in range(200):
                created[index].append(_create(sg, output=f"gs://bucket/{index}/{number}.txt",
                                              meta={"client": index, "number": number}))
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=client, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:3]
    ids = [analysis_id for per_client in created for analysis_id in per_client]
    assert len(ids) == 1600 and len(set(ids)) == 1600
    stored = graphql_query('{ project(name: "sandbox-test") { analyses { id meta } } }', {})["project"]["analyses"]
    assert sorted(a["id"] for a in stored) == sorted(ids)
    assert {(a["meta"]["client"], a["meta"]["number"]) for a in stored} == {
        (c, n) for c in range(8) for n in range(200)}


def test_refused_connection_is_fast_and_one_line(restore_metamist_env):
    import socket
    import time

    from toolkit import metamist_connection

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    metamist_connection.connect(f"http://127.0.0.1:{port}", local=True)
    started = time.monotonic()
    with pytest.raises(MetadataUnreachable) as graphql_error:
        metamist_connection.graphql_query("{ myProjects { name } }", {})
    with pytest.raises(MetadataUnreachable):
        _create("CPGLCL17", output="gs://b/x", meta={})
    assert time.monotonic() - started < 5
    assert "\n" not in graphql_error.value.message and str(port) in graphql_error.value.message


def test_creates_and_queries_during_a_bulk_load_from_another_process_all_succeed(server, tmp_path):
    """A load holds SQLite's write lock for seconds: concurrent creates wait for it, none fails as "locked"."""
    import os
    import subprocess
    import sys

    from toolkit.metamist_connection import graphql_query

    load_demo(server.db_path)
    sg = _first_sg(server)
    sheet = tmp_path / "big.csv"
    sheet.write_text("project,participant,sample,sequencing_type,read1,read2\n" + "".join(
        f"big-test,P{n},S{n},genome,gs://b/{n}_R1.fq.gz,gs://b/{n}_R2.fq.gz\n" for n in range(20_000)))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SM_", "CPG_", "TOOLKIT_"))}
    loader = subprocess.Popen([sys.executable, "-m", "toolkit", "metadata", "load", str(sheet), "--db",
                               str(server.db_path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    created: list[int] = []
    failures: list[BaseException] = []

    def creator(index: int) -> None:
        try:
            for number in range(40):
                created.append(_create(sg, output=f"gs://bucket/during/{index}/{number}.txt", meta={"n": number}))
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    def reader() -> None:  # the toolkit's GraphQL client, from two threads besides the creators'
        query = '{ project(name: "sandbox-test") { sequencingGroups { id assays { meta } } } }'
        try:
            while loader.poll() is None:
                answer = graphql_query(query, {})
                assert len(answer["project"]["sequencingGroups"]) == 3, answer
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=creator, args=(index,)) for index in range(4)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    stdout, stderr = loader.communicate(timeout=300)
    for thread in threads:
        thread.join()
    assert loader.returncode == 0, stderr
    assert "20000 sequencing group(s)" in stdout
    assert not failures, failures[:3]
    assert len(created) == 160 and len(set(created)) == 160
    groups = graphql_query('{ project(name: "big-test") { sequencingGroups { id } } }', {})["project"]
    assert len(groups["sequencingGroups"]) == 20_000
