"""The bundled demo project, queried the way the tutorial and the seed script query Metamist."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

from toolkit.errors import MetadataError

TUTORIAL_QUERY = """
query($project: String!, $sequencingGroupID: String!) {
  project(name: $project) {
    sequencingGroups(id: {eq: $sequencingGroupID}) { assays { meta } sample { externalId } }
  }
}"""

SEED_SCRIPT_QUERY = """
query($project: String!, $ids: [String!]) {
  sequencingGroups(project: {eq: $project}, id: {in_: $ids}) { id type sample { externalId } assays { meta } }
}"""


def _demo_ids():
    from toolkit.metamist_connection import graphql_query

    answer = graphql_query('{ project(name: "sandbox-test") { dataset sequencingGroups { id type } } }', {})
    return answer["project"]


def test_demo_project_has_three_genome_groups(demo_server):
    project = _demo_ids()
    assert project["dataset"] == "sandbox"
    assert [group["type"] for group in project["sequencingGroups"]] == ["genome"] * 3
    assert all(group["id"].startswith("CPGLCL") for group in project["sequencingGroups"])


def test_tutorial_query_returns_real_local_reads(demo_server):
    from toolkit.metamist_connection import graphql_query

    first = _demo_ids()["sequencingGroups"][0]["id"]
    answer = graphql_query(TUTORIAL_QUERY, {"project": "sandbox-test", "sequencingGroupID": first})
    (group,) = answer["project"]["sequencingGroups"]
    assert group["sample"]["externalId"] == "DEMO001"
    meta = group["assays"][0]["meta"]
    assert list(meta) == ["reads", "reads_type", "sequencing_type", "sequencing_technology", "sequencing_platform"]
    assert meta["reads_type"] == "fastq"
    assert [read["basename"] for read in meta["reads"]] == ["DEMO001_R1.fastq.gz", "DEMO001_R2.fastq.gz"]
    for read in meta["reads"]:
        path = Path(read["location"])
        assert path.is_absolute() and path.is_file()
        assert read["class"] == "File"
        assert read["size"] == path.stat().st_size
        assert read["checksum"] == "md5:" + hashlib.md5(path.read_bytes()).hexdigest()
        with gzip.open(path, "rt") as handle:
            header, sequence, plus, quality = (handle.readline().rstrip("\n") for _ in range(4))
        assert header.startswith("@") and plus == "+" and len(sequence) == len(quality) == 100


def test_demo_fastqs_have_thousands_of_reads_with_decaying_quality(demo_server):
    demo = Path(__file__).resolve().parents[2] / "toolkit" / "metadata_server" / "demo"
    with gzip.open(demo / "DEMO002_R1.fastq.gz", "rt") as handle:
        lines = handle.read().splitlines()
    qualities = lines[3::4]
    assert len(qualities) >= 2000
    first = sum(ord(q[0]) - 33 for q in qualities) / len(qualities)
    last = sum(ord(q[-1]) - 33 for q in qualities) / len(qualities)
    assert first > 33 and last < first - 4


def test_seed_script_query_by_project_and_ids(demo_server):
    from toolkit.metamist_connection import graphql_query

    ids = [group["id"] for group in _demo_ids()["sequencingGroups"]]
    answer = graphql_query(SEED_SCRIPT_QUERY, {"project": "sandbox-test", "ids": [ids[2], ids[0]]})
    assert [group["id"] for group in answer["sequencingGroups"]] == [ids[0], ids[2]]
    assert [group["sample"]["externalId"] for group in answer["sequencingGroups"]] == ["DEMO001", "DEMO003"]


def test_metamist_client_graphql_query_with_introspection(demo_server):
    """The client's own ``metamist.graphql.query`` introspects the server on first use."""
    from metamist.graphql import configure_sync_client, gql, query

    configure_sync_client(force_recreate=True)
    answer = query(gql("{ metamistSettings { sequencingGroupPrefix samplePrefix } myProjects { name } }"))
    assert answer["metamistSettings"] == {"sequencingGroupPrefix": "CPGLCL", "samplePrefix": "XPGLCL"}
    assert [project["name"] for project in answer["myProjects"]] == ["sandbox-test"]


def test_unsupported_field_is_a_clear_error_not_null(demo_server):
    from toolkit.metamist_connection import graphql_query

    with pytest.raises(MetadataError) as caught:
        graphql_query('{ project(name: "sandbox-test") { sequencingGroups { id discussion { directComments { id } } } } }', {})
    message = caught.value.message
    assert "GraphQLSequencingGroup.discussion" in message
    assert "not supported by the embedded metadata server" in message


def test_unsupported_argument_is_a_clear_error(demo_server):
    import requests

    answer = requests.post(demo_server.url + "/graphql", json={
        "query": '{ sequencingGroups(project: {eq: "sandbox-test"}, hasCram: true) { id } }'}, timeout=10).json()
    assert answer["data"] is None
    assert "Argument 'hasCram'" in answer["errors"][0]["message"]
    assert "not supported" in answer["errors"][0]["message"]


def test_graphiql_page_for_browsers(demo_server):
    import requests

    page = requests.get(demo_server.url + "/graphql", headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 200 and "GraphiQL" in page.text
