"""Numbers that could not be read back (NaN, infinities, 1e400, 10**400) never enter the store.

Before, such a value loaded (or was accepted over REST/GraphQL), and then every query on the project answered
500, with the server's traceback printed into ``toolkit plan``'s output.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
import requests

from toolkit.errors import MetadataError

BAD_NUMBERS = {"nan": "NaN", "infinity": "Infinity", "minus-infinity": "-Infinity", "1e400": "1e400",
               "10^400": "1" + "0" * 400}
REASONS = {"nan": "NaN is not a number", "infinity": "Infinity is not a finite number",
           "minus-infinity": "-Infinity is not a finite number", "1e400": "Infinity is not a finite number",
           "10^400": "the integer of 401 digits is out of range"}


def _seed_text(token: str) -> str:
    read = {"size": "__BAD__", "location": "gs://b/S1_R1.fq.gz", "basename": "S1_R1.fq.gz", "class": "File"}
    seed = {"projects": [{"name": "num-test", "participants": [
        {"external_ids": {"": "P0"}, "samples": [{"external_ids": {"": "S0"}, "type": "blood"}]},
        {"external_ids": {"": "P1"}, "samples": [{"external_ids": {"": "S1"}, "type": "blood", "sequencing_groups": [
            {"type": "genome", "technology": "short-read", "platform": "illumina", "assays": [
                {"type": "sequencing", "meta": {"reads": [read], "reads_type": "fastq"}}]}]}]},
    ]}]}
    return json.dumps(seed, indent=2).replace('"__BAD__"', token)


def _rows(db, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


@pytest.mark.parametrize("case", list(BAD_NUMBERS))
def test_load_refuses_unstorable_numbers_with_their_position(toolkit, tmp_path, case):
    path = tmp_path / "seed.json"
    path.write_text(_seed_text(BAD_NUMBERS[case]))
    read_line = next(number for number, text in enumerate(path.read_text().splitlines(), 1)
                     if BAD_NUMBERS[case] in text) - 1  # the line of the read object's "{"
    done = toolkit.run("metadata", "load", str(path), check=3)
    where = "projects[0].participants[1].samples[0].sequencing_groups[0].assays[0].meta.reads[0].size"
    assert f"{path}:{read_line}: {where}: {REASONS[case]}" in done.stderr
    assert "nothing was loaded" in done.stderr
    assert _rows(toolkit.home / "metadata.sqlite", "participant") == 0


def test_load_reports_every_participant_with_a_bad_number(toolkit, tmp_path):
    participants = [
        {"external_ids": {"": f"P{n}"}, "meta": {"weight": "__BAD__" if n in (3, 2500) else n}} for n in range(3000)
    ]
    path = tmp_path / "many.json"
    path.write_text(json.dumps({"projects": [{"name": "many-test", "participants": participants}]},
                               indent=1).replace('"__BAD__"', "NaN"))
    lines = [number for number, text in enumerate(path.read_text().splitlines(), 1) if "NaN" in text]
    done = toolkit.run("metadata", "load", str(path), check=3)
    for index, line in zip((3, 2500), lines, strict=True):
        assert f"{path}:{line - 1}: projects[0].participants[{index}].meta.weight: NaN is not a number" in done.stderr
    assert _rows(toolkit.home / "metadata.sqlite", "participant") == 0


def test_rest_upsert_refuses_them_with_a_positioned_422(server):
    server.store.create_project("num-test", "num", members={"local-dev": ["reader", "writer"]})
    body = ('[{"external_ids": {"": "P1"}, "samples": [{"external_ids": {"": "S1"}, "type": "blood", '
            '"meta": {"ratio": NaN}}]}]')
    answer = requests.put(f"{server.url}/api/v1/participant/num-test/upsert-many", data=body,
                          headers={"Content-Type": "application/json"}, timeout=30)
    assert answer.status_code == 422
    (detail,) = answer.json()["detail"]
    assert detail["loc"] == ["body", 0, "samples", 0, "meta", "ratio"]
    assert "NaN is not a number" in detail["msg"]
    assert _rows(server.db_path, "participant") == 0


@pytest.mark.parametrize("number", ["9223372036854775808", "123456789012345678901234567890", "-1" + "0" * 29])
def test_an_integer_just_beyond_64_bits_is_a_422_not_a_500(server, number):
    """Found by the audit of issue 7: integers of 19 to 30 digits were echoed as numbers in the 422's `input`,
    which orjson cannot write either: the answer was a 500."""
    server.store.create_project("num-test", "num", members={"local-dev": ["reader", "writer"]})
    body = ('[{"external_ids": {"": "P1"}, "samples": [{"external_ids": {"": "S1"}, "type": "blood", '
            f'"meta": {{"count": {number}}}}}]}}]')
    answer = requests.put(f"{server.url}/api/v1/participant/num-test/upsert-many", data=body,
                          headers={"Content-Type": "application/json"}, timeout=30)
    assert answer.status_code == 422, answer.text
    (detail,) = answer.json()["detail"]
    assert detail["loc"] == ["body", 0, "samples", 0, "meta", "count"] and detail["input"] == number
    assert "is out of range" in detail["msg"]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 10**400], ids=["nan", "inf", "10^400"])
def test_create_analysis_through_the_client_refuses_them(server, value):
    from metamist.models import Analysis, AnalysisStatus

    from toolkit.metadata_server import load_demo
    from toolkit.metamist_connection import analysis_api, graphql_query

    load_demo(server.db_path)
    (first, *_) = graphql_query('{ project(name: "sandbox-test") { sequencingGroups { id } } }', {})[
        "project"]["sequencingGroups"]
    with pytest.raises(MetadataError, match=r"HTTP 422: body\.meta\.size: Value error, .*(not a|out of range)"):
        analysis_api().create_analysis("sandbox-test", Analysis(
            type="qc", status=AnalysisStatus("completed"), sequencing_group_ids=[first["id"]], meta={"size": value}))
    answer = graphql_query('{ project(name: "sandbox-test") { analyses { id meta } } }', {})
    assert answer["project"]["analyses"] == []  # nothing stored, and the project still answers


def test_graphql_mutation_refuses_them_in_the_query_text_and_in_variables(server):
    from toolkit.metadata_server import load_demo

    load_demo(server.db_path)
    mutation = ('mutation { analysis { createAnalysis(project: "sandbox-test", analysis: {type: "qc", status: '
                'COMPLETED, sequencingGroupIds: ["CPGLCL17"], meta: {size: 1e400}}) { id } } }')
    literal = requests.post(f"{server.url}/graphql", json={"query": mutation}, timeout=30).json()
    assert literal["data"] is None
    assert "Expected value of type 'JSON!', found {size: 1e400}" in literal["errors"][0]["message"]
    assert "Infinity is not a finite number" in literal["errors"][0]["message"]

    with_variables = ('mutation($a: AnalysisInput!) { analysis { createAnalysis(project: "sandbox-test", '
                      "analysis: $a) { id } } }")
    body = json.dumps({"query": with_variables, "variables": {"a": {
        "type": "qc", "status": "COMPLETED", "sequencingGroupIds": ["CPGLCL17"], "meta": {"size": "__BAD__"}}}})
    answer = requests.post(f"{server.url}/graphql", data=body.replace('"__BAD__"', "NaN"),
                           headers={"Content-Type": "application/json"}, timeout=30)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["message"].startswith("body.variables.a.meta.size: NaN is not a number")
    assert _rows(server.db_path, "analysis") == 0


def test_plan_on_a_store_written_before_the_check_fails_in_one_line(toolkit):
    """A store loaded by an older toolkit can hold NaN: plan says which row, without a traceback."""
    toolkit.run("metadata", "demo")
    with sqlite3.connect(toolkit.home / "metadata.sqlite") as conn:
        (assay_id, meta) = conn.execute("SELECT id, meta FROM assay ORDER BY id LIMIT 1").fetchone()
        conn.execute("UPDATE assay SET meta = ? WHERE id = ?", (meta.replace('"size":', '"size":NaN,"was":', 1),
                                                                 assay_id))
    done = toolkit.run("plan", "jobspecs/fastqe.yaml", "--format", "json", check=3)  # asserts: no traceback
    assert f"the stored meta of row {assay_id} is not strict JSON" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 3
