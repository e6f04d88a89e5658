"""Registration stage: record each succeeded output in Metamist as an Analysis, exactly once.

Registration runs in the driver after the batch, not as jobs: the driver knows which jobs succeeded, the
tool's image needs no Python, and N groups cost N tool jobs instead of cpg-flow's 2N.

Exactly once, also when runs race. Metamist has no uniqueness constraint on an Analysis' output, so:

* before creating anything, Metamist is asked again which outputs are registered by now (a rerun after a
  crash between the batch and the registration registers only what is missing);
* on one machine, ``toolkit run`` holds a lock per (project, jobspec) for the whole run
  (``toolkit.pipeline.exclusive_run``), so a second run waits and then finds the work done;
* runs that do not share that lock (other machines, other toolkit homes) can still both find an output
  unregistered and both create an Analysis. After creating, each run looks again: of the active Analyses of
  the same type, output and status, the oldest (lowest id) is kept and every other one is made inactive.
  Every racer applies the same rule to the same data, so they converge on one active Analysis per output,
  whatever the interleaving; the loser reports that the output was registered meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from toolkit.errors import MetadataError
from toolkit.plan.model import Plan, PlannedJob, PlannedRegistration

EXISTING_ANALYSES_QUERY = """
query ToolkitExistingAnalyses($project: String!, $type: String!) {
  project(name: $project) {
    analyses(type: {eq: $type}, active: {eq: true}) {
      id
      output
      status
    }
  }
}
"""

SPEC_ANALYSES_QUERY = """
query ToolkitSpecAnalyses($project: String!, $jobspec: JSON!) {
  project(name: $project) {
    analyses(meta: $jobspec, active: {eq: true}) {
      id
      type
      status
      output
      timestampCompleted
      meta
      sequencingGroups { id }
    }
  }
}
"""


def graphql_status(rest_status: str) -> str:
    """REST spelling (``in-progress``) -> GraphQL enum spelling (``IN_PROGRESS``)."""
    return rest_status.upper().replace("-", "_")


def active_analyses(project: str, analysis_type: str) -> dict[tuple[str, str], list[int]]:
    """(GraphQL status, output URI) -> ids of the project's active Analyses of that type, oldest first."""
    from toolkit.metamist_connection import graphql_query

    data = graphql_query(EXISTING_ANALYSES_QUERY, {"project": project, "type": analysis_type})
    found: dict[tuple[str, str], list[int]] = {}
    for analysis in (data.get("project") or {}).get("analyses") or []:
        output = analysis.get("output")
        if output:
            found.setdefault((str(analysis.get("status")), output), []).append(int(analysis["id"]))
    for ids in found.values():
        ids.sort()
    return found


def existing_analyses(project: str, registrations: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(type, output URI) -> Analysis id, for active Analyses of those types in the project.

    ``registrations`` are (type, status) pairs the spec registers; an Analysis counts as existing only with
    the same status (a failed or queued Analysis for the same file does not make the output done).
    """
    wanted: dict[str, set[str]] = {}
    for analysis_type, status in registrations:
        wanted.setdefault(analysis_type, set()).add(graphql_status(status))
    found: dict[tuple[str, str], int] = {}
    for analysis_type, statuses in sorted(wanted.items()):
        for (status, output), ids in active_analyses(project, analysis_type).items():
            if status in statuses:
                # the oldest: the one a reader finds first, the one we report, and the one a race keeps
                key = (analysis_type, output)
                found[key] = min(ids[0], found.get(key, ids[0]))
    return found


def spec_analyses(project: str, spec_name: str) -> list[dict[str, Any]]:
    """Active Analyses registered by the toolkit for this jobspec (meta.jobspec == name)."""
    from toolkit.metamist_connection import graphql_query

    data = graphql_query(SPEC_ANALYSES_QUERY, {"project": project, "jobspec": {"jobspec": spec_name}})
    return list((data.get("project") or {}).get("analyses") or [])


@dataclass
class Registered:
    group_id: str
    output: str
    analysis_id: int
    created: bool  # False when Metamist already had it (found at registration time, or a concurrent run's won)
    replaced: int | None = None  # the earlier Analysis of the same output, now inactive (--force)
    retired: int | None = None  # this run's own duplicate, made inactive: a concurrent run registered first


@dataclass
class RegistrationReport:
    registered: list[Registered] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (group, output, message)

    @property
    def created(self) -> list[Registered]:
        return [r for r in self.registered if r.created]


_API = None


def _analysis_api():
    """One API client per run: a new client per Analysis would open a new connection pool each time."""
    global _API
    from toolkit.metamist_connection import analysis_api, current

    if _API is None or _API[0] != current().url:
        _API = (current().url, analysis_api())
    return _API[1]


def _create(
    project: str, registration: PlannedRegistration, extra_provenance: dict[str, Any], extra_meta: dict[str, Any]
) -> int:
    from metamist.models import Analysis, AnalysisStatus  # after connect(): see toolkit.metamist_connection

    meta = registration.meta
    if extra_provenance:
        meta = {**meta, "provenance": {**meta.get("provenance", {}), **extra_provenance}}
    if extra_meta:
        meta = {**meta, **extra_meta}
    analysis = Analysis(
        type=registration.type,
        status=AnalysisStatus(registration.status),
        output=registration.output_uri,
        sequencing_group_ids=list(registration.sequencing_group_ids),
        meta=meta,
    )
    return int(_analysis_api().create_analysis(project, analysis))


def register_jobs(
    plan: Plan, jobs: Iterable[PlannedJob], *, replace: bool = False, extra_provenance: dict[str, Any] | None = None,
    job_meta: dict[str, dict[str, Any]] | None = None,
) -> RegistrationReport:
    """Create the Analyses of the given (succeeded, or register-only) jobs, skipping any that exist by now.

    ``replace`` (``toolkit run --force``): an output's Analysis found at planning time is replaced: the new
    one is created and the old one made inactive, so one output keeps exactly one active Analysis.
    ``extra_provenance`` is what was learnt while running (the tool's version on the service backend);
    ``job_meta`` what a job itself reported (job id -> meta keys: its checked ``metrics``).
    """
    jobs = list(jobs)
    report = RegistrationReport()
    pending = [(job, reg) for job in jobs for reg in job.registrations]
    if not pending:
        return report
    try:
        existing = existing_analyses(plan.project, {(reg.type, reg.status) for _, reg in pending})
    except MetadataError as error:
        for job, reg in pending:
            report.failed.append((job.id, reg.output, str(error)))
        return report
    created: list[tuple[Registered, PlannedRegistration]] = []
    for job, reg in pending:
        known = existing.get((reg.type, reg.output_uri))
        replacing = replace and known is not None and known == reg.existing_id
        if known is not None and not replacing:
            report.registered.append(Registered(job.id, reg.output, known, created=False))
            continue
        try:
            analysis_id = _create(plan.project, reg, extra_provenance or {}, (job_meta or {}).get(job.id, {}))
            if replacing:
                # Create first, then retire the old one: a failure in between leaves two active
                # Analyses for one output (visible, and fixed by the next --force), never zero.
                _deactivate(known)
        except MetadataError as error:
            report.failed.append((job.id, reg.output, error.message))
            continue
        existing[(reg.type, reg.output_uri)] = analysis_id
        registered = Registered(job.id, reg.output, analysis_id, created=True, replaced=known if replacing else None)
        report.registered.append(registered)
        created.append((registered, reg))
    _keep_one_active_per_output(plan.project, created, report)
    return report


def _keep_one_active_per_output(
    project: str, created: list[tuple[Registered, PlannedRegistration]], report: RegistrationReport
) -> None:
    """The re-check after creating (see the module docstring): for each output this run registered, keep the
    oldest active Analysis of the same type and status, make the others inactive."""
    if not created:
        return
    retired: set[int] = set()
    for analysis_type in sorted({reg.type for _, reg in created}):
        try:
            active = active_analyses(project, analysis_type)
        except MetadataError as error:
            for registered, reg in created:
                if reg.type == analysis_type:
                    report.failed.append((registered.group_id, reg.output, _unchecked(registered, error)))
            continue
        for registered, reg in created:
            if reg.type != analysis_type:
                continue
            status = graphql_status(reg.status)
            ids = set(active.get((status, reg.output_uri), [])) - retired
            if not ids:
                continue  # nothing active any more: made inactive by someone else since; nothing to keep
            keep = min(ids)
            try:
                for duplicate in sorted(ids - {keep}):
                    _deactivate(duplicate, status)
                    retired.add(duplicate)
            except MetadataError as error:
                report.failed.append((registered.group_id, reg.output, _unchecked(registered, error)))
                continue
            if registered.analysis_id != keep:
                # Ours lost (retired just now, or already by the winner's own re-check).
                registered.retired, registered.analysis_id, registered.created = registered.analysis_id, keep, False


def _unchecked(registered: Registered, error: MetadataError) -> str:
    return (
        f"registered as Analysis {registered.analysis_id}, but the check for a duplicate made by a concurrent "
        f"run failed ({error.message}); see `toolkit outputs SPEC` for two active Analyses of this output"
    )


def _deactivate(analysis_id: int, status: str | None = None) -> None:
    from metamist.models import AnalysisStatus, AnalysisUpdateModel

    # status is required by the REST model; the PATCH keeps the status an Analysis already has
    rest_status = AnalysisStatus(status.lower().replace("_", "-")) if status else _status_of(analysis_id)
    _analysis_api().update_analysis(analysis_id, AnalysisUpdateModel(status=rest_status, active=False))


def _status_of(analysis_id: int):
    from metamist.models import AnalysisStatus

    from toolkit.metamist_connection import graphql_query

    data = graphql_query("query($id: Int!) { analyses(id: {eq: $id}) { status } }", {"id": analysis_id})
    status = (data.get("analyses") or [{}])[0].get("status", "COMPLETED")
    return AnalysisStatus(status.lower().replace("_", "-"))
