"""The batched query walk answers exactly what graphql-core's own executor answers, for every query shape.

Queries run through ``GraphQLExecutor`` twice on the same store: with the batched walk (what the server uses)
and with graphql-core alone (the reference). Every answer must be identical, errors included, and every query
that succeeds must really have been answered by the batched walk (it steps aside silently otherwise).
"""

from __future__ import annotations

import json

import orjson
import pytest

from tests.metadata_server.conftest import golden
from toolkit.metadata_server import load_dataset
from toolkit.metadata_server.graphql_api import GraphQLExecutor
from toolkit.metadata_server.outputs import ObjectInspector
from toolkit.metadata_server.service import Service
from toolkit.metadata_server.store import Store

EXTRA_QUERIES = {
    # groups asked for their ids only (as the toolkit lists a large project), beside the same groups asked for
    # more, with filters on other columns, through aliases and fragments
    "sequencing_group_ids_only": 'fragment I on GraphQLSequencingGroup { id } { project(name:"sandbox-test"){ '
                                 'a: sequencingGroups { id } b: sequencingGroups(type: {eq: "genome"}) { id } '
                                 'c: sequencingGroups(activeOnly: {eq: false}) { __typename id } '
                                 'd: sequencingGroups(technology: {eq: "short-read"}) { ...I } '
                                 'e: sequencingGroups(platform: {eq: "illumina"}) { id } '
                                 'f: sequencingGroups(activeOnly: {in_: [true, false]}) { id } '
                                 'g: sequencingGroups { id type technology } '
                                 'h: sequencingGroups { ...I ... on GraphQLSequencingGroup { type } } } }',
    "aliases_and_typename": '{ a: project(name:"sandbox-test"){ __typename n: name sgs: sequencingGroups{ __typename '
                            'i: id t: type } } b: project(name:"other-test"){ name } }',
    "fragments": 'fragment G on GraphQLSequencingGroup { id sample { ...S } } fragment S on GraphQLSample { id '
                 'externalId participant { externalId } } { project(name:"sandbox-test"){ sequencingGroups{ ...G '
                 '... on GraphQLSequencingGroup { type } } } }',
    "directives": 'query($yes:Boolean!){ project(name:"sandbox-test"){ sequencingGroups{ id type @skip(if:$yes) '
                  'platform @include(if:$yes) } } }',
    "my_projects_nested": "{ myProjects { id name dataset meta samples { id type active meta externalIds "
                          "assays { id type meta } sequencingGroups { id archived } } } }",
    "participants_deep": '{ project(name:"sandbox-test"){ participants{ id externalId reportedSex reportedGender '
                         'karyotype project { name } samples{ id project { dataset } assays { sample { id } } } } } }',
    "sample_filters": '{ sample(project:{eq:"sandbox-test"}, type:{eq:"blood"}){ id externalId sequencingGroups('
                      'type:{eq:"genome"}){ id } assays(type:{eq:"sequencing"}){ id } } }',
    "sample_assay_meta_filter": '{ project(name:"sandbox-test"){ samples{ id assays(meta:{reads_type:"cram"}){ id '
                                'meta } } } }',
    "archived_under_sample": '{ project(name:"sandbox-test"){ samples{ externalId sequencingGroups(activeOnly:'
                             '{eq:false}){ id archived } } } }',
    "analyses_everything": '{ project(name:"sandbox-test"){ analyses(active:{in_:[true,false]}){ id type status '
                           'output outputs meta active timestampCompleted project { name } sequencingGroups { id '
                           'sample { externalId } analyses { id } } } } }',
    "sg_analyses_filters": '{ sequencingGroups(project:{eq:"sandbox-test"}){ id analyses(type:{eq:"qc"}) { id } '
                           'all: analyses(active:{in_:[true,false]}) { id status } } }',
    "top_analyses": "{ analyses(id:{in_:[1,2,3,4,5]}){ id output outputs sequencingGroups { id } } }",
    "nested_bad_id_is_an_error": '{ project(name:"sandbox-test"){ samples{ id sequencingGroups(id:{eq:"NOTANID"})'
                                 '{ id } } } }',
    "unsupported_nested": '{ project(name:"sandbox-test"){ sequencingGroups{ id discussion { directComments '
                          '{ id } } } } }',
    "mixed_roots": '{ enum { sampleType } viewer { username projects { name sequencingGroups { id } } } '
                   'project(name:"sandbox-test"){ id } }',
    "empty_lists": '{ project(name:"sandbox-test"){ sequencingGroups(type:{eq:"none"}){ id sample { id } } } }',
}


@pytest.fixture(scope="module")
def executors(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batched")
    seed = folder / "seed.json"
    seed.write_text(json.dumps(golden("seed.json")))
    load_dataset(seed, folder / "metadata.sqlite")
    store = Store(folder / "metadata.sqlite")
    mirror = folder / "gcs"
    (mirror / "bucket" / "qc").mkdir(parents=True)
    (mirror / "bucket" / "qc" / "report.html").write_text("report")
    service = Service(store, inspector=ObjectInspector(gcs_mirror=mirror))
    for number, (sg, status, output) in enumerate([
        ("CPGLCL17", "completed", "gs://bucket/qc/report.html"),
        ("CPGLCL33", "failed", "gs://bucket/missing.html"),
        ("CPGLCL41", "completed", None),
    ]):
        service.create_analysis("sandbox-test", analysis_type="qc" if number else "web", status=status,
                                meta={"n": number}, sequencing_group_ids=[sg], output=output, active=True)
    service.create_analysis("sandbox-test", analysis_type="qc", status="completed", meta={},
                            sequencing_group_ids=["CPGLCL17", "CPGLCL25"],
                            outputs={"html": {"basename": "gs://bucket/qc/report.html"}}, active=None)
    service.update_analysis(2, active=False)
    yield GraphQLExecutor(service), GraphQLExecutor(service, batched=False)
    store.close()


def _queries():
    cases = [(record["name"], record["query"], record["variables"]) for record in golden("graphql.json")
             if not record["query"].lstrip().startswith("mutation")]
    cases += [(name, query, {"yes": True}) for name, query in EXTRA_QUERIES.items()]
    return cases


@pytest.mark.parametrize(("name", "query", "variables"), _queries(), ids=[case[0] for case in _queries()])
def test_batched_walk_answers_like_graphql_core(executors, name, query, variables):
    batched, reference = executors
    context: dict = {}
    answer = batched.run(query, variables, context=context)
    # as clients read them: the batched walk embeds stored JSON as it is (orjson fragments)
    assert orjson.loads(orjson.dumps(answer)) == reference.run(query, variables)
    if "errors" not in answer:
        assert context.get("stepped_aside", []) == [], f"{name}: answered by graphql-core, not the batched walk"


def test_the_comparison_sees_real_data(executors):
    """Guard against comparing two empty answers."""
    batched, _ = executors
    answer = orjson.loads(orjson.dumps(batched.run(EXTRA_QUERIES["analyses_everything"])))
    analyses = answer["data"]["project"]["analyses"]
    assert len(analyses) == 4 and {a["status"] for a in analyses} == {"COMPLETED", "FAILED"}
    assert analyses[0]["outputs"]["basename"] == "report.html"
    assert analyses[3]["outputs"]["html"]["path"] == "gs://bucket/qc/report.html"


@pytest.mark.parametrize(("condition", "expected"), [
    ('{in_: ["CPGLCL17", "CPGLCL25", "CPGLCL33"]}', ["CPGLCL17", "CPGLCL25", "CPGLCL33"]),
    ('{eq: "CPGLCL25"}', ["CPGLCL25"]),
    # what SQL selects (ids_to_fetch) is not the whole filter: the rest is still tested on each row
    ('{in_: ["CPGLCL17", "CPGLCL25", "CPGLCL33"], nin: ["CPGLCL25"]}', ["CPGLCL17", "CPGLCL33"]),
    ('{eq: "CPGLCL17", in_: ["CPGLCL25"]}', []),
    ('{eq: "CPGLCL17", in_: ["CPGLCL17", "CPGLCL25"]}', ["CPGLCL17"]),
    ('{nin: ["CPGLCL17"]}', None),  # every group but CPGLCL17
])
def test_sequencing_group_id_filters(executors, condition, expected):
    batched, reference = executors
    everything = [sg["id"] for sg in batched.run('{ project(name:"sandbox-test"){ sequencingGroups { id } } }')
                  ["data"]["project"]["sequencingGroups"]]
    assert {"CPGLCL17", "CPGLCL25", "CPGLCL33"} <= set(everything)
    expected = [sgid for sgid in everything if sgid != "CPGLCL17"] if expected is None else expected
    for root in (f'{{ project(name:"sandbox-test"){{ sequencingGroups(id: {condition}) {{ id }} }} }}',
                 f'{{ sequencingGroups(project: {{eq: "sandbox-test"}}, id: {condition}) {{ id }} }}'):
        answer = orjson.loads(orjson.dumps(batched.run(root)))["data"]
        found = answer["project"]["sequencingGroups"] if "project" in answer else answer["sequencingGroups"]
        assert [sg["id"] for sg in found] == expected
        assert answer == reference.run(root)["data"]
