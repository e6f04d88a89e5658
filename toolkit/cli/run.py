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
        help="rerun groups that are already done; their new Analysis replaces the old one (made inactive)",
    )


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
        for loaded, values in zip(specs, params, strict=True):
            if len(specs) > 1:
                reporter.line(f"== {loaded.model.name} ({args.specs[specs.index(loaded)]})")
            try:
                planned_any |= _run(args, loaded, values, sgids, settings, reporter)
            except JobsFailed as failed:
                # The next spec still runs: it sees what this one registered (and says what it lacks).
                reporter.fail(f"{loaded.model.name}: {failed.message}")
                failures.append(f"{loaded.model.name}: {failed.message}")
        project = settings.project
    if planned_any:
        reporter.line(
            f"look at the results: {invocation()} serve {' '.join(shlex.quote(s) for s in args.specs)} "
            f"--project {shlex.quote(project)}"
        )
    if failures:
        raise JobsFailed("; ".join(failures) if len(failures) > 1 else failures[0].split(": ", 1)[1])
    return 0


def _run(args, loaded, params, sgids, settings, reporter: Reporter) -> bool:
    """One spec, start to end. True when it planned at least one job (done ones included)."""
    from toolkit.backend import check_host_tool, run_local, run_service
    from toolkit.errors import JobsFailed, MetadataError
    from toolkit.pipeline import exclusive_run, prepare_plan
    from toolkit.plan.model import Action
    from toolkit.registration import register_jobs
    from toolkit.registration.metrics import MetricsProblem, read_job_metrics

    spec = loaded.model
    with exclusive_run(settings.project, spec.name, reporter.step):
        prepared = prepare_plan(
            loaded, settings, sgids=sgids, params=params, execution=args.execution, probe_version=True, force=args.force,
            progress=reporter.step,
        )
        plan = prepared.plan
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
            reporter.line(f"{job.id}: already done: {job.reason}")

        to_run = plan.jobs_with(Action.RUN)
        if to_run and plan.execution == "host":
            check_host_tool(spec)

        register_only = plan.jobs_with(Action.REGISTER)
        for job in register_only:
            reporter.line(f"{job.id}: {job.reason}")

        result = None
        metrics_failed: list[str] = []
        if to_run:
            reporter.step(f"submitting {len(to_run)} job(s)")
            if plan.execution == "service":
                result = run_service(spec, plan)
            else:
                with reporter.progress("jobs", len(to_run)) as advance:
                    result = run_local(spec, plan, report=lambda group_id, done, total: advance(f"{group_id} finished"))
            if result.stopped_early:
                reporter.fail(f"the batch stopped early ({result.stopped_early}); registering the jobs that finished")
            for group_id in result.failed:
                reporter.fail(f"{group_id}: {result.outcomes[group_id].detail}")

        succeeded = [job for job in to_run if result and result.outcomes[job.id].succeeded]
        # Metrics are part of a job's result: a job whose metrics file is missing or not of the declared shape
        # failed, and nothing of it is registered.
        job_meta: dict[str, dict] = {}
        for job in [*succeeded, *register_only]:
            if not job.metrics:
                continue
            try:
                job_meta[job.id] = {"metrics": read_job_metrics(job)}
            except MetricsProblem as problem:
                reporter.fail(f"{shown(job.id)}: {problem}")
                if result is not None and job.id in result.outcomes:
                    result.outcomes[job.id].succeeded = False
                    result.outcomes[job.id].detail = str(problem)
                metrics_failed.append(job.id)
        succeeded = [job for job in succeeded if job.id not in metrics_failed]
        register_only = [job for job in register_only if job.id not in metrics_failed]
        learnt = {"tool_version": result.tool_version} if result and result.tool_version else None
        report = register_jobs(
            plan, succeeded + register_only, replace=args.force, extra_provenance=learnt, job_meta=job_meta
        )
        for registered in report.registered:
            if registered.created:
                replaced = f" (replaces Analysis {registered.replaced}, now inactive)" if registered.replaced else ""
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
        if result is not None:
            from toolkit.results.runs import record_run

            # Metamist never hears of a failed job: the results page reads the failures from this record.
            problem = record_run(
                spec.name, {gid: result.outcomes[gid].detail for gid in result.failed}, result.succeeded
            )
            if problem:
                reporter.warn(problem)

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
    return bool(plan.jobs)
