"""GraphQL execution against Metamist's own schema (``metamist/graphql/schema.graphql`` of the installed client).

Every supported field is described once, in one of three tables:

* ``LEAVES``: a value read from one row (``SequencingGroup.type``);
* ``BATCH_LEAVES``: values computed for a whole list of rows at once (``Analysis.outputs``);
* ``RELATIONS``: the child rows of a whole list of parent rows, loaded in one SQL query per level, never one
  per parent (``SequencingGroup.assays``).

Two executors use these tables and give the same answers:

* graphql-core's own executor, one field of one object at a time (``field_resolver``): each entity node belongs
  to a *batch* (the list it was loaded in), and the first time a relation is asked on one node it is loaded for
  the whole batch. Mutations, introspection and every error case go this way.
* :class:`BatchedExecutionContext`, for the root fields of queries: it walks the selection level by level and
  computes each field for every row of a level in one go (a column), without graphql-core's per-field
  bookkeeping. A 10,000-group project answers in a fraction of the time. If anything in that walk fails (an
  error, a field it does not know), it steps aside and graphql-core executes the field, so errors, their paths
  and partial answers are always graphql-core's own.

The default field resolver refuses every other field of the schema with an error naming it, so an unsupported
field is never answered with a silent null or an empty list.
"""

from __future__ import annotations

import functools
import json
from collections import OrderedDict
from collections.abc import Callable
from operator import itemgetter

from graphql import (
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    OperationType,
    build_schema,
    default_field_resolver,
    execute,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution import ExecutionContext
from graphql.execution.values import get_argument_values
from graphql.pyutils import Undefined

from toolkit.metadata_server import _gc, jsonvalues
from toolkit.metadata_server.limits import MAX_QUERY_TOKENS, QUERY_LIMIT_RULES
from toolkit.metadata_server.outputs import render_outputs
from toolkit.metadata_server.service import ENUMS, STATUS_FROM_GRAPHQL, STATUS_TO_GRAPHQL, Service
from toolkit.metadata_server.store import StoreError
from toolkit.metamist_types import schema_path

UNSUPPORTED = "is not supported by the embedded metadata server (use a real Metamist for it)"


@functools.lru_cache(maxsize=1)
def load_schema() -> GraphQLSchema:
    schema = build_schema(schema_path().read_text())  # the file the metamist client was made for
    _strict_json_scalar(schema)
    return schema


def _strict_json_scalar(schema: GraphQLSchema) -> None:
    """``JSON`` arguments refuse numbers that could not be stored (``meta: {size: 1e400}`` in a query text)."""
    scalar = schema.type_map.get("JSON")
    if scalar is None:
        return
    parse_literal, parse_value = scalar.parse_literal, scalar.parse_value

    def checked_literal(node, variables=None):
        value = parse_literal(node, variables)
        jsonvalues.check(value)
        return value

    def checked_value(value):
        jsonvalues.check(value)
        return parse_value(value)

    scalar.parse_literal, scalar.parse_value = checked_literal, checked_value


# -- nodes for graphql-core's executor ------------------------------------------------------------------------

class Batch:
    __slots__ = ("nodes", "cache")

    def __init__(self):
        self.nodes: list[Node] = []
        self.cache: dict = {}


class Node:
    """One entity row, the batch it was loaded with and its place in that batch."""

    __slots__ = ("row", "batch", "index")

    def __init__(self, row: dict, batch: Batch, index: int):
        self.row = row
        self.batch = batch
        self.index = index


def make_nodes(rows: list[dict]) -> list[Node]:
    batch = Batch()
    batch.nodes = [Node(row, batch, index) for index, row in enumerate(rows)]
    return batch.nodes


# -- filters ------------------------------------------------------------------------------------------------

def _is_empty_list(value) -> bool:
    return value is None or (isinstance(value, (list, frozenset)) and not value)


def matches(value, condition: dict | None) -> bool:
    """Metamist's filter operators applied to one value."""
    if not condition:
        return True
    for operator, operand in condition.items():
        if operand is None:
            continue
        if operator == "eq" and value != operand:
            return False
        if operator == "in_" and not _is_empty_list(operand) and value not in operand:
            return False
        if operator == "nin" and not _is_empty_list(operand) and value in operand:
            return False
        if operator in ("gt", "gte", "lt", "lte"):
            if value is None:
                return False
            if operator == "gt" and not value > operand:
                return False
            if operator == "gte" and not value >= operand:
                return False
            if operator == "lt" and not value < operand:
                return False
            if operator == "lte" and not value <= operand:
                return False
        if operator == "contains" and (value is None or str(operand) not in str(value)):
            return False
        if operator == "icontains" and (value is None or str(operand).lower() not in str(value).lower()):
            return False
        if operator == "startswith" and (value is None or not str(value).startswith(str(operand))):
            return False
        if operator == "isnull" and (value is None) != operand:
            return False
    return True


def meta_matches(meta: dict, wanted: dict | None) -> bool:
    if not wanted:
        return True
    return all(key in meta and meta[key] == value for key, value in wanted.items())


def map_filter(condition: dict | None, convert: Callable) -> dict | None:
    """The filter with its operands converted (e.g. external SG ids to internal numbers)."""
    if not condition:
        return condition
    converted = {}
    for operator, operand in condition.items():
        if operand is None or operator == "isnull":
            converted[operator] = operand
        elif isinstance(operand, list):
            converted[operator] = [convert(item) for item in operand]
        else:
            converted[operator] = convert(operand)
    return converted


def ids_to_fetch(condition: dict | None) -> list | None:
    """Ids to restrict the SQL query to, when the filter pins them down; None means 'no restriction'."""
    if not condition:
        return None
    if condition.get("eq") is not None:
        return [condition["eq"]]
    if not _is_empty_list(condition.get("in_")):
        return list(condition["in_"])
    return None


def fetched_exactly(condition: dict | None) -> bool:
    """Does selecting ``ids_to_fetch(condition)`` in SQL already apply the whole filter (a lone ``eq``, or a lone
    non-empty ``in_``)? Then testing each row again is only time (5,000 ids a page of a large project)."""
    if not condition:
        return True
    operators = {operator for operator, operand in condition.items() if operand is not None}
    return operators == {"eq"} or (operators == {"in_"} and not _is_empty_list(condition["in_"]))


def refuse_arguments(where: str, args: dict, *names: str) -> None:
    for name in names:
        if args.get(name) is not None:
            raise GraphQLError(f"Argument '{name}' of '{where}' {UNSUPPORTED}")


def _with_sets(condition: dict) -> dict:
    """``in_``/``nin`` lists as sets: a page of 5,000 ids against 100,000 rows was 5 * 10^8 list comparisons."""
    converted = dict(condition)
    for operator in ("in_", "nin"):
        operand = condition.get(operator)
        if isinstance(operand, list) and operand:
            try:
                converted[operator] = frozenset(operand)
            except TypeError:  # an unhashable operand (a JSON object): compared one by one, as given
                pass
    return converted


def _filtered(rows: list[dict], tests: list[tuple[Callable, dict]], meta: dict | None = None) -> list[dict]:
    """Rows passing every ``(value of row, condition)`` test and the meta filter; no work for absent filters."""
    tests = [(get, _with_sets(condition)) for get, condition in tests if condition]
    if not tests and not meta:
        return rows
    return [
        row for row in rows
        if all(matches(get(row), condition) for get, condition in tests) and (not meta or meta_matches(row["meta"], meta))
    ]


def _active_only(args: dict) -> dict:
    active_only = args.get("activeOnly")
    if not active_only or active_only.get("eq") is None and _is_empty_list(active_only.get("in_")):
        return {"eq": True}  # archived groups are hidden unless asked for
    return active_only


def archived_in_sql(args: dict) -> bool | None:
    """The ``archived`` value SQL can select on for the activeOnly filter (None: filter in Python)."""
    active_only = _active_only(args)
    if set(active_only) == {"eq"} and isinstance(active_only["eq"], bool):
        return not active_only["eq"]
    return None


def _is_active(row) -> bool:
    return not row["archived"]


def _filter_sequencing_groups(rows: list[dict], args: dict, id_filter: dict | None, *, ids_fetched: bool) -> list[dict]:
    """Rows selected with ``archived=archived_in_sql(args)`` (as every caller selects them) and, ``ids_fetched``,
    with ``ids=ids_to_fetch(id_filter)``: what SQL selected is not tested again."""
    active = None if archived_in_sql(args) is not None else _active_only(args)
    return _filtered(rows, [
        (_is_active, active), (itemgetter("id"), None if ids_fetched and fetched_exactly(id_filter) else id_filter),
        (itemgetter("type"), args.get("type")),
        (itemgetter("technology"), args.get("technology")), (itemgetter("platform"), args.get("platform")),
    ], args.get("meta"))


def _filter_samples(rows: list[dict], args: dict, id_filter: dict | None) -> list[dict]:
    return _filtered(rows, [
        (itemgetter("id"), id_filter), (itemgetter("type"), args.get("type")),
        (itemgetter("external_id"), args.get("externalId")), (itemgetter("participant_id"), args.get("participantId")),
        (lambda row: bool(row["active"]), args.get("active")),
    ], args.get("meta"))


def _filter_analyses(rows: list[dict], args: dict, project_names: dict | None = None) -> list[dict]:
    status = map_filter(args.get("status"), lambda name: STATUS_FROM_GRAPHQL[name])
    active = args.get("active") or {"eq": True}  # nested analyses hide inactive ones unless asked
    kept = _filtered(rows, [
        (itemgetter("status"), status), (itemgetter("type"), args.get("type")),
        (lambda row: bool(row["active"]), active), (itemgetter("id"), args.get("ids")),
        (itemgetter("timestamp_completed"), args.get("timestampCompleted")),
    ], args.get("meta"))
    if args.get("project"):
        kept = [row for row in kept if matches((project_names or {}).get(row["project_id"]), args["project"])]
    return kept


def _grouped(children: list[dict], key: str, parents: list[dict], parent_key: str = "id") -> list[list[dict]]:
    """For each parent, its children (in the children's order)."""
    grouped: dict = {}
    for child in children:
        grouped.setdefault(child[key], []).append(child)
    return [grouped.get(parent[parent_key], []) for parent in parents]


def _args_key(args: dict) -> str:
    return json.dumps(args, sort_keys=True, default=str)


# -- the fields ---------------------------------------------------------------------------------------------

Leaf = Callable[[dict, Service], object]
BatchLeaf = Callable[[Service, list], list]
Relation = Callable[[Service, list, dict], list]

LEAVES: dict[tuple[str, str], Leaf] = {}
BATCH_LEAVES: dict[tuple[str, str], BatchLeaf] = {}
RELATIONS: dict[tuple[str, str], Relation] = {}


def relation(type_name: str, *field_names: str):
    def register(function):
        for field_name in field_names:
            RELATIONS[(type_name, field_name)] = function
        return function

    return register


def _column(name: str) -> Leaf:
    return lambda row, _service: row[name]


# JSON columns the batched walk copies into answers as stored text (orjson.Fragment): the largest part of a big
# answer, never parsed into objects and encoded again.
STORED_JSON: dict[tuple[str, str], str] = {
    ("GraphQLProject", "meta"): "meta", ("GraphQLSequencingGroup", "meta"): "meta",
    ("GraphQLSample", "meta"): "meta", ("GraphQLSample", "externalIds"): "external_ids",
    ("GraphQLParticipant", "meta"): "meta", ("GraphQLParticipant", "externalIds"): "external_ids",
    ("GraphQLAssay", "meta"): "meta", ("GraphQLAssay", "externalIds"): "external_ids",
    ("GraphQLAnalysis", "meta"): "meta",
}

for _type, _fields in {
    "GraphQLProject": {"id": "id", "name": "name", "dataset": "dataset", "meta": "meta"},
    "GraphQLSequencingGroup": {"type": "type", "technology": "technology", "platform": "platform", "meta": "meta",
                               "archived": "archived"},
    "GraphQLSample": {"externalId": "external_id", "externalIds": "external_ids", "active": "active",
                      "meta": "meta", "type": "type"},
    "GraphQLParticipant": {"id": "id", "externalId": "external_id", "externalIds": "external_ids", "meta": "meta",
                           "reportedSex": "reported_sex", "reportedGender": "reported_gender",
                           "karyotype": "karyotype"},
    "GraphQLAssay": {"id": "id", "type": "type", "meta": "meta", "externalIds": "external_ids"},
    "GraphQLAnalysis": {"id": "id", "type": "type", "timestampCompleted": "timestamp_completed",
                        "active": "active", "meta": "meta"},
}.items():
    for _field, _name in _fields.items():
        LEAVES[(_type, _field)] = _column(_name)

LEAVES[("GraphQLSequencingGroup", "id")] = lambda row, service: service.codec.sequencing_group.encode(row["id"])
LEAVES[("GraphQLSequencingGroup", "externalIds")] = lambda row, service: {}  # not stored by Metamist either
LEAVES[("GraphQLSample", "id")] = lambda row, service: service.codec.sample.encode(row["id"])
LEAVES[("GraphQLAnalysis", "status")] = lambda row, service: STATUS_TO_GRAPHQL[row["status"]]


def _rendered_outputs(service: Service, rows: list) -> list[tuple]:
    stored = service.store.analysis_outputs([row["id"] for row in rows])
    return [render_outputs(stored.get(row["id"], []), graphql=True) for row in rows]


BATCH_LEAVES[("GraphQLAnalysis", "output")] = lambda service, rows: [
    output for output, _ in _rendered_outputs(service, rows)]
BATCH_LEAVES[("GraphQLAnalysis", "outputs")] = lambda service, rows: [
    outputs for _, outputs in _rendered_outputs(service, rows)]


# Project

@relation("GraphQLProject", "sequencingGroups")
def project_sequencing_groups(service: Service, rows: list, args: dict) -> list:
    id_filter = map_filter(args.get("id"), service.codec.sequencing_group.decode)
    if args.get("externalId"):
        # Metamist does not store sequencing-group external ids: a filter on them matches nothing.
        return [[] for _ in rows]
    found = service.store.sequencing_groups(project_ids=[row["id"] for row in rows], ids=ids_to_fetch(id_filter),
                                            archived=archived_in_sql(args))
    return _grouped(_filter_sequencing_groups(found, args, id_filter, ids_fetched=True), "project_id", rows)


@relation("GraphQLProject", "samples")
def project_samples(service: Service, rows: list, args: dict) -> list:
    refuse_arguments("GraphQLProject.samples", args, "parentId", "rootId")
    id_filter = map_filter(args.get("id"), service.codec.sample.decode)
    found = service.store.samples(project_ids=[row["id"] for row in rows], ids=ids_to_fetch(id_filter))
    return _grouped(_filter_samples(found, args, id_filter), "project_id", rows)


@relation("GraphQLProject", "participants")
def project_participants(service: Service, rows: list, args: dict) -> list:
    found = service.store.participants(project_ids=[row["id"] for row in rows])
    kept = _filtered(found, [
        (itemgetter("id"), args.get("id")), (itemgetter("external_id"), args.get("externalId")),
        (itemgetter("reported_sex"), args.get("reportedSex")),
        (itemgetter("reported_gender"), args.get("reportedGender")), (itemgetter("karyotype"), args.get("karyotype")),
    ], args.get("meta"))
    return _grouped(kept, "project_id", rows)


@relation("GraphQLProject", "analyses")
def project_analyses(service: Service, rows: list, args: dict) -> list:
    found = service.store.analyses(project_ids=[row["id"] for row in rows], ids=ids_to_fetch(args.get("ids")))
    return _grouped(_filter_analyses(found, args), "project_id", rows)


# Sequencing group

@relation("GraphQLSequencingGroup", "sample")
def sequencing_group_sample(service: Service, rows: list, args: dict) -> list:
    samples = {sample["id"]: sample for sample in service.store.samples(ids={row["sample_id"] for row in rows})}
    return [samples[row["sample_id"]] for row in rows]


@relation("GraphQLSequencingGroup", "assays")
def sequencing_group_assays(service: Service, rows: list, args: dict) -> list:
    found = service.store.assays(sequencing_group_ids=[row["id"] for row in rows])
    return _grouped(found, "sequencing_group_id", rows)


@relation("GraphQLSequencingGroup", "analyses")
def sequencing_group_analyses(service: Service, rows: list, args: dict) -> list:
    store = service.store
    links = store.analysis_links(sequencing_group_ids=[row["id"] for row in rows])
    analyses = {row["id"]: row for row in store.analyses(ids=[link[0] for link in links])}
    names = None
    if args.get("project"):
        names = {project["id"]: project["name"] for project in store.projects_by_id(
            {row["project_id"] for row in analyses.values()}).values()}
    kept = {row["id"] for row in _filter_analyses(list(analyses.values()), args, names)}
    grouped: dict = {}
    for analysis_id, sg_id in links:
        if analysis_id in kept:
            grouped.setdefault(sg_id, []).append(analyses[analysis_id])
    return [grouped.get(row["id"], []) for row in rows]


# Sample

@relation("GraphQLSample", "participant")
def sample_participant(service: Service, rows: list, args: dict) -> list:
    participants = {participant["id"]: participant for participant in service.store.participants(
        ids={row["participant_id"] for row in rows if row["participant_id"] is not None})}
    return [participants.get(row["participant_id"]) for row in rows]


@relation("GraphQLSample", "assays")
def sample_assays(service: Service, rows: list, args: dict) -> list:
    found = _filtered(service.store.assays(sample_ids=[row["id"] for row in rows]),
                      [(itemgetter("type"), args.get("type"))], args.get("meta"))
    return _grouped(found, "sample_id", rows)


@relation("GraphQLSample", "sequencingGroups")
def sample_sequencing_groups(service: Service, rows: list, args: dict) -> list:
    id_filter = map_filter(args.get("id"), service.codec.sequencing_group.decode)
    found = service.store.sequencing_groups(sample_ids=[row["id"] for row in rows], archived=archived_in_sql(args))
    return _grouped(_filter_sequencing_groups(found, args, id_filter, ids_fetched=False), "sample_id", rows)


@relation("GraphQLSample", "project")
@relation("GraphQLParticipant", "project")
@relation("GraphQLAnalysis", "project")
def project_of(service: Service, rows: list, args: dict) -> list:
    projects = service.store.projects_by_id({row["project_id"] for row in rows})
    return [projects[row["project_id"]] for row in rows]


# Participant

@relation("GraphQLParticipant", "samples")
def participant_samples(service: Service, rows: list, args: dict) -> list:
    found = service.store.samples(participant_ids=[row["id"] for row in rows])
    return _grouped(_filter_samples(found, args, None), "participant_id", rows)


# Assay

@relation("GraphQLAssay", "sample")
def assay_sample(service: Service, rows: list, args: dict) -> list:
    samples = {sample["id"]: sample for sample in service.store.samples(ids={row["sample_id"] for row in rows})}
    return [samples[row["sample_id"]] for row in rows]


# Analysis

@relation("GraphQLAnalysis", "sequencingGroups")
def analysis_sequencing_groups(service: Service, rows: list, args: dict) -> list:
    links = service.store.analysis_links(analysis_ids=[row["id"] for row in rows])
    groups = {group["id"]: group for group in service.store.sequencing_groups(ids=[link[1] for link in links])}
    grouped: dict = {}
    for analysis_id, sg_id in links:
        if sg_id in groups:
            grouped.setdefault(analysis_id, []).append(groups[sg_id])
    return [grouped.get(row["id"], []) for row in rows]


# -- root fields --------------------------------------------------------------------------------------------

def service_of(info) -> Service:
    return info.context["service"]


def _scope_projects(service: Service, project_filter: dict | None) -> list[int] | None:
    """Project ids a top-level query may look at: the filtered ones (checked) or every readable one."""
    if project_filter:
        names = ids_to_fetch(project_filter)
        if names is not None:
            return [project["id"] for project in service.project_for_read(names)]
    return sorted(service.readable_project_ids())


def root_project(service: Service, args: dict):
    return service.project_for_read([args["name"]])[0]


def root_my_projects(service: Service, args: dict):
    return service.store.readable_projects(service.user)


def root_sequencing_groups(service: Service, args: dict):
    refuse_arguments("Query.sequencingGroups", args, "createdOn", "hasCram", "hasGvcf")
    codec = service.codec
    id_filter = map_filter(args.get("id"), codec.sequencing_group.decode)
    sample_filter = map_filter(args.get("sampleId"), codec.sample.decode)
    if not (args.get("project") or id_filter or sample_filter):
        raise GraphQLError("Must filter by project, sample or id")
    project_ids = _scope_projects(service, args.get("project"))
    rows = service.store.sequencing_groups(
        project_ids=project_ids, ids=ids_to_fetch(id_filter), sample_ids=ids_to_fetch(sample_filter),
        archived=archived_in_sql(args),
    )
    rows = _filter_sequencing_groups(rows, args, id_filter, ids_fetched=True)
    if sample_filter:
        rows = [row for row in rows if matches(row["sample_id"], sample_filter)]
    if args.get("project"):
        names = {project["id"]: project["name"] for project in service.store.projects_by_id(project_ids).values()}
        rows = [row for row in rows if matches(names.get(row["project_id"]), args["project"])]
    if args.get("assayMeta"):
        wanted = args["assayMeta"]
        assays = service.store.assays(sequencing_group_ids=[row["id"] for row in rows])
        hits = {assay["sequencing_group_id"] for assay in assays if meta_matches(assay["meta"], wanted)}
        rows = [row for row in rows if row["id"] in hits]
    return rows


def root_samples(service: Service, args: dict):
    refuse_arguments("Query.sample", args, "parentId", "rootId")
    id_filter = map_filter(args.get("id"), service.codec.sample.decode)
    project_ids = _scope_projects(service, args.get("project"))
    rows = service.store.samples(project_ids=project_ids, ids=ids_to_fetch(id_filter))
    return _filter_samples(rows, args, id_filter)


def root_analyses(service: Service, args: dict):
    readable = service.readable_project_ids()
    rows = service.store.analyses(ids=ids_to_fetch(args["id"]))
    return [row for row in rows if row["project_id"] in readable and matches(row["id"], args["id"])]


# Query fields answering entities: both executors start from these.
ROOTS: dict[str, Callable[[Service, dict], object]] = {
    "project": root_project,
    "myProjects": root_my_projects,
    "sequencingGroups": root_sequencing_groups,
    "sample": root_samples,
    "analyses": root_analyses,
}


# -- graphql-core's executor: one field at a time -----------------------------------------------------------

def _relation_for_node(node: Node, info, key: tuple[str, str], args: dict):
    """The relation's value for ``node``, loaded once for its whole batch; the children share one new batch."""
    cache = node.batch.cache
    cache_key = (key, _args_key(args))
    per_parent = cache.get(cache_key)
    if per_parent is None:
        values = RELATIONS[key](service_of(info), [member.row for member in node.batch.nodes], args)
        children = Batch()
        nodes_by_row: dict[int, Node] = {}

        def node_of(row):
            found = nodes_by_row.get(id(row))
            if found is None:
                found = nodes_by_row[id(row)] = Node(row, children, len(children.nodes))
                children.nodes.append(found)
            return found

        per_parent = [
            [node_of(row) for row in value] if isinstance(value, list) else (None if value is None else node_of(value))
            for value in values
        ]
        cache[cache_key] = per_parent
    return per_parent[node.index]


def _batch_leaf_for_node(node: Node, info, key: tuple[str, str]):
    cache = node.batch.cache
    values = cache.get(key)
    if values is None:
        values = cache[key] = BATCH_LEAVES[key](service_of(info), [member.row for member in node.batch.nodes])
    return values[node.index]


SPECIAL_RESOLVERS: dict[tuple[str, str], Callable] = {}


def special(type_name: str, field_name: str):
    def register(function):
        SPECIAL_RESOLVERS[(type_name, field_name)] = function
        return function

    return register


@special("Query", "enum")
def resolve_enum(_root, info):
    return dict(ENUMS)


@special("Query", "metamistSettings")
def resolve_settings(_root, info):
    codec = service_of(info).codec
    return {
        "samplePrefix": codec.sample.prefix,
        "sequencingGroupPrefix": codec.sequencing_group.prefix,
        "cohortPrefix": codec.cohort_prefix,
        "primaryExternalIdName": "",
    }


@special("Query", "viewer")
def resolve_viewer(_root, info):
    service = service_of(info)
    return {"username": service.user, "projects": make_nodes(service.store.readable_projects(service.user))}


# Mutations

@special("Mutation", "analysis")
def resolve_mutation_analysis(_root, info):
    return {"__namespace": "analysis"}


@special("Mutation", "sequencingGroup")
def resolve_mutation_sequencing_group(_root, info):
    return {"__namespace": "sequencingGroup"}


@special("AnalysisMutations", "createAnalysis")
def resolve_create_analysis(_root, info, project, analysis):
    service = service_of(info)
    analysis_id = service.create_analysis(
        project,
        analysis_type=analysis["type"],
        status=STATUS_FROM_GRAPHQL[analysis["status"]],
        meta=analysis.get("meta"),
        sequencing_group_ids=analysis.get("sequencingGroupIds"),
        output=analysis.get("output"),
        outputs=analysis.get("outputs"),
        active=analysis.get("active"),
        author=analysis.get("author"),
        graphql=True,
    )
    return make_nodes(service.store.analyses(ids=[analysis_id]))[0]


@special("AnalysisMutations", "updateAnalysis")
def resolve_update_analysis(_root, info, analysisId, analysis):
    service = service_of(info)
    status = analysis.get("status")
    found = service.update_analysis(
        analysisId, status=STATUS_FROM_GRAPHQL[status] if status else None, meta=analysis.get("meta"),
        active=analysis.get("active"), output=analysis.get("output"), outputs=analysis.get("outputs"),
    )
    if not found:
        raise GraphQLError(f"Couldn't find analysis with id = {analysisId}")
    return make_nodes(service.store.analyses(ids=[analysisId]))[0]


@special("SequencingGroupMutations", "archiveSequencingGroups")
def resolve_archive(_root, info, sequencingGroupIds):
    service = service_of(info)
    raw_ids = [service.codec.sequencing_group.decode(sg_id) for sg_id in sequencingGroupIds]
    writable = {
        project_id for project_id, roles in service.store.roles(service.user).items() if "writer" in roles
    }
    rows = service.store.sequencing_groups(ids=raw_ids)
    if any(row["project_id"] not in writable for row in rows):
        raise GraphQLError(f"{service.user} does not have writer access to these sequencing groups")
    service.store.archive_sequencing_groups([row["id"] for row in rows])
    return make_nodes(service.store.sequencing_groups(ids=raw_ids))


def _resolve(source, info, args: dict):
    key = (info.parent_type.name, info.field_name)
    leaf = LEAVES.get(key)
    if leaf is not None:
        return leaf(source.row, service_of(info))
    if key in RELATIONS:
        return _relation_for_node(source, info, key, args)
    if key in BATCH_LEAVES:
        return _batch_leaf_for_node(source, info, key)
    if key[0] == "Query" and key[1] in ROOTS:
        value = ROOTS[key[1]](service_of(info), args)
        return make_nodes([value])[0] if isinstance(value, dict) else make_nodes(value)
    found = SPECIAL_RESOLVERS.get(key)
    if found is not None:
        return found(source, info, **args)
    return Undefined


def field_resolver(source, info, **args):
    try:
        value = _resolve(source, info, args)
    except StoreError as error:
        raise GraphQLError(str(error)) from error
    except ValueError as error:  # malformed ids and the like: Metamist answers their message
        raise GraphQLError(str(error)) from error
    if value is not Undefined:
        return value
    if info.parent_type.name.startswith("__"):
        return default_field_resolver(source, info, **args)
    if isinstance(source, dict) and "__namespace" not in source and info.field_name in source:
        return source[info.field_name]
    raise GraphQLError(f"Field '{info.parent_type.name}.{info.field_name}' {UNSUPPORTED}")


# -- the batched executor: one column per field -------------------------------------------------------------

class _StepAside(Exception):
    """The batched walk cannot answer this field exactly as graphql-core would: let graphql-core do it."""


class BatchedExecutionContext(ExecutionContext):
    """graphql-core's execution, with root fields of queries answered level by level (see the module doc)."""

    def execute_field(self, parent_type, source, field_nodes, path):
        if path.prev is None and self.operation.operation == OperationType.QUERY:
            root = ROOTS.get(field_nodes[0].name.value)
            if root is not None:
                try:
                    return self._root_value(parent_type, root, field_nodes)
                except Exception:  # noqa: BLE001 - any failure: graphql-core executes it and reports it its way
                    self.context_value.setdefault("stepped_aside", []).append(field_nodes[0].name.value)
        return super().execute_field(parent_type, source, field_nodes, path)

    @property
    def _service(self) -> Service:
        return self.context_value["service"]

    def _root_value(self, parent_type, root, field_nodes):
        field_def = parent_type.fields[field_nodes[0].name.value]
        args = get_argument_values(field_def, field_nodes[0], self.variable_values)
        return self._relation_values(field_def.type, [root(self._service, args)], field_nodes)[0]

    def _objects(self, object_type, rows: list, field_nodes) -> list[dict]:
        if not rows:
            return []
        if not isinstance(object_type, GraphQLObjectType):
            raise _StepAside
        fields = self.collect_subfields(object_type, field_nodes)
        columns = []
        service = self._service
        for nodes in fields.values():
            name = nodes[0].name.value
            if name == "__typename":
                columns.append([object_type.name] * len(rows))
                continue
            field_def = object_type.fields.get(name)
            if field_def is None:
                raise _StepAside
            key = (object_type.name, name)
            leaf = LEAVES.get(key)
            if key in STORED_JSON:
                column = STORED_JSON[key]
                columns.append(self._leaf_values(field_def.type, [row.json_fragment(column) for row in rows]))
            elif leaf is not None:
                columns.append(self._leaf_values(field_def.type, [leaf(row, service) for row in rows]))
            elif key in BATCH_LEAVES:
                columns.append(self._leaf_values(field_def.type, BATCH_LEAVES[key](service, rows)))
            elif key in RELATIONS:
                args = get_argument_values(field_def, nodes[0], self.variable_values)
                columns.append(self._relation_values(field_def.type, RELATIONS[key](service, rows, args), nodes))
            else:
                raise _StepAside
        keys = list(fields)
        return [dict(zip(keys, values, strict=True)) for values in zip(*columns, strict=True)]

    @staticmethod
    def _leaf_values(field_type, values: list) -> list:
        non_null = isinstance(field_type, GraphQLNonNull)
        leaf_type = field_type.of_type if non_null else field_type
        if isinstance(leaf_type, (GraphQLList, GraphQLNonNull)) or isinstance(leaf_type, GraphQLObjectType):
            raise _StepAside
        serialize = None if leaf_type.name == "JSON" else leaf_type.serialize
        completed = []
        for value in values:
            if value is None:
                if non_null:
                    raise _StepAside
                completed.append(None)
                continue
            if serialize is not None:
                value = serialize(value)
                if value is None or value is Undefined:
                    raise _StepAside
            completed.append(value)
        return completed

    def _relation_values(self, field_type, values: list, field_nodes) -> list:
        non_null = isinstance(field_type, GraphQLNonNull)
        inner = field_type.of_type if non_null else field_type
        if non_null and any(value is None for value in values):
            raise _StepAside
        if isinstance(inner, GraphQLList):
            item_type = inner.of_type
            item_non_null = isinstance(item_type, GraphQLNonNull)
            named = item_type.of_type if item_non_null else item_type
            children = [child for value in values if value is not None for child in value]
            if item_non_null and any(child is None for child in children):
                raise _StepAside
            completed = iter(self._objects(named, children, field_nodes))
            return [None if value is None else [next(completed) for _ in value] for value in values]
        present = [value for value in values if value is not None]
        completed = iter(self._objects(inner, present, field_nodes))
        return [None if value is None else next(completed) for value in values]


class GraphQLExecutor:
    """Parses, validates (cached by query text, with the query limits) and executes GraphQL requests."""

    def __init__(self, service: Service, cache_size: int = 256, *, batched: bool = True):
        self.service = service
        self.batched = batched  # False: graphql-core alone (the reference the batched walk is tested against)
        self.schema = load_schema()
        self._documents: OrderedDict[str, object] = OrderedDict()
        self._cache_size = cache_size

    def document(self, query: str):
        """The parsed and validated document, or None with the errors."""
        document = self._documents.get(query)
        if document is not None:
            self._documents.move_to_end(query)
            return document, []
        try:
            document = parse(query, max_tokens=MAX_QUERY_TOKENS)
        except GraphQLError as error:
            return None, [error]
        except RecursionError:  # e.g. a value nested 3,000 lists deep: the parser recurses per level
            return None, [GraphQLError("the query nests values too deeply to be read")]
        # The size limits first: they take linear time, and the standard rules take quadratic time on the
        # queries they refuse (see toolkit.metadata_server.limits).
        errors = validate(self.schema, document, QUERY_LIMIT_RULES)
        if not errors:
            try:
                errors = validate(self.schema, document)
            except RecursionError:
                return None, [GraphQLError("the query nests values too deeply to be checked")]
        if errors:
            return None, errors
        self._documents[query] = document
        if len(self._documents) > self._cache_size:
            self._documents.popitem(last=False)
        return document, []

    @staticmethod
    def operation_type(document, operation_name: str | None) -> OperationType | None:
        operation = get_operation_ast(document, operation_name)
        return None if operation is None else operation.operation

    def run(self, query, variables=None, operation_name=None, *, context: dict | None = None) -> dict:
        """Execute a request; ``context`` (tests) receives ``stepped_aside``: root fields graphql-core answered."""
        if not isinstance(query, str):
            return {"data": None, "errors": [{"message": "Must provide query string."}]}
        if variables is not None and not isinstance(variables, dict):
            return {"data": None, "errors": [{"message": "variables must be a JSON object"}]}
        document, errors = self.document(query)
        if errors:
            return {"data": None, "errors": [error.formatted for error in errors]}
        context = {} if context is None else context
        context["service"] = self.service
        kwargs = dict(
            variable_values=variables or None, operation_name=operation_name,
            context_value=context, field_resolver=field_resolver,
            execution_context_class=BatchedExecutionContext if self.batched else None,
        )
        if self.operation_type(document, operation_name) == OperationType.QUERY:
            # every level of the answer from one state of the store
            with self.service.store.read_snapshot(), _gc.paused():
                result = execute(self.schema, document, **kwargs)
        else:
            result = execute(self.schema, document, **kwargs)
        answer: dict = {"data": result.data}
        if result.errors:
            answer["errors"] = [error.formatted for error in result.errors]
        return answer
