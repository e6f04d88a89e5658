"""Query stage: ask Metamist the spec's GraphQL query and turn the answer into groups.

Metamist is only ever reached through ``toolkit.metamist_connection`` (the ``metamist`` PyPI client), so a
local run against the embedded server and a production run share this code path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from toolkit.errors import MetadataError, UsageError
from toolkit.query.groups import Group, GroupSet, Read, Rejection, extract_groups
from toolkit.spec.models import JobSpec

__all__ = ["Group", "GroupSet", "Read", "Rejection", "QueryRequest", "build_variables", "fetch_groups", "extract_groups"]


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


def fetch_groups(spec: JobSpec, request: QueryRequest) -> GroupSet:
    """Run the spec's query through the metamist client and extract its groups."""
    from toolkit.metamist_connection import graphql_query

    variables = build_variables(spec, request)
    data = graphql_query(spec.inputs.query, variables)
    if not isinstance(data, dict):
        raise MetadataError("Metamist returned no data for the spec's query")
    groups = extract_groups(spec.inputs, data)
    if request.sgids:
        missing = sorted(set(request.sgids) - {g.id for g in groups.groups} - {r.group_id for r in groups.rejections})
        if missing:
            # Metamist silently drops unknown, archived and other-project ids: say so instead.
            extra = tuple(
                Rejection(gid, f"not found in project {request.project} (unknown, archived or in another project)")
                for gid in missing
            )
            groups = GroupSet(groups.groups, groups.rejections + extra)
    return groups


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
