"""REST routes, as the ``metamist`` client calls them, with Metamist's answer and error shapes.

* validation errors: 422 ``{"detail": [{type, loc, msg, input, ctx}]}`` (pydantic's own wording, as FastAPI);
* server-side errors: ``{"name", "description", "stacktrace"}`` with 400/403/404/500.
"""

from __future__ import annotations

import enum
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from toolkit.metadata_server import jsonvalues
from toolkit.metadata_server.dataset import insert_participants
from toolkit.metadata_server.service import STATUS_REST, Service
from toolkit.metadata_server.store import NotFound, StoreError

AnalysisStatus = enum.Enum("AnalysisStatus", {status.replace("-", "_"): status for status in STATUS_REST}, type=str)

_STATUS_CODES = {
    "ValueError": 400,
    "NotFoundError": 404,
    "ProjectDoesNotExist": 403,
    "NoProjectAccess": 403,
    "IntegrityError": 500,
}


class AnalysisBody(BaseModel):
    type: str
    status: AnalysisStatus
    id: int | None = None
    output: str | None = None
    outputs: Any = None
    sequencing_group_ids: list[str] = []
    cohort_ids: list[str] | None = None
    author: str | None = None
    timestamp_completed: str | None = None
    project: int | None = None
    active: bool | None = None
    meta: dict = {}


class AnalysisUpdateBody(BaseModel):
    status: AnalysisStatus | None = None
    output: str | None = None
    outputs: Any = None
    meta: dict | None = None
    active: bool | None = None


class AssayUpdateBody(BaseModel):
    id: int | None = None
    meta: dict | None = None
    type: str | None = None
    sample_id: str | None = None
    external_ids: dict | None = None


class AnalysisQueryBody(BaseModel):
    sequencing_group_ids: list[str] | None = None
    projects: list[str]
    type: str | None = None
    status: AnalysisStatus | None = None
    meta: dict | None = None
    output: str | None = None
    active: bool | None = None


class ProjectMember(BaseModel):
    member: str
    roles: list[str]


class JSONAnswer(JSONResponse):
    """JSON encoded with orjson (several times faster than the standard library on large answers)."""

    def render(self, content) -> bytes:
        return orjson.dumps(content)


class _Invalid(Exception):
    def __init__(self, detail: list[dict]):
        self.detail = detail


def error_response(name: str, description: str, status: int | None = None) -> JSONResponse:
    return JSONAnswer(
        {"name": name, "description": description,
         "stacktrace": f"(embedded metadata server: no traceback) last line: {name}: {description}"},
        status_code=status or _STATUS_CODES.get(name, 500),
    )


async def _json_body(request: Request):
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return jsonvalues.parse_document(raw)
    except jsonvalues.InvalidJson as error:
        raise _Invalid([{
            "type": "json_invalid", "loc": ["body", error.pos], "msg": "JSON decode error", "input": {},
            "ctx": {"error": error.msg},
        }]) from None
    except jsonvalues.BadJsonValue as error:
        # Python's json reads NaN, Infinity and 1e400 (as inf); stored, they would break every later answer.
        raise _Invalid([{
            "type": "value_error", "loc": ["body", *error.parts],
            "msg": f"Value error, {error.reason}",
            # As text: the number is exactly what JSON encoders (orjson too) cannot write.
            "input": str(error.value),
        }]) from None


def _validate(model: type[BaseModel], value):
    try:
        return model.model_validate(value)
    except ValidationError as error:
        raise _Invalid([
            {key: (["body", *item["loc"]] if key == "loc" else item[key])
             for key in ("type", "loc", "msg", "input", "ctx") if key in item}
            for item in error.errors(include_url=False)
        ]) from None


def endpoint(handler):
    """Runs ``handler(service, request)`` in a worker thread and turns errors into Metamist's answers."""

    async def wrapped(request: Request):
        service: Service = request.app.state.service
        try:
            body = await _json_body(request) if request.method in ("PUT", "PATCH", "POST") else None
            result = await run_in_threadpool(handler, service, request, body)
        except _Invalid as invalid:
            return JSONAnswer({"detail": invalid.detail}, status_code=422)
        except StoreError as error:
            return error_response(error.kind, str(error))
        except ValueError as error:
            return error_response("ValueError", str(error))
        return result if isinstance(result, JSONResponse) else JSONAnswer(result)

    return wrapped


def _int_path(request: Request, name: str) -> int:
    value = request.path_params[name]
    try:
        number = int(value)
    except ValueError:
        raise _Invalid([{
            "type": "int_parsing", "loc": ["path", name],
            "msg": "Input should be a valid integer, unable to parse string as an integer", "input": value,
        }]) from None
    if not jsonvalues.MIN_INT <= number <= jsonvalues.MAX_INT:  # no row has it; SQLite could not even look
        raise ValueError(f"{name.replace('_', ' ')} {value} is out of range (ids are 64-bit integers)")
    return number


@endpoint
def get_my_projects(service: Service, request: Request, body):
    return [project["name"] for project in service.store.readable_projects(service.user)]


@endpoint
def create_project(service: Service, request: Request, body):
    name = request.query_params.get("name")
    dataset = request.query_params.get("dataset") or name
    if not name:
        raise _Invalid([{"type": "missing", "loc": ["query", "name"], "msg": "Field required", "input": None}])
    # As in Metamist, the creator gets no roles: they are granted with PATCH .../members.
    return service.store.create_project(name, dataset)


@endpoint
def update_project_members(service: Service, request: Request, body):
    if not isinstance(body, list):
        raise _Invalid([{"type": "list_type", "loc": ["body"], "msg": "Input should be a valid list",
                         "input": body}])
    members = [_validate(ProjectMember, item) for item in body]
    name = request.path_params["project"]
    found = service.store.projects_by_name([name])
    if name not in found:
        raise NotFound(f"Project with name {name!r} does not exist")
    service.store.set_project_members(found[name]["id"], [(m.member, m.roles) for m in members])
    return {"success": True}


@endpoint
def upsert_participants(service: Service, request: Request, body):
    if not isinstance(body, list):
        raise _Invalid([{"type": "list_type", "loc": ["body"], "msg": "Input should be a valid list",
                         "input": body}])
    project = service.project_for_write(request.path_params["project"])
    with service.store.transaction() as conn:
        return insert_participants(service.store, conn, project["id"], body, service.codec)


@endpoint
def create_analysis(service: Service, request: Request, body):
    analysis = _validate(AnalysisBody, body)
    return service.create_analysis(
        request.path_params["project"],
        analysis_type=analysis.type,
        status=analysis.status.value,
        meta=analysis.meta,
        sequencing_group_ids=analysis.sequencing_group_ids,
        output=analysis.output,
        outputs=analysis.outputs,
        active=analysis.active,
        author=analysis.author,
    )


@endpoint
def update_analysis(service: Service, request: Request, body):
    analysis_id = _int_path(request, "analysis_id")
    update = _validate(AnalysisUpdateBody, body)
    service.update_analysis(
        analysis_id, status=update.status.value if update.status else None, meta=update.meta,
        active=update.active, output=update.output, outputs=update.outputs,
    )
    return True  # Metamist answers true even for an id that does not exist


@endpoint
def update_assay(service: Service, request: Request, body):
    update = _validate(AssayUpdateBody, body)
    if not update.id:
        raise ValueError("Assay must have an ID to update")
    if update.sample_id is not None or update.external_ids is not None or update.type is not None:
        raise ValueError("the embedded metadata server updates an assay's meta only (use a real Metamist for more)")
    return service.update_assay(update.id, update.meta)


@endpoint
def analysis_details(service: Service, request: Request, body):
    return service.analysis_details(_int_path(request, "analysis_id"))


@endpoint
def query_analyses(service: Service, request: Request, body):
    query = _validate(AnalysisQueryBody, body)
    projects = service.project_for_read(query.projects, graphql=False)
    project_ids = [project["id"] for project in projects]
    sg_ids = None
    if query.sequencing_group_ids:
        sg_ids = [service.codec.sequencing_group.decode(sg_id) for sg_id in query.sequencing_group_ids]
    rows = service.store.analyses(project_ids=project_ids, sequencing_group_ids=sg_ids)
    rows = [
        row for row in rows
        if (query.type is None or row["type"] == query.type)
        and (query.status is None or row["status"] == query.status.value)
        and (query.active is None or bool(row["active"]) == query.active)
        and all(row["meta"].get(key) == value for key, value in (query.meta or {}).items())
    ]
    answers = service.analyses_rest(rows, set(sg_ids) if sg_ids else None)
    if query.output is not None:
        answers = [answer for answer in answers if answer["output"] == query.output]
    return answers


ROUTES = [
    Route("/api/v1/project/", get_my_projects, methods=["GET"]),
    Route("/api/v1/project/", create_project, methods=["PUT"]),
    Route("/api/v1/project/{project}/members", update_project_members, methods=["PATCH"]),
    Route("/api/v1/participant/{project}/upsert-many", upsert_participants, methods=["PUT"]),
    Route("/api/v1/assay/", update_assay, methods=["PATCH"]),
    Route("/api/v1/analysis/query", query_analyses, methods=["POST"]),
    Route("/api/v1/analysis/{analysis_id}/details", analysis_details, methods=["GET"]),
    Route("/api/v1/analysis/{project}/", create_analysis, methods=["PUT"]),
    Route("/api/v1/analysis/{analysis_id}/", update_analysis, methods=["PATCH"]),
]
