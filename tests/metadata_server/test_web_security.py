"""The embedded server is a web server on a fixed port of the user's machine: requests that a web page, a link or
a DNS-rebinding name could send are refused, and oversized or malformed requests get a clear 4xx, never a 500.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest
import requests

from toolkit.metadata_server import load_demo

ARCHIVE = 'mutation { sequencingGroup { archiveSequencingGroups(sequencingGroupIds: ["CPGLCL17"]) { id } } }'
GROUPS = '{ project(name: "sandbox-test") { sequencingGroups { id } } }'


@pytest.fixture
def demo(server):
    load_demo(server.db_path)
    return server


def _active_groups(server) -> list[str]:
    answer = requests.post(f"{server.url}/graphql", json={"query": GROUPS}, timeout=30).json()
    return [group["id"] for group in answer["data"]["project"]["sequencingGroups"]]


def test_a_mutation_over_get_is_refused_and_not_applied(demo):
    answer = requests.get(f"{demo.url}/graphql", params={"query": ARCHIVE}, timeout=30)
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"
    assert answer.json()["errors"][0]["message"] == "mutations are only accepted in POST requests"
    assert "CPGLCL17" in _active_groups(demo)
    # queries over GET still work
    got = requests.get(f"{demo.url}/graphql", params={"query": GROUPS}, timeout=30)
    assert got.status_code == 200 and len(got.json()["data"]["project"]["sequencingGroups"]) == 3


@pytest.mark.parametrize("origin", [None, "http://evil.example"], ids=["no-origin", "foreign-origin"])
def test_a_text_plain_post_cannot_apply_a_mutation(demo, origin):
    """What any web page can send cross-origin without a preflight (a CORS "simple request")."""
    headers = {"Content-Type": "text/plain"} | ({"Origin": origin} if origin else {})
    answer = requests.post(f"{demo.url}/graphql", data=json.dumps({"query": ARCHIVE}), headers=headers, timeout=30)
    assert answer.status_code in (403, 415)
    assert "CPGLCL17" in _active_groups(demo)


def test_rest_bodies_must_be_json_too(demo):
    body = json.dumps({"type": "qc", "status": "completed", "sequencing_group_ids": ["CPGLCL17"], "meta": {}})
    answer = requests.put(f"{demo.url}/api/v1/analysis/sandbox-test/", data=body,
                          headers={"Content-Type": "text/plain"}, timeout=30)
    assert answer.status_code == 415 and "application/json" in answer.json()["detail"]
    assert _analysis_count(demo) == 0


def _analysis_count(server) -> int:
    answer = requests.post(f"{server.url}/graphql", json={
        "query": '{ project(name: "sandbox-test") { analyses(active: {in_: [true, false]}) { id } } }'}, timeout=30)
    return len(answer.json()["data"]["project"]["analyses"])


def test_a_foreign_origin_is_refused_even_with_json(demo):
    answer = requests.post(f"{demo.url}/graphql", json={"query": ARCHIVE},
                           headers={"Origin": "http://evil.example"}, timeout=30)
    assert answer.status_code == 403 and "cross-origin" in answer.json()["detail"]
    assert "CPGLCL17" in _active_groups(demo)


def test_the_servers_own_origin_is_accepted(demo):
    """GraphiQL, served by the server itself, posts with its own Origin."""
    port = demo.url.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        answer = requests.post(f"{demo.url}/graphql", json={"query": GROUPS},
                               headers={"Origin": f"http://{host}", "Host": host}, timeout=30)
        assert answer.status_code == 200 and answer.json()["data"]["project"]["sequencingGroups"]


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8417", "127.0.0.1.nip.io", "10.0.0.1"])
def test_a_host_that_is_not_this_machine_is_refused(demo, host):
    """DNS rebinding: a page's own name resolving to 127.0.0.1 sends its name in Host."""
    answer = requests.post(f"{demo.url}/graphql", json={"query": ARCHIVE}, headers={"Host": host}, timeout=30)
    assert answer.status_code == 400
    assert "CPGLCL17" in _active_groups(demo)


@pytest.mark.parametrize("host", ["localhost", "[::1]"])
def test_loopback_names_are_accepted(demo, host):
    port = demo.url.rsplit(":", 1)[1]
    answer = requests.get(f"{demo.url}/api/v1/project/", headers={"Host": f"{host}:{port}"}, timeout=30)
    assert answer.status_code == 200 and answer.json() == ["sandbox-test"]


def test_a_body_larger_than_the_limit_is_refused(demo):
    from toolkit.metadata_server.limits import MAX_BODY_BYTES

    host, port = demo.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:  # announced size: no upload
        connection.sendall(f"POST /graphql HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                           f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode())
        reply = connection.recv(65536).decode()
    assert reply.startswith("HTTP/1.1 413")

    def chunks():  # no Content-Length: counted while it arrives
        yield b'{"query": "' + b" " * (1 << 20)
        for _ in range(MAX_BODY_BYTES >> 20):
            yield b" " * (1 << 20)
        yield b'"}'

    answer = requests.post(f"{demo.url}/graphql", data=chunks(), headers={"Content-Type": "application/json"},
                           timeout=60)
    assert answer.status_code == 413


def test_a_get_with_bad_variables_is_a_400(demo):
    answer = requests.get(f"{demo.url}/graphql", params={"query": GROUPS, "variables": "{bad"}, timeout=30)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["message"].startswith("the variables parameter is not JSON")


def test_out_of_range_ids_are_a_400(demo):
    details = requests.get(f"{demo.url}/api/v1/analysis/99999999999999999999999/details", timeout=30)
    assert details.status_code == 400 and details.json()["name"] == "ValueError"
    assert "out of range" in details.json()["description"]
    from toolkit.metadata_server.ids import DEFAULT_CODEC

    huge = DEFAULT_CODEC.sequencing_group.encode(10**30)  # a well-formed id no SQLite integer can hold
    query = requests.post(f"{demo.url}/api/v1/analysis/query", json={
        "projects": ["sandbox-test"], "sequencing_group_ids": [huge]}, timeout=30)
    assert query.status_code == 400 and "out of range" in query.json()["description"]
    graphql = requests.get(f"{demo.url}/graphql", params={
        "query": f'{{ sequencingGroups(id: {{eq: "{huge}"}}) {{ id }} }}'}, timeout=30).json()
    assert "out of range" in graphql["errors"][0]["message"]


def test_a_query_with_a_thousand_aliases_is_refused_before_it_runs(demo):
    aliases = " ".join(f'a{n}: project(name: "sandbox-test") {{ sequencingGroups {{ assays {{ meta }} }} }}'
                       for n in range(1000))
    answer = requests.post(f"{demo.url}/graphql", json={"query": f"{{ {aliases} }}"}, timeout=30)
    body = answer.json()
    assert body["data"] is None and len(answer.content) < 2000
    messages = [error["message"] for error in body["errors"]]
    assert "the query is too large for this server: 1,000 aliases, the limit is 30" in messages


def test_deep_and_exponential_queries_are_refused(demo):
    deep = "id " + "".join("sample { sequencingGroups { " for _ in range(12)) + "id" + " } }" * 12
    answer = requests.post(f"{demo.url}/graphql", json={
        "query": f'{{ project(name: "sandbox-test") {{ sequencingGroups {{ {deep} }} }} }}'}, timeout=30).json()
    assert "levels of nested fields, the limit is 20" in answer["errors"][0]["message"]
    # each fragment spreads the previous one twice: 2**20 copies of a field
    fragments = ["fragment F0 on GraphQLSequencingGroup { id }"] + [
        f"fragment F{n} on GraphQLSequencingGroup {{ ...F{n - 1} a{n}: sample {{ id }} ...F{n - 1} }}"
        for n in range(1, 21)]
    bomb = " ".join(fragments) + ' { project(name: "sandbox-test") { sequencingGroups { ...F20 } } }'
    answer = requests.post(f"{demo.url}/graphql", json={"query": bomb}, timeout=30).json()
    assert answer["data"] is None
    assert any("3,145,728 field selections, the limit is 2,000" in error["message"] for error in answer["errors"])


def test_an_unexpected_failure_is_a_one_line_500_and_no_traceback_anywhere(toolkit, tmp_path):
    """`toolkit metadata serve` as a user runs it; an output file that cannot be read makes the server fail."""
    toolkit.run("metadata", "demo")
    server = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "metadata", "serve", "--port", str(toolkit.port), "--no-demo"],
        env=toolkit.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{toolkit.url}/api/v1/project/", timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and server.poll() is None, server.stderr.read()
                time.sleep(0.2)
        answer = requests.put(f"{toolkit.url}/api/v1/analysis/sandbox-test/", json={
            "type": "qc", "status": "completed", "sequencing_group_ids": ["CPGLCL17"], "meta": {},
            "output": "file:///proc/self/mem"}, timeout=30)  # stat says a regular file; reading it fails (EIO)
        assert answer.status_code == 500
        body = answer.json()
        assert body["name"] == "OSError" and "Input/output error" in body["description"]
        assert "\n" not in body["description"] and "Traceback" not in body["stacktrace"]
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    assert "Traceback" not in stderr and "OSError" not in stderr


def test_the_size_limits_are_checked_before_the_standard_rules(demo):
    """A 15 kB query repeating one field 5,000 times kept the server's CPU busy for 46 s: graphql-core's
    OverlappingFieldsCanBeMerged rule compares every pair, and it ran before the limits. Any web page can send
    such a query as a GET without an Origin (an <img>). The limits now answer first: this query also names an
    unknown field, which only the standard rules would report, and the answer is the limits' alone."""
    repeated = "id " * 5000
    answer = requests.get(f"{demo.url}/graphql", params={
        "query": f'{{ project(name: "sandbox-test") {{ {repeated} noSuchField }} }}'}, timeout=120).json()
    messages = [error["message"] for error in answer["errors"]]
    assert "the query is too large for this server: 5,000 selections of 'id' in one place, the limit is 50" in messages
    assert not any("noSuchField" in message for message in messages)


def test_one_field_selected_many_times_in_one_place_is_refused_fragments_included(demo):
    """Within the field limit, repeats of one name are what makes the standard rules slow: at most 50 in one
    selection set, counting the fields that fragments bring in."""
    fine = requests.post(f"{demo.url}/graphql", json={
        "query": '{ project(name: "sandbox-test") { ' + "id " * 50 + "} }"}, timeout=30).json()
    assert fine == {"data": {"project": {"id": 1}}}
    fragments = " ".join(f"fragment F{n} on GraphQLProject {{ id }}" for n in range(51))
    spreads = " ".join(f"...F{n}" for n in range(51))
    answer = requests.post(f"{demo.url}/graphql", json={
        "query": f'{{ project(name: "sandbox-test") {{ {spreads} }} }} {fragments}'}, timeout=30).json()
    assert answer["data"] is None
    assert [error["message"] for error in answer["errors"]] == [
        "the query is too large for this server: 51 selections of 'id' in one place, the limit is 50"]


def test_a_query_with_too_many_tokens_or_too_deep_a_value_is_refused_as_a_graphql_error(demo):
    """Parsing is bounded too: 20,000 tokens; a value nested 3,000 lists deep was a 500 (RecursionError)."""
    long = requests.post(f"{demo.url}/graphql", json={
        "query": "{ " + "__typename " * 20_001 + "}"}, timeout=30)
    assert long.status_code == 200
    assert "more than 20000 tokens" in long.json()["errors"][0]["message"]
    deep = requests.post(f"{demo.url}/graphql", json={
        "query": "{ __typename(a: " + "[" * 3000 + "]" * 3000 + ") }"}, timeout=30)
    assert deep.status_code == 200, deep.text
    assert deep.json() == {"data": None, "errors": [{"message": "the query nests values too deeply to be read"}]}
