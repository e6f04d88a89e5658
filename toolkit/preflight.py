"""What Metamist would refuse after the jobs ran, found before anything runs, as positioned spec errors.

``toolkit plan`` and ``toolkit run`` call :func:`check_before_running` first. It finds:

* an Analysis type the server does not know (it answers ``enum { analysisType }``; Metamist's analysis table
  has a foreign key to its type table, so an unknown type fails every registration);
* an output category with no storage root in the cpg-utils config (cpg-utils would fail on the first group);
* an output category whose storage root gives registration URIs without a scheme: Metamist refuses those
  ("Output file path must contain a protocol prefix"), testing ``urlparse(path).scheme`` exactly as below
  (db/python/tables/output_file.py). Local files are registered as ``file://`` URIs, so only a root that
  looks like a URI but is none (``my bucket://x``, ``/data/a://b``) gets here.

Each error points at the key of the spec that chose the value (``register.NAME.type``,
``outputs.NAME.category``), so the author sees it where ``toolkit validate`` would have shown it.
"""

from __future__ import annotations

import difflib
import os
from typing import Callable
from urllib.parse import urlparse

from toolkit.errors import SpecError
from toolkit.spec.diagnostics import Diagnostic

ANALYSIS_TYPES_QUERY = "query AnalysisTypes { enum { analysisType } }"


def server_analysis_types() -> tuple[str, ...]:
    """The Analysis types the connected Metamist knows (its ``enum { analysisType }`` answer)."""
    from toolkit.metamist_connection import graphql_query

    return tuple(graphql_query(ANALYSIS_TYPES_QUERY)["enum"]["analysisType"])


def analysis_type_diagnostics(loaded, known: tuple[str, ...], server: str) -> list[Diagnostic]:
    diagnostics = []
    for name, register in loaded.model.register.items():
        if register.type in known:
            continue
        close = difflib.get_close_matches(register.type, known, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        diagnostics.append(loaded.at_value(
            ("register", name, "type"),
            f"register.{name}.type: Metamist at {server} has no Analysis type {register.type!r} ({hint}it has: "
            f"{', '.join(known)}); every registration would fail after the jobs ran",
        ))
    return diagnostics


def output_location_diagnostics(loaded, location: Callable[[str, str], str]) -> list[Diagnostic]:
    """``location(suffix, category)`` is the plan's output locator (cpg-utils ``output_path``)."""
    from toolkit.cpg_config import ConfigError
    from toolkit.plan import registration_uri

    diagnostics = []
    for name, output in loaded.model.outputs.items():
        try:
            root = location("", output.category)
        except (ConfigError, KeyError):
            diagnostics.append(loaded.at_value(
                ("outputs", name, "category"),
                f"outputs.{name}.category: the cpg-utils config has no storage for category {output.category!r} "
                f"(its [storage] section has: {', '.join(_storage_categories()) or 'none'})",
            ))
            continue
        uri = registration_uri(os.path.join(root, "example"))
        if not urlparse(uri).scheme:
            diagnostics.append(loaded.at_value(
                ("outputs", name, "category"),
                f"outputs.{name}.category: category {output.category!r} stores under {root!r}, so outputs would be "
                f"registered as {uri!r}, which has no URI scheme: Metamist refuses an output without one "
                "(fix the category's storage root in the cpg-utils config)",
            ))
    return diagnostics


def _storage_categories() -> list[str]:
    from toolkit.cpg_config import current

    section = (current().get("storage") or {}).get("default") or {}
    return sorted(key for key, value in section.items() if isinstance(value, str) and key != "web_url")


def check_before_running(loaded, location: Callable[[str, str], str], server: str) -> None:
    """Raise one SpecError with every problem above; ask the server only when the spec registers something."""
    diagnostics = output_location_diagnostics(loaded, location)
    if loaded.model.register:
        diagnostics += analysis_type_diagnostics(loaded, server_analysis_types(), server)
    if diagnostics:
        raise SpecError(sorted(diagnostics, key=Diagnostic.sort_key), source_name=diagnostics[0].file)


SETTINGS_QUERY = "query ToolkitSettings { metamistSettings { sequencingGroupPrefix } }"
KNOWN_GROUPS_QUERY = """
query ToolkitKnownGroups($project: String!, $ids: [String!]!) {
  project(name: $project) { sequencingGroups(id: {in_: $ids}) { id } }
}
"""
_CHUNK = 5000  # ids per question: one SQL statement each on the server, far below any request size limit


def registration_target_problems(project: str, targets_by_job: dict[str, tuple[str, ...]],
                                 known: frozenset[str] | None = None) -> dict[str, str]:
    """Job id -> why its outputs cannot be registered: a registration target that is not a sequencing group of
    the project (an id path that picks a sample's external id, a read file's name...). Metamist would refuse each
    registration after the job ran ("Invalid prefix..."); found here, the job is not run.

    Two questions: the server's sequencing-group prefix (a wrong shape needs no lookup), then which of the
    well-shaped ids the project has (active ones, as a query lists them by default). ``known``: the project's
    active sequencing group ids, when the query stage listed them already; targets all among them need no
    question. ``targets_by_job``: job id -> the sequencing groups its outputs would be registered against, for
    the jobs this run would register (a rerun with every output done asks nothing)."""
    import re

    from toolkit.metamist_connection import graphql_query

    targets = {target for job_targets in targets_by_job.values() for target in job_targets}
    if not targets or (known is not None and targets <= known):
        return {}
    prefix = graphql_query(SETTINGS_QUERY)["metamistSettings"]["sequencingGroupPrefix"]
    shape = re.compile(re.escape(prefix) + r"\d+")
    well_shaped = sorted(target for target in targets if shape.fullmatch(target))
    known: set[str] = set()
    for start in range(0, len(well_shaped), _CHUNK):
        chunk = well_shaped[start:start + _CHUNK]
        answer = graphql_query(KNOWN_GROUPS_QUERY, {"project": project, "ids": chunk})
        known.update(sg["id"] for sg in (answer.get("project") or {}).get("sequencingGroups") or [])
    problems = {}
    for job_id, job_targets in targets_by_job.items():
        unknown = sorted(set(job_targets) - known)
        if not unknown:
            continue
        from toolkit.text import shown

        listed = ", ".join(shown(target) for target in unknown[:3]) + (f" and {len(unknown) - 3} more" if len(unknown) > 3 else "")
        why = "is not" if len(unknown) == 1 else "are not"
        shaped = all(shape.fullmatch(target) for target in unknown)
        problems[job_id] = (
            f"its outputs would be registered against {listed}, which {why} "
            + (f"a sequencing group of project {project}" if shaped else
               f"a sequencing group id (Metamist's have the form {prefix}<number>)")
            + ": Metamist would refuse the registration after the job ran (inputs.id must give the sequencing "
            "group's id)"
        )
    return problems
