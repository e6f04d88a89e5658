"""``toolkit run SPEC``: query, plan, run one job per group, register what succeeded, summarise."""

from __future__ import annotations

import argparse

from toolkit.cli._common import Reporter, add_selection_arguments, load_spec_showing_warnings


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
            return _run(args, reporter)
        except KeyboardInterrupt as interrupt:
            terminated = isinstance(interrupt, Terminated)
            reporter.fail(
                f"{'terminated (SIGTERM)' if terminated else 'interrupted'}: {stopped.describe()}, scratch "
                "folder removed, nothing more registered; the next run registers the outputs already written "
                "and runs the rest"
            )
            return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


def _run(args: argparse.Namespace, reporter: Reporter) -> int:
    from toolkit.backend import check_host_tool, run_local, run_service
    from toolkit.errors import JobsFailed, MetadataError
    from toolkit.pipeline import exclusive_run, parse_params, prepare_plan
    from toolkit.plan.model import Action
    from toolkit.query import select_sgids
    from toolkit.registration import register_jobs
    from toolkit.settings import open_settings

    loaded = load_spec_showing_warnings(args.spec)
    spec = loaded.model
    params = parse_params(spec, args.param)
    sgids = select_sgids(args.sgids)

    with open_settings(args.project) as settings, exclusive_run(settings.project, spec.name, reporter.step):
        if settings.embedded:
            reporter.step(f"embedded metadata server at {settings.metamist_url} (store under {settings.home})")
        prepared = prepare_plan(
            loaded, settings, sgids=sgids, params=params, execution=args.execution, probe_version=True, force=args.force,
            progress=reporter.step,
        )
        plan = prepared.plan
        reporter.step(f"jobs run {prepared.execution_reason}")
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
            reporter.line(f"{job.group.id}: already done: {job.reason}")

        to_run = plan.jobs_with(Action.RUN)
        if to_run and plan.execution == "host":
            check_host_tool(spec)

        register_only = plan.jobs_with(Action.REGISTER)
        for job in register_only:
            reporter.line(f"{job.group.id}: {job.reason}")

        result = None
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

        succeeded = [job for job in to_run if result and result.outcomes[job.group.id].succeeded]
        learnt = {"tool_version": result.tool_version} if result and result.tool_version else None
        report = register_jobs(plan, succeeded + register_only, replace=args.force, extra_provenance=learnt)
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

    failed = result.failed if result else []
    done = plan.jobs_with(Action.DONE)
    reporter.line(
        f"summary: {len(succeeded)} succeeded, {len(failed)} failed, {len(plan.skipped)} skipped, "
        f"{len(done)} already done, {len(register_only)} registered from an earlier run; "
        f"{len(report.created)} Analyses created"
    )
    if report.registered or done:
        hint = f"the registered outputs: toolkit outputs {args.spec}"
        if settings.embedded:
            hint += " (their display URLs are served while `toolkit metadata serve` runs)"
        reporter.line(hint)
    if failed or report.failed:
        problems = []
        if failed:
            problems.append(f"{len(failed)} job(s) failed: {', '.join(failed)}")
        if report.failed:
            problems.append(f"{len(report.failed)} registration(s) failed (rerun to register them; outputs are kept)")
        raise JobsFailed("; ".join(problems))
    return 0
