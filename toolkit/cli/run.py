"""``toolkit run SPEC [SPEC...]``: query, plan, run one job per unit of work, register what succeeded, summarise.

Several specs run in the order given, each planned only when the previous one has registered its outputs, so
a spec that takes its inputs from another (``inputs.from_jobspec``) sees them: ``toolkit run fastqc.yaml
multiqc.yaml``. Every spec is loaded and validated before anything runs.
"""

from __future__ import annotations

import argparse

from toolkit.cli._common import Reporter, add_selection_arguments, shown


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_selection_arguments(parser)
    parser.add_argument(
        "--force", action="store_true",
        help="rerun jobs that are already done; their new Analysis replaces the old one (made inactive)",
    )
    parser.add_argument(
        "--keep-stale", action="store_true",
        help="do not rerun jobs whose outputs are registered with another reuse key (changed command, params, "
        "image or inputs): only report them (default: rerun them, as Snakemake and Nextflow's -resume do)",
    )
    parser.add_argument(
        "--parallel", metavar="N|auto", type=_lanes_option,
        help="local runs: how many jobs run at a time (default: [toolkit] local_parallel of the config, else "
        "auto: as many as the cores and the memory fit, by the jobs' cpu and memory; 1: one after another). "
        "The Hail Batch service schedules its own jobs",
    )


def _lanes_option(value: str) -> str:
    """Checked when the arguments are read: a wrong value stops the run before Metamist is asked anything."""
    from toolkit.backend.lanes import parse_lanes
    from toolkit.errors import UsageError

    try:
        parse_lanes(value, "--parallel")
    except UsageError as error:
        raise argparse.ArgumentTypeError(error.message) from None
    return value


def run(args: argparse.Namespace) -> int:
    from toolkit.backend import Terminated, jobs_stopped_on_signals
    from toolkit.errors import EXIT_INTERRUPTED, EXIT_TERMINATED

    reporter = Reporter()
    # SIGTERM (a scheduler, `kill`, a closing CI job) is handled like Ctrl-C: the jobs this run started are
    # stopped (not orphaned), Hail removes its scratch folder, and the run says so and exits 143 (130 for
    # Ctrl-C). Outputs written before are registered by the next run, without rerunning their jobs.
    with jobs_stopped_on_signals() as stopped:
        try:
            return _run_all(args, reporter)
        except KeyboardInterrupt as interrupt:
            terminated = isinstance(interrupt, Terminated)
            reporter.fail(
                f"{'terminated (SIGTERM)' if terminated else 'interrupted'}: {stopped.describe()}, scratch "
                "folder removed, nothing more registered; the next run registers the outputs already written "
                "and runs the rest"
            )
            return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


def _run_all(args: argparse.Namespace, reporter: Reporter) -> int:
    import shlex

    from toolkit.cli._common import invocation, load_specs
    from toolkit.errors import JobsFailed
    from toolkit.pipeline import check_params_declared, parse_params
    from toolkit.query import select_sgids
    from toolkit.settings import open_settings

    specs = load_specs(args.specs)
    check_params_declared([loaded.model for loaded in specs], args.param)
    params = [parse_params(loaded.model, args.param, shared=len(specs) > 1) for loaded in specs]
    sgids = select_sgids(args.sgids)
    failures: list[str] = []
    planned_any = False
    with open_settings(args.project) as settings:
        if settings.embedded:
            reporter.step(f"embedded metadata server at {settings.metamist_url} (store under {settings.home})")
        lane_request = requested_lanes(args, settings)  # a wrong config value fails before anything runs
        for loaded, values in zip(specs, params, strict=True):
            if len(specs) > 1:
                reporter.line(f"== {loaded.model.name} ({args.specs[specs.index(loaded)]})")
            planned = [False]
            try:
                _run(args, loaded, values, sgids, settings, reporter, planned, lane_request)
            except JobsFailed as failed:
                # The next spec still runs: it sees what this one registered (and says what it lacks).
                reporter.fail(f"{loaded.model.name}: {failed.message}")
                failures.append(f"{loaded.model.name}: {failed.message}")
            finally:
                planned_any |= planned[0]
        project = settings.project
    if planned_any:
        reporter.line(
            f"look at the results: {invocation()} serve {' '.join(shlex.quote(s) for s in args.specs)} "
            f"--project {shlex.quote(project)}"
        )
    if failures:
        raise JobsFailed("; ".join(failures) if len(failures) > 1 else failures[0].split(": ", 1)[1])
    return 0


def output_fingerprints(job) -> dict:
    """Output name -> toolkit.fingerprint.Fingerprint of the job's outputs that exist. Each file is read once
    per run (when its job finished, for the journal; then for the Analysis' provenance)."""
    from cpg_utils.config import get_config

    from toolkit.fingerprint import fingerprint

    mirror = (get_config().get("toolkit") or {}).get("gcs_mirror")
    found = {}
    for name, out in job.outputs.items():
        if out.destination not in _FINGERPRINTS:
            _FINGERPRINTS[out.destination] = fingerprint(out.destination, mirror)
        if _FINGERPRINTS[out.destination] is not None:
            found[name] = _FINGERPRINTS[out.destination]
    return found


_FINGERPRINTS: dict[str, object] = {}  # destination -> its fingerprint (None: absent) in this process


def run_record(job, plan, result) -> dict:
    """What the job used, for its Analyses' provenance (and the next plan's time and cost model)."""
    import datetime

    finished = result.finished.get(job.id)
    when = (datetime.datetime.fromtimestamp(finished, datetime.timezone.utc) if finished is not None
            else datetime.datetime.now(datetime.timezone.utc))
    return {
        "job": job.id,
        "wall_seconds": result.durations.get(job.id),
        "cpu": job.resources.cpu,
        "memory_bytes": job.resources.memory_bytes,
        "storage_bytes": job.resources.storage_bytes,
        "input_bytes": job.unit.total_read_bytes,
        "execution": plan.execution,
        "finished": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def requested_lanes(args, settings) -> tuple[int | None, str]:
    """(jobs at a time or None for auto, where that came from): ``--parallel``, else the config's
    ``[toolkit] local_parallel``, else auto."""
    from toolkit.backend.lanes import parse_lanes

    if args.parallel is not None:
        return parse_lanes(args.parallel, "--parallel"), "--parallel"
    configured = (settings.config.get("toolkit") or {}).get("local_parallel")
    return parse_lanes(configured, "[toolkit] local_parallel"), "[toolkit] local_parallel ="


def _fully_registered(report, job) -> set[str]:
    """{job.id} when none of the job's registrations failed (its journal entries can go)."""
    return set() if any(group == job.id for group, _, _ in report.failed) else {job.id}


def _run(args, loaded, params, sgids, settings, reporter: Reporter, planned: list[bool],
         lane_request: tuple[int | None, str] = (None, "")) -> None:
    """One spec, start to end. ``planned[0]`` is set when it planned at least one job (done ones included).
    ``lane_request``: how many local jobs at a time were asked for, and by what (:func:`requested_lanes`)."""
    from toolkit.backend import check_host_tool, run_local, run_service
    from toolkit.backend.lanes import choose_lanes
    from toolkit.errors import JobsFailed, MetadataError
    from toolkit.journal import journal_for
    from toolkit.pipeline import exclusive_run, prepare_plan
    from toolkit.plan.model import Action
    from toolkit.registration import register_jobs
    from toolkit.registration.metrics import MetricsProblem, read_job_metrics

    spec = loaded.model
    with exclusive_run(settings.project, spec.name, reporter.step):
        prepared = prepare_plan(
            loaded, settings, sgids=sgids, params=params, execution=args.execution, force=args.force,
            keep_stale=args.keep_stale, progress=reporter.step,
        )
        plan = prepared.plan
        planned[0] = bool(plan.jobs)
        reporter.step(f"jobs run {prepared.execution_reason}; the command runs under {plan.shell}")
        for warning in plan.warnings:
            reporter.warn(warning)
        for rejection in plan.skipped:
            (reporter.fail if rejection.fatal else reporter.warn)(f"{rejection.group_id}: {rejection.reason}")
        fatal = [r for r in plan.skipped if r.fatal]
        if fatal:
            raise MetadataError(
                f"{len(fatal)} group(s) do not match the spec's expectations and inputs.expect.on_mismatch is "
                "`fail`: nothing was submitted"
            )
        for job in plan.jobs_with(Action.DONE):
            reporter.line(f"{shown(job.id)}: already done: {job.reason}")
        for job in plan.jobs_with(Action.STALE):
            reporter.warn(f"{shown(job.id)}: {shown(job.reason)}")

        to_run = plan.jobs_with(Action.RUN)
        if to_run and plan.execution == "host":
            check_host_tool(spec)

        register_only = plan.jobs_with(Action.REGISTER)
        for job in register_only:
            reporter.line(f"{shown(job.id)}: {job.reason}")
        for job in to_run:
            if job.reason != "new":
                reporter.line(f"{shown(job.id)}: runs: {shown(job.reason)}")

        # The journal says what each job set out to write (its reuse key) and what it wrote, so a run killed
        # before registering leaves outputs the next run can adopt exactly when nothing changed.
        journal = journal_for(spec.name)
        journal.append(
            {"event": "submitted", "destination": out.destination, "job": job.id, "key": job.reuse.digest,
             "reuse": job.reuse.record(), "command": job.command}
            for job in to_run for out in job.outputs.values()
        )

        def written(job) -> None:
            journal.append(
                {"event": "written", "destination": out.destination, "job": job.id, "key": job.reuse.digest,
                 "reuse": job.reuse.record(), "command": job.command,
                 **(record.record() if (record := output_fingerprints(job).get(name)) else {})}
                for name, out in job.outputs.items()
            )

        result = None
        metrics_failed: list[str] = []
        if to_run and plan.execution == "service":
            if args.parallel is not None:
                reporter.warn("--parallel is for local runs: the Hail Batch service schedules its own jobs")
            reporter.step(f"submitting {len(to_run)} job(s)")
            result = run_service(spec, plan)
            for job in to_run:
                if result.outcomes[job.id].succeeded:
                    written(job)
        elif to_run:
            lanes = choose_lanes(plan, *lane_request)
            at_a_time = f", {lanes.describe()}" if len(to_run) > 1 else ""
            reporter.step(f"submitting {len(to_run)} job(s){at_a_time}")
            # One progress display for the run, whichever lane a job ran in.
            with reporter.progress("jobs", len(to_run)) as advance:
                result = run_local(
                    spec, plan, report=lambda group_id, done, total: advance(f"{group_id} finished"),
                    on_written=written, lanes=lanes.count,
                )
        if result is not None:
            if result.stopped_early:
                reporter.fail(f"the batch stopped early ({result.stopped_early}); registering the jobs that finished")
            for group_id in result.failed:
                reporter.fail(f"{group_id}: {result.outcomes[group_id].detail}")

        succeeded = [job for job in to_run if result and result.outcomes[job.id].succeeded]
        # Metrics are part of a job's result: a job whose metrics file is missing or not of the declared shape
        # failed, and nothing of it is registered.
        job_meta: dict[str, dict] = {}
        for job in [*succeeded, *register_only]:
            job_meta[job.id] = {"outputs": {name: f.record() for name, f in output_fingerprints(job).items()}}
            if result is not None and job.id in result.outcomes:
                job_meta[job.id]["provenance"] = {"run": run_record(job, plan, result)}
            if not job.metrics:
                continue
            try:
                job_meta[job.id]["metrics"] = read_job_metrics(job)
            except MetricsProblem as problem:
                reporter.fail(f"{shown(job.id)}: {problem}")
                if result is not None and job.id in result.outcomes:
                    result.outcomes[job.id].succeeded = False
                    result.outcomes[job.id].detail = str(problem)
                metrics_failed.append(job.id)
        succeeded = [job for job in succeeded if job.id not in metrics_failed]
        register_only = [job for job in register_only if job.id not in metrics_failed]
        learnt = {"tool_version": result.tool_version} if result and result.tool_version else None
        report = register_jobs(plan, succeeded + register_only, extra_provenance=learnt, job_meta=job_meta)
        for registered in report.registered:
            if registered.created:
                replaced = (f" (replaces Analysis {', '.join(map(str, registered.replaced))}, now inactive)"
                            if registered.replaced else "")
                reporter.line(
                    f"{registered.group_id}: registered {registered.output} as Analysis {registered.analysis_id}{replaced}"
                )
            elif registered.retired:
                reporter.line(
                    f"{registered.group_id}: {registered.output} was registered meanwhile by another run "
                    f"(Analysis {registered.analysis_id}); this run's duplicate, Analysis {registered.retired}, "
                    "is now inactive"
                )
            else:
                reporter.line(
                    f"{registered.group_id}: {registered.output} was registered meanwhile "
                    f"(Analysis {registered.analysis_id}); not registering again"
                )
        for group_id, output, message in report.failed:
            reporter.fail(f"{group_id}: could not register {output}: {message}")
        # Metamist never hears of a failed job: the results page reads the failures from the journal. What is
        # registered now no longer needs it.
        failed_now = [*(result.failed if result else []), *(j for j in metrics_failed if not result or j not in result.outcomes)]
        journal.append([
            *({"event": "failed", "job": job_id, "detail": result.outcomes[job_id].detail if result and job_id in
               result.outcomes else "metrics"} for job_id in failed_now),
            *({"event": "succeeded", "job": job.id} for job in [*succeeded, *register_only]),
            *({"event": "registered", "destination": out.destination}
              for job in [*succeeded, *register_only] if job.id in _fully_registered(report, job)
              for out in job.outputs.values()),
        ])
        journal.compact()
        if journal.problem:
            reporter.warn(journal.problem)

    failed = (result.failed if result else []) + [job_id for job_id in metrics_failed if not result or job_id not in result.outcomes]
    done = plan.jobs_with(Action.DONE)
    reporter.line(
        f"summary: {len(succeeded)} succeeded, {len(failed)} failed, {len(plan.skipped)} skipped, "
        f"{len(done)} already done, {len(register_only)} registered from an earlier run; "
        f"{len(report.created)} Analyses created"
    )
    if failed or report.failed:
        problems = []
        if failed:
            problems.append(f"{len(failed)} job(s) failed: {', '.join(failed)}")
        if report.failed:
            problems.append(f"{len(report.failed)} registration(s) failed (rerun to register them; outputs are kept)")
        raise JobsFailed("; ".join(problems))
