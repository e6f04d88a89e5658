"""Registration stage: record each succeeded output in Metamist as an Analysis, exactly once.

Registration runs in the driver after the batch, not as jobs: the driver knows which jobs succeeded, the
tool's image needs no Python, and N groups cost N tool jobs instead of cpg-flow's 2N.

Exactly once, also when runs race. Metamist has no uniqueness constraint on an Analysis' output, so:

* before creating anything, Metamist is asked again which outputs this spec has registered by now with the
  same reuse key (toolkit.plan.reuse): those are not registered again (a rerun after a crash, a racing run);
* on one machine, ``toolkit run`` holds a lock per (project, jobspec) for the whole run
  (``toolkit.pipeline.exclusive_run``), so a second run waits and then finds the work done;
* runs that do not share that lock (other machines, other toolkit homes) can still both find an output
  unregistered and both create an Analysis. After creating, each run looks again: of the spec's active
  Analyses of the same type, output, status and reuse key, the oldest (lowest id) is kept and every other one
  is made inactive. Every racer applies the same rule to the same data, so they converge on one active
  Analysis per output, whatever the interleaving; the loser reports that the output was registered meanwhile.

One active Analysis per output, with history: a job that reran because its output was stale (another reuse
key) or forced replaces the Analyses the plan found for that output. The new one is created first, then the
old ones are made inactive: a failure in between leaves two active Analyses (visible, and fixed by the next
run), never none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from toolkit.errors import MetadataError
from toolkit.plan.model import Plan, PlannedJob, PlannedRegistration

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


def rest_status(graphql: str) -> str:
    return str(graphql).lower().replace("_", "-")


def spec_analyses(project: str, spec_name: str) -> list[dict[str, Any]]:
    """Active Analyses registered by the toolkit for this jobspec (meta.jobspec == name), oldest first."""
    from toolkit.metamist_connection import graphql_query

    data = graphql_query(SPEC_ANALYSES_QUERY, {"project": project, "jobspec": {"jobspec": spec_name}})
    found = list((data.get("project") or {}).get("analyses") or [])
    found.sort(key=lambda analysis: int(analysis["id"]))
    return found


def existing_for_spec(project: str, spec_name: str, analyses: list[dict[str, Any]] | None = None):
    """(type, output URI) -> the spec's active Analyses of that output (toolkit.plan.Existing), oldest first."""
    from toolkit.plan import Existing

    found: dict[tuple[str, str], list[Existing]] = {}
    for analysis in spec_analyses(project, spec_name) if analyses is None else analyses:
        output = analysis.get("output")
        if not output:
            continue
        provenance = (analysis.get("meta") or {}).get("provenance") or {}
        reuse = provenance.get("reuse") if isinstance(provenance.get("reuse"), dict) else None
        command = provenance.get("command") if isinstance(provenance.get("command"), str) else None
        found.setdefault((str(analysis.get("type")), output), []).append(
            Existing(int(analysis["id"]), rest_status(analysis.get("status", "")), reuse, command)
        )
    return found


@dataclass
class Registered:
    group_id: str
    output: str
    analysis_id: int
    created: bool  # False when Metamist already had it (found at registration time, or a concurrent run's won)
    replaced: tuple[int, ...] = ()  # earlier Analyses of the same output, now inactive (stale key, --force)
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
    provenance = {**meta.get("provenance", {}), **extra_provenance, **(extra_meta.get("provenance") or {})}
    meta = {**meta, **{k: v for k, v in extra_meta.items() if k != "provenance"}, "provenance": provenance}
    analysis = Analysis(
        type=registration.type,
        status=AnalysisStatus(registration.status),
        output=registration.output_uri,
        sequencing_group_ids=list(registration.sequencing_group_ids),
        meta=meta,
    )
    return int(_analysis_api().create_analysis(project, analysis))


def _same(existing, registration: PlannedRegistration) -> list:
    return [e for e in existing if (e.reuse or {}).get("key") == registration.reuse_key and e.status == registration.status]


def register_jobs(
    plan: Plan, jobs: Iterable[PlannedJob], *, extra_provenance: dict[str, Any] | None = None,
    job_meta: dict[str, dict[str, Any]] | None = None,
) -> RegistrationReport:
    """Create the Analyses of the given (succeeded, or register-only) jobs, skipping any that exist by now.

    Each new Analysis replaces the ones its registration lists (``replaces``: the output's Analyses the plan
    found stale, or all of them with ``--force``), which are made inactive after it is created.
    ``extra_provenance`` is what was learnt while running (the tool's version on the service backend);
    ``job_meta`` what a job itself reported (job id -> meta keys: its checked ``metrics``, its ``provenance``
    additions: run record, output fingerprints).
    """
    jobs = list(jobs)
    report = RegistrationReport()
    pending = [(job, reg) for job in jobs for reg in job.registrations]
    if not pending:
        return report
    try:
        existing = existing_for_spec(plan.project, plan.spec_name)
    except MetadataError as error:
        for job, reg in pending:
            report.failed.append((job.id, reg.output, str(error)))
        return report
    created: list[tuple[Registered, PlannedRegistration]] = []
    for job, reg in pending:
        # Registered meanwhile with this key (a racing run, or the leftover of a crash that got registered):
        # not again. Those the plan meant to replace (--force) do not count.
        meanwhile = [e for e in _same(existing.get((reg.type, reg.output_uri), ()), reg) if e.id not in reg.replaces]
        if meanwhile:
            report.registered.append(Registered(job.id, reg.output, meanwhile[0].id, created=False))
            continue
        try:
            extra = dict((job_meta or {}).get(job.id, {}))
            outputs = extra.pop("outputs", {})
            if reg.output in outputs:
                extra.setdefault("provenance", {})
                extra["provenance"] = {**extra["provenance"], "output": outputs[reg.output]}
            analysis_id = _create(plan.project, reg, extra_provenance or {}, extra)
        except MetadataError as error:
            report.failed.append((job.id, reg.output, error.message))
            continue
        replaced = []
        try:
            still_active = {e.id for e in existing.get((reg.type, reg.output_uri), ())}
            for old in reg.replaces:
                if old in still_active:
                    _deactivate(old)
                    replaced.append(old)
        except MetadataError as error:
            report.failed.append((job.id, reg.output, f"registered as Analysis {analysis_id}, but the Analysis it "
                                  f"replaces could not be made inactive ({error.message})"))
        registered = Registered(job.id, reg.output, analysis_id, created=True, replaced=tuple(replaced))
        report.registered.append(registered)
        created.append((registered, reg))
    _keep_one_active_per_output(plan, created, report)
    return report


def _keep_one_active_per_output(
    plan: Plan, created: list[tuple[Registered, PlannedRegistration]], report: RegistrationReport
) -> None:
    """The re-check after creating (see the module docstring): for each output this run registered, keep the
    oldest of the spec's active Analyses with the same type, status and reuse key; make the others inactive."""
    if not created:
        return
    try:
        active = existing_for_spec(plan.project, plan.spec_name)
    except MetadataError as error:
        for registered, reg in created:
            report.failed.append((registered.group_id, reg.output, _unchecked(registered, error)))
        return
    retired: set[int] = set()
    for registered, reg in created:
        ids = {e.id for e in _same(active.get((reg.type, reg.output_uri), ()), reg)} - retired
        if not ids:
            continue  # nothing active any more: made inactive by someone else since; nothing to keep
        keep = min(ids)
        try:
            for duplicate in sorted(ids - {keep}):
                _deactivate(duplicate, graphql_status(reg.status))
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
