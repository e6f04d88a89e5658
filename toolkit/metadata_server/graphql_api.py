"""GraphQL execution against Metamist's own schema (``metamist/graphql/schema.graphql`` of the installed client).

Resolvers are registered per ``(type, field)``. The default field resolver refuses every other field of the
schema with an error naming it, so an unsupported field is never answered with a silent null or empty list.

Nested lists are loaded one SQL query per level, not per parent: every entity node belongs to a *batch* (the
list it was loaded in), and the first time a relation is asked on one node it is loaded for the whole batch.
"""

from __future__ import annotations

import functools
import importlib.util
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from graphql import (
    GraphQLError,
    GraphQLSchema,
    build_schema,
    default_field_resolver,
    execute,
    parse,
    validate,
)

from toolkit.metadata_server.outputs import render_outputs
from toolkit.metadata_server.service import ENUMS, STATUS_FROM_GRAPHQL, STATUS_TO_GRAPHQL, Service
from toolkit.metadata_server.store import StoreError

UNSUPPORTED = "is not supported by the embedded metadata server (use a real Metamist for it)"


def metamist_schema_path() -> Path:
    """The schema file shipped inside the installed ``metamist`` package (found without importing it)."""
    spec = importlib.util.find_spec("metamist")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the metamist package is not installed; it provides the GraphQL schema")
    return Path(next(iter(spec.submodule_search_locations))) / "graphql" / "schema.graphql"


@functools.lru_cache(maxsize=1)
def load_schema() -> GraphQLSchema:
    return build_schema(metamist_schema_path().read_text())


class Batch:
    __slots__ = ("nodes", "cache")

    def __init__(self):
        self.nodes: list[Node] = []
        self.cache: dict = {}


class Node:
    """One entity row plus the batch it was loaded with."""

    __slots__ = ("row", "batch")

    def __init__(self, row: dict, batch: Batch):
        self.row = row
        self.batch = batch


def make_nodes(rows: list[dict]) -> list[Node]:
    batch = Batch()
    batch.nodes = [Node(row, batch) for row in rows]
    return batch.nodes


def batch_load(node: Node, key, load: Callable[[list[dict]], dict]) -> dict:
    """``load`` runs once per batch and relation; it maps a parent id to its value."""
    cache = node.batch.cache
    if key not in cache:
        cache[key] = load([member.row for member in node.batch.nodes])
    return cache[key]


def group_nodes(rows: list[dict], key: str) -> dict:
    """Child rows as nodes sharing one batch, grouped by their parent id ``key``."""
    grouped: dict = {}
    for node in make_nodes(rows):
        grouped.setdefault(node.row[key], []).append(node)
    return grouped


# -- filters ------------------------------------------------------------------------------------------------

def _is_empty_list(value) -> bool:
    return value is None or (isinstance(value, list) and not value)


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


def refuse_arguments(info, args: dict, *names: str) -> None:
    for name in names:
        if args.get(name) is not None:
            raise GraphQLError(f"Argument '{name}' of '{info.parent_type.name}.{info.field_name}' {UNSUPPORTED}")


# -- the resolvers ------------------------------------------------------------------------------------------

RESOLVERS: dict[tuple[str, str], Callable] = {}


def resolver(type_name: str, *field_names: str):
    def register(function):
        for field_name in field_names:
            RESOLVERS[(type_name, field_name)] = function
        return function

    return register


def row_field(column: str):
    return lambda node, info, **_: node.row[column]


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
    for _field, _column in _fields.items():
        RESOLVERS[(_type, _field)] = row_field(_column)


def service_of(info) -> Service:
    return info.context["service"]


# Query root

@resolver("Query", "enum")
def resolve_enum(_root, info):
    return dict(ENUMS)


@resolver("Query", "metamistSettings")
def resolve_settings(_root, info):
    codec = service_of(info).codec
    return {
        "samplePrefix": codec.sample.prefix,
        "sequencingGroupPrefix": codec.sequencing_group.prefix,
        "cohortPrefix": codec.cohort_prefix,
        "primaryExternalIdName": "",
    }


@resolver("Query", "viewer")
def resolve_viewer(_root, info):
    return {"username": service_of(info).user, "projects": make_nodes(service_of(info).store.readable_projects(
        service_of(info).user))}


@resolver("Query", "myProjects")
def resolve_my_projects(_root, info):
    service = service_of(info)
    return make_nodes(service.store.readable_projects(service.user))


@resolver("Query", "project")
def resolve_project(_root, info, name):
    return make_nodes(service_of(info).project_for_read([name]))[0]


def _scope_projects(service: Service, project_filter: dict | None) -> list[int] | None:
    """Project ids a top-level query may look at: the filtered ones (checked) or every readable one."""
    if project_filter:
        names = ids_to_fetch(project_filter)
        if names is not None:
            return [project["id"] for project in service.project_for_read(names)]
    return sorted(service.readable_project_ids())


@resolver("Query", "sequencingGroups")
def resolve_top_sequencing_groups(_root, info, **args):
    refuse_arguments(info, args, "createdOn", "hasCram", "hasGvcf")
    service = service_of(info)
    codec = service.codec
    id_filter = map_filter(args.get("id"), codec.sequencing_group.decode)
    sample_filter = map_filter(args.get("sampleId"), codec.sample.decode)
    if not (args.get("project") or id_filter or sample_filter):
        raise GraphQLError("Must filter by project, sample or id")
    project_ids = _scope_projects(service, args.get("project"))
    rows = service.store.sequencing_groups(
        project_ids=project_ids, ids=ids_to_fetch(id_filter), sample_ids=ids_to_fetch(sample_filter)
    )
    rows = _filter_sequencing_groups(rows, args, id_filter)
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
    return make_nodes(rows)


def _filter_sequencing_groups(rows: list[dict], args: dict, id_filter: dict | None) -> list[dict]:
    active_only = args.get("activeOnly")
    if not active_only or active_only.get("eq") is None and _is_empty_list(active_only.get("in_")):
        active_only = {"eq": True}
    result = []
    for row in rows:
        if not matches(not row["archived"], active_only):
            continue
        if id_filter and not matches(row["id"], id_filter):
            continue
        if not (matches(row["type"], args.get("type")) and matches(row["technology"], args.get("technology"))
                and matches(row["platform"], args.get("platform"))):
            continue
        if args.get("meta") and not meta_matches(row["meta"], args["meta"]):
            continue
        result.append(row)
    return result


@resolver("Query", "sample")
def resolve_top_samples(_root, info, **args):
    refuse_arguments(info, args, "parentId", "rootId")
    service = service_of(info)
    id_filter = map_filter(args.get("id"), service.codec.sample.decode)
    project_ids = _scope_projects(service, args.get("project"))
    rows = service.store.samples(project_ids=project_ids, ids=ids_to_fetch(id_filter))
    return make_nodes(_filter_samples(rows, args, id_filter))


def _filter_samples(rows: list[dict], args: dict, id_filter: dict | None) -> list[dict]:
    return [
        row for row in rows
        if matches(row["id"], id_filter) and matches(row["type"], args.get("type"))
        and matches(row["external_id"], args.get("externalId"))
        and matches(row["participant_id"], args.get("participantId"))
        and matches(row["active"], args.get("active")) and meta_matches(row["meta"], args.get("meta"))
    ]


@resolver("Query", "analyses")
def resolve_top_analyses(_root, info, id):
    service = service_of(info)
    readable = service.readable_project_ids()
    rows = service.store.analyses(ids=ids_to_fetch(id))
    return make_nodes([row for row in rows if row["project_id"] in readable and matches(row["id"], id)])


# Project

@resolver("GraphQLProject", "sequencingGroups")
def resolve_project_sequencing_groups(node, info, **args):
    service = service_of(info)
    id_filter = map_filter(args.get("id"), service.codec.sequencing_group.decode)
    rows = service.store.sequencing_groups(project_ids=[node.row["id"]], ids=ids_to_fetch(id_filter))
    if args.get("externalId"):
        # Metamist does not store sequencing-group external ids: a filter on them matches nothing.
        return []
    return make_nodes(_filter_sequencing_groups(rows, args, id_filter))


@resolver("GraphQLProject", "samples")
def resolve_project_samples(node, info, **args):
    refuse_arguments(info, args, "parentId", "rootId")
    service = service_of(info)
    id_filter = map_filter(args.get("id"), service.codec.sample.decode)
    rows = service.store.samples(project_ids=[node.row["id"]], ids=ids_to_fetch(id_filter))
    return make_nodes(_filter_samples(rows, args, id_filter))


@resolver("GraphQLProject", "participants")
def resolve_project_participants(node, info, **args):
    rows = service_of(info).store.participants(project_ids=[node.row["id"]])
    return make_nodes([
        row for row in rows
        if matches(row["id"], args.get("id")) and matches(row["external_id"], args.get("externalId"))
        and matches(row["reported_sex"], args.get("reportedSex"))
        and matches(row["reported_gender"], args.get("reportedGender"))
        and matches(row["karyotype"], args.get("karyotype")) and meta_matches(row["meta"], args.get("meta"))
    ])


@resolver("GraphQLProject", "analyses")
def resolve_project_analyses(node, info, **args):
    rows = service_of(info).store.analyses(project_ids=[node.row["id"]], ids=ids_to_fetch(args.get("ids")))
    return make_nodes(_filter_analyses(rows, args, info))


def _filter_analyses(rows: list[dict], args: dict, info, project_names: dict | None = None) -> list[dict]:
    status = map_filter(args.get("status"), lambda name: STATUS_FROM_GRAPHQL[name])
    active = args.get("active")
    if not active:
        active = {"eq": True}  # nested analyses hide inactive ones unless asked
    result = []
    for row in rows:
        if not (matches(row["status"], status) and matches(row["type"], args.get("type"))
                and matches(row["active"], active) and matches(row["id"], args.get("ids"))
                and matches(row["timestamp_completed"], args.get("timestampCompleted"))
                and meta_matches(row["meta"], args.get("meta"))):
            continue
        if args.get("project") and not matches((project_names or {}).get(row["project_id"]), args["project"]):
            continue
        result.append(row)
    return result


# Sequencing group

@resolver("GraphQLSequencingGroup", "id")
def resolve_sg_id(node, info):
    return service_of(info).codec.sequencing_group.encode(node.row["id"])


@resolver("GraphQLSequencingGroup", "externalIds")
def resolve_sg_external_ids(node, info):
    return {}  # not stored by Metamist either


@resolver("GraphQLSequencingGroup", "sample")
def resolve_sg_sample(node, info):
    store = service_of(info).store
    samples = batch_load(node, "sample", lambda rows: {
        sample.row["id"]: sample
        for sample in make_nodes(store.samples(ids=[row["sample_id"] for row in rows]))
    })
    return samples[node.row["sample_id"]]


@resolver("GraphQLSequencingGroup", "assays")
def resolve_sg_assays(node, info):
    store = service_of(info).store
    grouped = batch_load(node, "assays", lambda rows: group_nodes(
        store.assays(sequencing_group_ids=[row["id"] for row in rows]), "sequencing_group_id"
    ))
    return grouped.get(node.row["id"], [])


@resolver("GraphQLSequencingGroup", "analyses")
def resolve_sg_analyses(node, info, **args):
    service = service_of(info)

    def load(rows):
        sg_ids = [row["id"] for row in rows]
        links = service.store.analysis_links(sequencing_group_ids=sg_ids)
        analyses = {row["id"]: row for row in service.store.analyses(ids=[link[0] for link in links])}
        names = None
        if args.get("project"):
            names = {p["id"]: p["name"] for p in service.store.projects_by_id(
                {row["project_id"] for row in analyses.values()}).values()}
        kept = {row["id"] for row in _filter_analyses(list(analyses.values()), args, info, names)}
        nodes = {row_id: node for row_id, node in zip(sorted(kept), make_nodes(
            [analyses[row_id] for row_id in sorted(kept)]), strict=False)}
        grouped: dict = {}
        for analysis_id, sg_id in links:
            if analysis_id in nodes:
                grouped.setdefault(sg_id, []).append(nodes[analysis_id])
        return grouped

    grouped = batch_load(node, ("analyses", _args_key(args)), load)
    return grouped.get(node.row["id"], [])


def _args_key(args: dict) -> str:
    import json

    return json.dumps(args, sort_keys=True, default=str)


# Sample

@resolver("GraphQLSample", "id")
def resolve_sample_id(node, info):
    return service_of(info).codec.sample.encode(node.row["id"])


@resolver("GraphQLSample", "participant")
def resolve_sample_participant(node, info):
    store = service_of(info).store
    participants = batch_load(node, "participant", lambda rows: {
        participant.row["id"]: participant
        for participant in make_nodes(store.participants(
            ids=[row["participant_id"] for row in rows if row["participant_id"] is not None]))
    })
    return participants.get(node.row["participant_id"])


@resolver("GraphQLSample", "assays")
def resolve_sample_assays(node, info, **args):
    store = service_of(info).store
    grouped = batch_load(node, "assays", lambda rows: group_nodes(
        store.assays(sample_ids=[row["id"] for row in rows]), "sample_id"
    ))
    return [
        assay for assay in grouped.get(node.row["id"], [])
        if matches(assay.row["type"], args.get("type")) and meta_matches(assay.row["meta"], args.get("meta"))
    ]


@resolver("GraphQLSample", "sequencingGroups")
def resolve_sample_sequencing_groups(node, info, **args):
    service = service_of(info)
    id_filter = map_filter(args.get("id"), service.codec.sequencing_group.decode)
    grouped = batch_load(node, "sequencing_groups", lambda rows: {
        sample_id: [member.row for member in members]
        for sample_id, members in group_nodes(
            service.store.sequencing_groups(sample_ids=[row["id"] for row in rows]), "sample_id").items()
    })
    rows = _filter_sequencing_groups(grouped.get(node.row["id"], []), args, id_filter)
    return make_nodes(rows)


def resolve_project_of(node, info):
    store = service_of(info).store
    projects = batch_load(node, "project", lambda rows: {
        project.row["id"]: project for project in make_nodes(list(store.projects_by_id(
            {row["project_id"] for row in rows}).values()))
    })
    return projects[node.row["project_id"]]


for _type in ("GraphQLSample", "GraphQLParticipant", "GraphQLAnalysis"):
    RESOLVERS[(_type, "project")] = resolve_project_of


# Participant

@resolver("GraphQLParticipant", "samples")
def resolve_participant_samples(node, info, **args):
    store = service_of(info).store
    grouped = batch_load(node, "samples", lambda rows: {
        participant_id: [member.row for member in members]
        for participant_id, members in group_nodes(
            store.samples(participant_ids=[row["id"] for row in rows]), "participant_id").items()
    })
    return make_nodes(_filter_samples(grouped.get(node.row["id"], []), args, None))


# Assay

@resolver("GraphQLAssay", "sample")
def resolve_assay_sample(node, info):
    store = service_of(info).store
    samples = batch_load(node, "sample", lambda rows: {
        sample.row["id"]: sample for sample in make_nodes(store.samples(ids=[row["sample_id"] for row in rows]))
    })
    return samples[node.row["sample_id"]]


# Analysis

@resolver("GraphQLAnalysis", "status")
def resolve_analysis_status(node, info):
    return STATUS_TO_GRAPHQL[node.row["status"]]


def _analysis_outputs(node, info):
    store = service_of(info).store
    rows_by_analysis = batch_load(node, "outputs", lambda rows: store.analysis_outputs([row["id"] for row in rows]))
    return render_outputs(rows_by_analysis.get(node.row["id"], []), graphql=True)


@resolver("GraphQLAnalysis", "output")
def resolve_analysis_output(node, info):
    return _analysis_outputs(node, info)[0]


@resolver("GraphQLAnalysis", "outputs")
def resolve_analysis_outputs(node, info):
    return _analysis_outputs(node, info)[1]


@resolver("GraphQLAnalysis", "sequencingGroups")
def resolve_analysis_sequencing_groups(node, info):
    store = service_of(info).store

    def load(rows):
        links = store.analysis_links(analysis_ids=[row["id"] for row in rows])
        groups = {sg.row["id"]: sg for sg in make_nodes(store.sequencing_groups(ids=[link[1] for link in links]))}
        grouped: dict = {}
        for analysis_id, sg_id in links:
            if sg_id in groups:
                grouped.setdefault(analysis_id, []).append(groups[sg_id])
        return grouped

    return batch_load(node, "sequencing_groups", load).get(node.row["id"], [])


# Mutations

@resolver("Mutation", "analysis")
def resolve_mutation_analysis(_root, info):
    return {"__namespace": "analysis"}


@resolver("Mutation", "sequencingGroup")
def resolve_mutation_sequencing_group(_root, info):
    return {"__namespace": "sequencingGroup"}


@resolver("AnalysisMutations", "createAnalysis")
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


@resolver("AnalysisMutations", "updateAnalysis")
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


@resolver("SequencingGroupMutations", "archiveSequencingGroups")
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


def field_resolver(source, info, **args):
    key = (info.parent_type.name, info.field_name)
    found = RESOLVERS.get(key)
    if found is not None:
        try:
            return found(source, info, **args)
        except StoreError as error:
            raise GraphQLError(str(error)) from error
        except ValueError as error:  # malformed ids and the like: Metamist answers their message
            raise GraphQLError(str(error)) from error
    if info.parent_type.name.startswith("__"):
        return default_field_resolver(source, info, **args)
    if isinstance(source, dict) and "__namespace" not in source and info.field_name in source:
        return source[info.field_name]
    raise GraphQLError(f"Field '{key[0]}.{key[1]}' {UNSUPPORTED}")


class GraphQLExecutor:
    """Parses, validates (cached by query text) and executes GraphQL requests."""

    def __init__(self, service: Service, cache_size: int = 256):
        self.service = service
        self.schema = load_schema()
        self._documents: OrderedDict[str, object] = OrderedDict()
        self._cache_size = cache_size

    def _document(self, query: str):
        document = self._documents.get(query)
        if document is not None:
            self._documents.move_to_end(query)
            return document, []
        try:
            document = parse(query)
        except GraphQLError as error:
            return None, [error]
        errors = validate(self.schema, document)
        if errors:
            return None, errors
        self._documents[query] = document
        if len(self._documents) > self._cache_size:
            self._documents.popitem(last=False)
        return document, []

    def run(self, query, variables=None, operation_name=None) -> dict:
        if not isinstance(query, str):
            return {"data": None, "errors": [{"message": "Must provide query string."}]}
        document, errors = self._document(query)
        if errors:
            return {"data": None, "errors": [error.formatted for error in errors]}
        result = execute(
            self.schema, document, variable_values=variables or None, operation_name=operation_name,
            context_value={"service": self.service}, field_resolver=field_resolver,
        )
        answer: dict = {"data": result.data}
        if result.errors:
            answer["errors"] = [error.formatted for error in result.errors]
        return answer
