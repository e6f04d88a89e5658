"""Query stage: ask Metamist the spec's GraphQL query and turn the answer into groups.

Metamist is only ever reached through ``toolkit.metamist_connection`` (the ``metamist`` PyPI client), so a
local run against the embedded server and a production run share this code path.
"""

from __future__ import annotations

import concurrent.futures
import os
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from toolkit.errors import MetadataError, UsageError
from toolkit.query.groups import Group, GroupSet, Read, Rejection, extract_groups
from toolkit.spec.models import CHAINED_QUERY, JobSpec

__all__ = ["Group", "GroupSet", "PagedQuery", "Read", "Rejection", "QueryRequest", "build_variables", "extract_groups",
           "fetch_groups", "fetch_pages", "page_query"]


@dataclass(frozen=True)
class QueryRequest:
    """What the command line contributes to the query: project, optional group ids, parameter values."""

    project: str
    sgids: tuple[str, ...] | None = None
    params: dict[str, Any] | None = None


def build_variables(spec: JobSpec, request: QueryRequest) -> dict[str, Any]:
    """The GraphQL variables, from the spec's ``inputs.variables`` sources."""
    params = request.params or {}
    variables: dict[str, Any] = {}
    if spec.inputs.query is None:  # the toolkit's own query for a chained spec
        return {"project": request.project, "sgids": list(request.sgids) if request.sgids is not None else None}
    for name, source in spec.inputs.variables.items():
        if source.from_ is None:
            variables[name] = source.value
        elif source.from_ == "project":
            variables[name] = request.project
        elif source.from_ == "sgids":
            # None (not []) means "no id filter" to Metamist; an explicit empty selection is refused
            # by the CLI before we get here, because Metamist would read it as "all groups".
            variables[name] = list(request.sgids) if request.sgids is not None else None
        else:
            param_name = source.from_.split(".", 1)[1]
            if param_name not in params:
                raise UsageError(f"GraphQL variable ${name} needs --param {param_name}=VALUE")
            variables[name] = params[param_name]
    return variables


UPSTREAM_QUERY = """
query ToolkitUpstreamOutputs($project: String!, $meta: JSON!) {
  project(name: $project) {
    analyses(meta: $meta, active: {eq: true}, status: {eq: COMPLETED}) {
      id output outputs sequencingGroups { id }
    }
  }
}
"""


def fetch_upstream(project: str, jobspec: str, output: str) -> dict[str, list[Read]]:
    """Sequencing group id -> the registered outputs ``output`` of spec ``jobspec`` (active, completed), as reads.

    The toolkit records ``meta.jobspec`` and ``meta.jobspec_output`` on every Analysis it registers; Metamist
    filters on both keys (an AND of JSON equalities). Size and checksum come from Metamist's file record when it
    has one (gs:// objects; local files on the embedded server).
    """
    from toolkit.metamist_connection import graphql_query

    data = graphql_query(UPSTREAM_QUERY, {"project": project, "meta": {"jobspec": jobspec, "jobspec_output": output}})
    found: dict[str, list[Read]] = {}
    for analysis in (data.get("project") or {}).get("analyses") or []:
        location = analysis.get("output")
        if not isinstance(location, str) or not location:
            continue
        record = analysis.get("outputs") if isinstance(analysis.get("outputs"), dict) else {}
        size = record.get("size") if isinstance(record.get("size"), int) and not isinstance(record.get("size"), bool) else None
        checksum = record.get("file_checksum")
        read = Read(
            location=location, size=size, checksum=f"crc32c:{checksum}" if isinstance(checksum, str) and checksum else None,
            analysis_id=int(analysis["id"]),
        )
        for sequencing_group in analysis.get("sequencingGroups") or []:
            found.setdefault(str(sequencing_group.get("id")), []).append(read)
    for reads in found.values():
        reads.sort(key=lambda read: (read.location, read.analysis_id or 0))
    return found


# Sequencing groups per question when a project is large (see fetch_groups). One answer of 100,000 groups, held
# at once by the server and the client, took 1.1 GB; in pages the answers come and go one at a time.
# TOOLKIT_QUERY_PAGE_SIZE changes it (a Metamist that times out on large answers wants smaller pages).
PAGE_SIZE = 5000


def page_size() -> int:
    text = os.environ.get("TOOLKIT_QUERY_PAGE_SIZE", "")
    if not text:
        return PAGE_SIZE
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"TOOLKIT_QUERY_PAGE_SIZE={text!r}: give a whole number of sequencing groups, 1 or more")
    return int(text)

_GROUP_IDS_QUERY = """
query ToolkitGroupIds($project: String!) {
  project(name: $project) { sequencingGroups { id } }
}
"""


def _sgids_variable(spec: JobSpec) -> str | None:
    """The query variable that restricts it to given sequencing groups (``from: sgids``), if it has one."""
    if spec.inputs.query is None:
        return "sgids"  # the toolkit's own query for a chained spec
    return next((name for name, source in spec.inputs.variables.items() if source.from_ == "sgids"), None)


def _pages(spec: JobSpec, request: QueryRequest, variables: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str] | None]:
    """The variables of each question to ask: one, or for a project of over PAGE_SIZE groups (and a query
    that takes ``from: sgids``) one per page of its group ids, as ``--sgids`` of that page would ask. Also the
    project's sequencing group ids, when they were listed."""
    from toolkit.metamist_connection import graphql_query

    name = _sgids_variable(spec)
    if name is None or request.sgids is not None:
        return [variables], None
    try:
        listed = (graphql_query(_GROUP_IDS_QUERY, {"project": request.project}).get("project") or {})
    except MetadataError as error:
        raise explain_metadata_error(error, request.project, None) from None
    ids = [group["id"] for group in listed.get("sequencingGroups") or []]
    size = page_size()
    if len(ids) <= size:
        return [variables], ids
    return [{**variables, name: ids[start:start + size]} for start in range(0, len(ids), size)], ids


def _answers(query: str, pages: list[dict[str, Any]]) -> Iterator[dict | MetadataError]:
    """Each page's answer (or the MetadataError it met), in order. With several pages the next one is asked
    for, in a thread, while the caller extracts this one: the server (a process of its own, or a remote
    Metamist) works on it meanwhile. At most two pages' answers are held at once."""
    from toolkit.metamist_connection import call_then_release, graphql_query

    def ask(variables: dict[str, Any], last: bool) -> dict | MetadataError:
        try:
            return call_then_release(graphql_query, query, variables) if last else graphql_query(query, variables)
        except MetadataError as error:
            return error

    if len(pages) == 1:
        yield ask(pages[0], last=False)  # here, in the caller's thread: nothing to release
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="query-pages") as asker:
        pending = asker.submit(ask, pages[0], False)
        for index in range(len(pages)):
            answer = pending.result()
            if index + 1 < len(pages):
                pending = asker.submit(ask, pages[index + 1], index + 2 == len(pages))
            yield answer
            del answer


@dataclass(frozen=True)
class PagedQuery:
    """The questions :func:`fetch_groups` asks, worked out: the query's text, each page's variables, the project's
    sequencing group ids when they were listed to make the pages, and a chained spec's inputs."""

    text: str
    pages: tuple[dict[str, Any], ...]
    # Every active sequencing group id of the project, when they were listed (to ask in pages): the check of
    # registration targets then needs no question of its own (toolkit.pipeline).
    project_ids: tuple[str, ...] | None
    upstream: dict[str, list[Read]] | None


def page_query(spec: JobSpec, request: QueryRequest) -> PagedQuery:
    """Work out the questions: a chained spec's inputs, and for a project of over page_size() groups (and a query
    that takes ``from: sgids``) the project's ids, listed, cut into pages."""
    upstream = None
    if spec.inputs.from_jobspec is not None:
        upstream = fetch_upstream(request.project, spec.inputs.from_jobspec.name, spec.inputs.from_jobspec.output)
    pages, project_ids = _pages(spec, request, build_variables(spec, request))
    return PagedQuery(spec.inputs.query or CHAINED_QUERY, tuple(pages),
                      tuple(project_ids) if project_ids is not None else None, upstream)


def fetch_pages(spec: JobSpec, request: QueryRequest, paged: PagedQuery,
                pages: Sequence[dict[str, Any]] | None = None) -> tuple[GroupSet, int]:
    """The groups of ``pages`` of ``paged`` (all of them by default), and how many entries those answers had.

    Each page's answer is turned into groups, then dropped. An id found again in a later page is kept once when
    both are the same group (id, reads, fields), and refused otherwise, as two entries of one answer with one id
    and different data are (within one answer, entries are compared as Metamist gave them)."""
    found: list[Group] = []
    rejections: list[Rejection] = []
    first_page_of: dict[str, Group] = {}
    position = 1
    for data in _answers(paged.text, list(paged.pages if pages is None else pages)):
        if isinstance(data, MetadataError):
            raise explain_metadata_error(data, request.project, request.sgids) from None
        if not isinstance(data, dict):
            raise MetadataError("Metamist returned no data for the spec's query")
        page = extract_groups(spec.inputs, data, paged.upstream, first_position=position)
        del data
        position += len(page.groups) + len(page.rejections)
        for group in page.groups:
            earlier = first_page_of.setdefault(group.id, group)
            if earlier is group:
                found.append(group)
            elif earlier != group:
                raise MetadataError(
                    f"inputs.id: `{spec.inputs.id}` gives the same id to different entries of the answer "
                    f"({group.id}): each job needs an id of its own",
                    hint="use an id that is unique per group (a sequencing group's `id`)",
                )
        rejections.extend(page.rejections)
    return GroupSet(groups=tuple(found), rejections=tuple(rejections)), position - 1


def fetch_groups(spec: JobSpec, request: QueryRequest, paged: PagedQuery | None = None) -> GroupSet:
    """Run the spec's query through the metamist client and extract its groups (and, for a chained spec, their
    inputs: the other spec's registered outputs).

    A large project is asked in pages of its sequencing groups (page_size(): :func:`page_query`, or ``paged``
    when the caller has worked them out already, then :func:`fetch_pages`)."""
    groups, _ = fetch_pages(spec, request, paged if paged is not None else page_query(spec, request))
    if request.sgids:
        missing = sorted(set(request.sgids) - {g.id for g in groups.groups} - {r.group_id for r in groups.rejections})
        if missing and len(missing) == len(set(request.sgids)):
            raise UsageError(
                f"--sgids: no sequencing group of project {request.project} has the id"
                f"{'s' if len(missing) > 1 else ''} {', '.join(missing)} (unknown, archived or in another project)",
                hint=_project_groups_hint(request.project),
            )
        if missing:
            # Metamist silently drops unknown, archived and other-project ids: say so instead.
            extra = tuple(
                Rejection(gid, f"not found in project {request.project} (unknown, archived or in another project)")
                for gid in missing
            )
            groups = GroupSet(groups.groups, groups.rejections + extra)
    return groups


_KNOWN_PROJECTS_QUERY = "query ToolkitKnownProjects { myProjects { name } }"
_PROJECT_GROUPS_QUERY = """
query ToolkitProjectGroups($project: String!) {
  project(name: $project) { sequencingGroups { id type sample { externalId } } }
}
"""
_SAMPLES_QUERY = """
query ToolkitSamplesNamed($project: String!, $ids: [String!]!) {
  project(name: $project) { samples(externalId: {in_: $ids}) { id externalId sequencingGroups { id type } } }
}
"""
_SHOWN = 10


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def _project_groups_hint(project: str) -> str | None:
    from toolkit.metamist_connection import graphql_query

    try:
        listed = graphql_query(_PROJECT_GROUPS_QUERY, {"project": project})["project"]["sequencingGroups"]
    except (MetadataError, KeyError, TypeError):
        return None
    if not listed:
        return f"project {project} has no sequencing groups"
    return f"the sequencing groups of project {project}: " + _listed(
        [f"{sg['id']} (sample {(sg.get('sample') or {}).get('externalId')})" for sg in listed]
    )


def explain_metadata_error(error: MetadataError, project: str, sgids: Sequence[str] | None) -> MetadataError | UsageError:
    """Metamist's answer, plus what the user needs to act on it: the known projects for an unknown project;
    for an id that is a sample's, not a sequencing group's, that sample's sequencing groups."""
    from toolkit.metamist_connection import graphql_query

    message = error.message
    if "Could not find project" in message or ("does not have" in message and "access" in message):
        try:
            names = sorted(p["name"] for p in graphql_query(_KNOWN_PROJECTS_QUERY, {}).get("myProjects") or [])
        except MetadataError:
            return error
        known = f"projects you can use: {_listed(names)}" if names else "you can use no project yet"
        return UsageError(f"project {project!r} is unknown to Metamist, or not yours to read", hint=known)
    if sgids and ("Invalid prefix" in message or "was not valid" in message):
        try:
            samples = graphql_query(_SAMPLES_QUERY, {"project": project, "ids": list(sgids)})["project"]["samples"]
        except (MetadataError, KeyError, TypeError):
            samples = []
        if samples:
            described = "; ".join(
                f"{sample['externalId']} is a sample (id {sample['id']}), not a sequencing group: its sequencing "
                "groups are " + (", ".join(f"{sg['id']} ({sg['type']})" for sg in sample.get("sequencingGroups") or [])
                                 or "none")
                for sample in samples
            )
            return UsageError(f"--sgids: {described}", hint="pass sequencing group ids (CPG...) to --sgids")
        # Metamist names the first id it cannot read; name every id that is not one of the project's groups.
        try:
            listed = graphql_query(_PROJECT_GROUPS_QUERY, {"project": project})["project"]["sequencingGroups"]
            unknown = [sgid for sgid in sgids if sgid not in {sg["id"] for sg in listed}]
        except (MetadataError, KeyError, TypeError):
            unknown = []
        said = message.split(" answered: ", 1)[-1]
        if unknown:
            from toolkit.text import shown

            return UsageError(
                f"--sgids: {', '.join(shown(sgid) for sgid in unknown)} "
                f"{'is not a sequencing group' if len(unknown) == 1 else 'are not sequencing groups'} of project "
                f"{project} (Metamist: {said})",
                hint=_project_groups_hint(project),
            )
        return UsageError(f"--sgids: {said}", hint=_project_groups_hint(project))
    return error


def select_sgids(values: Sequence[str] | None) -> tuple[str, ...] | None:
    """Normalise --sgids (space- or comma-separated); None when not given."""
    if values is None:
        return None
    ids: list[str] = []
    for value in values:
        ids.extend(part for part in value.replace(",", " ").split() if part)
    if not ids:
        raise UsageError("--sgids was given without any id (omit it to process every group of the project)")
    return tuple(dict.fromkeys(ids))
