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

Many outputs at once: every output of a run is registered together, after the batch, in GraphQL requests of
up to 25 ``createAnalysis`` mutations, 8 requests at a time (one at a time against an embedded server in this
process: see :func:`requests_at_once_for_current_server`). A failed request may have created some of its
Analyses, and its answer does not say which. So nothing of it is sent again before its outputs are looked up
in Metamist (one query); what is found counts as created, the mutation the server refused is reported with
the server's reason, and the rest go again one per request. When Metamist cannot be reached even for that
look-up, each such output is reported as possibly registered, and the next run looks it up by output, as it
does for everything: no output is lost, none is registered twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from toolkit.errors import MetadataError
from toolkit.metamist_connection import (
    ANALYSES_PER_REQUEST,
    MutationsFailed,
    create_analyses_request,
    deactivate_analyses_request,
)
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


# Registration sends its creates (and its deactivations) in GraphQL requests of several mutations, several
# requests at once. Metamist runs the mutations of one request one after another (GraphQL's rule for
# mutations), so batching saves requests (where the embedded server's time goes) and concurrency overlaps the
# server's waits on its database and GCS (where a real Metamist's goes): benchmarks/register_outputs.py.
# 16 at once: against the real Metamist of ../shared/real-metamist/, 1,000 gs:// creates took 7.4-7.8 s at 8,
# 6.5-6.6 s at 12, 6.1-6.4 s at 16 and about as long at 24 or 32 (its one process is then busy); the embedded server
# in a process of its own takes the same time at 8 and 16.
MUTATIONS_PER_REQUEST = ANALYSES_PER_REQUEST
REQUESTS_AT_ONCE = 16


def requests_at_once_for_current_server() -> int:
    """``REQUESTS_AT_ONCE``, but 1 for an embedded server running in a thread of this process (as Python callers
    start it; the ``toolkit`` program forks it into a process of its own): its work and ours share one
    interpreter lock, so requests sent at once only queue for it (measured: one at a time is fastest there, 8
    at once half again as slow)."""
    from toolkit.metadata_server import serves_in_this_process
    from toolkit.metamist_connection import current

    return 1 if serves_in_this_process(current().url) else REQUESTS_AT_ONCE


@dataclass
class _Creation:
    """One Analysis to create: what the server is sent, and what became of it."""

    job_id: str
    registration: PlannedRegistration
    analysis: dict[str, Any]  # GraphQL AnalysisInput
    analysis_id: int | None = None
    problem: str | None = None  # why it is not registered (or not known to be)


def _analysis_input(
    registration: PlannedRegistration, extra_provenance: dict[str, Any], extra_meta: dict[str, Any]
) -> dict[str, Any]:
    meta = registration.meta
    provenance = {**meta.get("provenance", {}), **extra_provenance, **(extra_meta.get("provenance") or {})}
    meta = {**meta, **{k: v for k, v in extra_meta.items() if k != "provenance"}, "provenance": provenance}
    return {
        "type": registration.type,
        "status": graphql_status(registration.status),
        "output": registration.output_uri,
        "sequencingGroupIds": list(registration.sequencing_group_ids),
        "meta": meta,
    }


def _same(existing, registration: PlannedRegistration) -> list:
    return [e for e in existing if (e.reuse or {}).get("key") == registration.reuse_key and e.status == registration.status]


def register_jobs(
    plan: Plan, jobs: Iterable[PlannedJob], *, extra_provenance: dict[str, Any] | None = None,
    job_meta: dict[str, dict[str, Any]] | None = None, per_request: int = MUTATIONS_PER_REQUEST,
    requests_at_once: int | None = None,
) -> RegistrationReport:
    """Create the Analyses of the given (succeeded, or register-only) jobs, skipping any that exist by now.

    Each new Analysis replaces the ones its registration lists (``replaces``: the output's Analyses the plan
    found stale, or all of them with ``--force``), which are made inactive after it is created.
    ``extra_provenance`` is what was learnt while running (the tool's version on the service backend);
    ``job_meta`` what a job itself reported (job id -> meta keys: its checked ``metrics``, its ``provenance``
    additions: run record, output fingerprints). The creates go ``per_request`` to a GraphQL request, up to
    ``requests_at_once`` requests at a time (1 and 1: one create after another; default:
    :func:`requests_at_once_for_current_server`).
    """
    jobs = list(jobs)
    report = RegistrationReport()
    pending = [(job, reg) for job in jobs for reg in job.registrations]
    if not pending:
        return report
    if requests_at_once is None:
        requests_at_once = requests_at_once_for_current_server()
    try:
        existing = existing_for_spec(plan.project, plan.spec_name)
    except MetadataError as error:
        for job, reg in pending:
            report.failed.append((job.id, reg.output, str(error)))
        return report
    known_ids = {e.id for found in existing.values() for e in found}
    creations: list[_Creation] = []
    for job, reg in pending:
        # Registered meanwhile with this key (a racing run, or the leftover of a crash that got registered):
        # not again. Those the plan meant to replace (--force) do not count.
        meanwhile = [e for e in _same(existing.get((reg.type, reg.output_uri), ()), reg) if e.id not in reg.replaces]
        if meanwhile:
            report.registered.append(Registered(job.id, reg.output, meanwhile[0].id, created=False))
            continue
        extra = dict((job_meta or {}).get(job.id, {}))
        outputs = extra.pop("outputs", {})
        if reg.output in outputs:
            extra.setdefault("provenance", {})
            extra["provenance"] = {**extra["provenance"], "output": outputs[reg.output]}
        creations.append(_Creation(job.id, reg, _analysis_input(reg, extra_provenance or {}, extra)))

    _create_all(plan, creations, known_ids, per_request, requests_at_once)

    # Only now are the Analyses they replace made inactive: a failure in between leaves two active, not none.
    created: list[tuple[Registered, PlannedRegistration]] = []
    replacing: dict[int, list[int]] = {}
    for index, creation in enumerate(creations):
        reg = creation.registration
        if creation.analysis_id is None:
            report.failed.append((creation.job_id, reg.output, creation.problem or "not registered"))
            continue
        still_active = {e.id for e in existing.get((reg.type, reg.output_uri), ())}
        replacing[index] = [old for old in reg.replaces if old in still_active]
    problems = _deactivate_all(sorted({old for olds in replacing.values() for old in olds}), requests_at_once)
    for index, olds in replacing.items():
        creation = creations[index]
        replaced = tuple(old for old in olds if old not in problems)
        failures = [problems[old] for old in olds if old in problems]
        job_id, output, analysis_id = creation.job_id, creation.registration.output, creation.analysis_id
        if failures:
            report.failed.append((job_id, output, f"registered as Analysis {analysis_id}, but the Analysis "
                                  f"it replaces could not be made inactive ({failures[0]})"))
        registered = Registered(job_id, output, analysis_id, created=True, replaced=replaced)
        report.registered.append(registered)
        created.append((registered, creation.registration))
    _keep_one_active_per_output(plan, created, report, requests_at_once)
    # In the order of the jobs given, as one create after another reported them.
    position = {(job.id, reg.output): index for index, (job, reg) in enumerate(pending)}
    report.registered.sort(key=lambda registered: position[(registered.group_id, registered.output)])
    report.failed.sort(key=lambda failure: position[(failure[0], failure[1])])
    return report


def _create_all(
    plan: Plan, creations: list[_Creation], known_ids: set[int], per_request: int, requests_at_once: int
) -> None:
    """Create every Analysis of ``creations`` exactly once, setting its ``analysis_id`` or its ``problem``.

    A request that fails may have created some of its Analyses (the ones before the failing mutation, on the
    servers this was checked against; any of them, when no answer came back). Its Analyses are therefore
    looked up by output (one query for all such requests) before anything is sent again. The ones not found
    go again one per request, so that a second refusal names its own output; the ones whose mutation the
    server named in its error are not sent again: it refused them. ``known_ids`` are the spec's Analyses from
    before the first request: only others count as made by it.
    """
    chunks = _batches(range(len(creations)), per_request)
    last_round = False
    while chunks:
        outcomes = _send_in_requests(
            chunks, requests_at_once,
            lambda indexes: create_analyses_request(plan.project, [creations[i].analysis for i in indexes]),
        )
        failed = [outcome for outcome in outcomes if outcome.error is not None or not outcome.sent]
        for outcome in outcomes:
            if outcome.answer is not None:
                for index, analysis_id in zip(outcome.indexes, outcome.answer, strict=True):
                    creations[index].analysis_id = analysis_id
        if not failed:
            return
        stopped = next((o.error for o in outcomes if o.error is not None and o.error.unreachable), None)
        maybe = [creations[i] for outcome in failed if outcome.sent for i in outcome.indexes]
        try:
            found = _made_by_failed_requests(plan, maybe, known_ids) if maybe else {}
        except MetadataError as check:
            for outcome in failed:
                problem = _unknown(outcome.error, check) if outcome.sent else _not_sent(stopped)
                for index in outcome.indexes:
                    creations[index].problem = problem
            return
        single, unsent = [], []
        for outcome in failed:
            for position, index in enumerate(outcome.indexes):
                creation = creations[index]
                if id(creation) in found:
                    creation.analysis_id = found[id(creation)]
                elif outcome.sent and outcome.error.failed_item == position:
                    creation.problem = outcome.error.item_message  # refused: sending it again changes nothing
                elif last_round and outcome.sent:
                    creation.problem = f"not registered: {outcome.error.message}"
                elif last_round:
                    creation.problem = _not_sent(stopped)
                else:
                    (single if outcome.sent else unsent).append(index)
        chunks = [[index] for index in single] + _batches(unsent, per_request)
        last_round = True


def _made_by_failed_requests(plan: Plan, creations: list[_Creation], known_ids: set[int]) -> dict[int, int]:
    """id(creation) -> the Analysis a failed request created for it, found by output in Metamist."""
    active = existing_for_spec(plan.project, plan.spec_name)
    found = {}
    for creation in creations:
        reg = creation.registration
        new = [e.id for e in _same(active.get((reg.type, reg.output_uri), ()), reg)
               if e.id not in known_ids and e.id not in reg.replaces]
        if new:
            found[id(creation)] = min(new)
    return found


def _unknown(error: MutationsFailed, check: MetadataError) -> str:
    looked_up = "" if check.message == error.message else f"; looking it up failed too: {check.message}"
    return (
        f"{error.item_message or error.message}{looked_up}; Metamist may or may not have registered it: the "
        "next run looks it up by output and registers it only if missing"
    )


def _not_sent(stopped: MutationsFailed | None, what: str = "not registered") -> str:
    why = stopped.message if stopped is not None else "an earlier request failed"
    return f"{what}: not sent, as Metamist stopped answering ({why})"


def _keep_one_active_per_output(
    plan: Plan, created: list[tuple[Registered, PlannedRegistration]], report: RegistrationReport,
    requests_at_once: int,
) -> None:
    """The re-check after creating (see the module docstring): for each output this run registered, keep the
    oldest of the spec's active Analyses with the same type, status and reuse key; make the others inactive."""
    if not created:
        return
    try:
        active = existing_for_spec(plan.project, plan.spec_name)
    except MetadataError as error:
        for registered, reg in created:
            report.failed.append((registered.group_id, reg.output, _unchecked(registered, error.message)))
        return
    retiring: set[int] = set()
    decisions: list[tuple[Registered, PlannedRegistration, int, list[int]]] = []
    for registered, reg in created:
        ids = {e.id for e in _same(active.get((reg.type, reg.output_uri), ()), reg)} - retiring
        if not ids:
            continue  # nothing active any more: made inactive by someone else since; nothing to keep
        keep = min(ids)
        duplicates = sorted(ids - {keep})
        retiring.update(duplicates)
        decisions.append((registered, reg, keep, duplicates))
    problems = _deactivate_all(sorted(retiring), requests_at_once)
    for registered, reg, keep, duplicates in decisions:
        failures = [problems[duplicate] for duplicate in duplicates if duplicate in problems]
        if failures:
            report.failed.append((registered.group_id, reg.output, _unchecked(registered, failures[0])))
            continue
        if registered.analysis_id != keep:
            # Ours lost (retired just now, or already by the winner's own re-check).
            registered.retired, registered.analysis_id, registered.created = registered.analysis_id, keep, False


def _unchecked(registered: Registered, message: str) -> str:
    return (
        f"registered as Analysis {registered.analysis_id}, but the check for a duplicate made by a concurrent "
        f"run failed ({message}); see `toolkit outputs SPEC` for two active Analyses of this output"
    )


def _deactivate_all(analysis_ids: list[int], requests_at_once: int) -> dict[int, str]:
    """Make the Analyses inactive; answers analysis id -> why it could not be, for the ones that failed.

    Making an Analysis inactive twice does no harm, so the Analyses of a failed request are simply sent again,
    one per request (a refusal then names its own Analysis); not after Metamist stopped answering.
    """
    problems: dict[int, str] = {}
    chunks = _batches(range(len(analysis_ids)), MUTATIONS_PER_REQUEST)
    for last_round in (False, True):
        outcomes = _send_in_requests(
            chunks, requests_at_once,
            lambda indexes: deactivate_analyses_request([analysis_ids[i] for i in indexes]),
        )
        stopped = next((o.error for o in outcomes if o.error is not None and o.error.unreachable), None)
        chunks = []
        for outcome in outcomes:
            if outcome.sent and outcome.error is None:
                continue
            for index in outcome.indexes:
                if not outcome.sent:
                    problems[analysis_ids[index]] = _not_sent(stopped, "not made inactive")
                elif last_round or outcome.error.unreachable:
                    problems[analysis_ids[index]] = outcome.error.item_message or outcome.error.message
                else:
                    chunks.append([index])
        if not chunks:
            break
    return problems


def _batches(indexes: Iterable[int], size: int) -> list[list[int]]:
    indexes = list(indexes)
    return [indexes[start : start + size] for start in range(0, len(indexes), max(1, size))]


@dataclass
class _Outcome:
    indexes: list[int]
    sent: bool = True
    answer: Any = None
    error: MutationsFailed | None = None


def _send_in_requests(chunks: list[list[int]], at_once: int, send) -> list[_Outcome]:
    """``send(chunk)`` for every chunk, up to ``at_once`` at a time; answers each chunk's outcome, in order.

    Once a request found Metamist unreachable, chunks not sent yet are not sent (each would wait for the same
    timeout). Each worker thread closes its connections when it is done: the threads end with the call.
    """
    import concurrent.futures
    import queue
    import threading

    from toolkit.metamist_connection import release_thread_clients

    outcomes: list[_Outcome | None] = [None] * len(chunks)
    unreachable = threading.Event()
    stop = threading.Event()  # the caller is interrupted (Ctrl-C): start no new request

    def attempt(number: int) -> None:
        if unreachable.is_set() or stop.is_set():
            outcomes[number] = _Outcome(chunks[number], sent=False)
            return
        try:
            outcomes[number] = _Outcome(chunks[number], answer=send(chunks[number]))
        except MutationsFailed as error:
            if error.unreachable:
                unreachable.set()
            outcomes[number] = _Outcome(chunks[number], error=error)

    if at_once <= 1 or len(chunks) <= 1:
        for number in range(len(chunks)):
            attempt(number)
        return outcomes  # type: ignore[return-value]

    work: queue.SimpleQueue[int] = queue.SimpleQueue()
    for number in range(len(chunks)):
        work.put(number)

    def worker() -> None:
        try:
            while True:
                try:
                    number = work.get_nowait()
                except queue.Empty:
                    return
                attempt(number)
        finally:
            release_thread_clients()

    workers = min(at_once, len(chunks))
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="toolkit-registration") as pool:
        futures = [pool.submit(worker) for _ in range(workers)]
        try:
            for future in futures:
                future.result()  # a bug in a worker is raised here, not lost
        except BaseException:
            stop.set()
            raise
    return outcomes  # type: ignore[return-value]
