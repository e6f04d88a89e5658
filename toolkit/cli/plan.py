"""``toolkit plan SPEC [SPEC...]``: every job a run would submit, without running or writing anything.

With several specs each is planned against what Metamist holds now: a spec that takes its inputs from an
earlier one in the list sees that spec's outputs only once they are registered (``toolkit run`` runs them in
order).
"""

from __future__ import annotations

import argparse

from toolkit.cli._common import Reporter, add_selection_arguments, emit_json, load_specs, shown, table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_selection_arguments(parser)
    parser.add_argument(
        "--keep-stale", action="store_true",
        help="plan as `run --keep-stale` would: outputs registered with another reuse key are reported, not rerun",
    )
    parser.add_argument(
        "--force", action="store_true",
        help="plan as `run --force` would: every job run again, its Analyses replaced (with time and cost)",
    )
    parser.add_argument(
        "--format", choices=("table", "json"), default="table",
        help="table: for people (default); json: every job with its command, inputs, outputs, registrations",
    )


def run(args: argparse.Namespace) -> int:
    from toolkit.settings import open_settings

    # Metamist first: the embedded server's process (toolkit.metadata_server.forked) then builds itself while
    # this one imports the pipeline and loads the specs, instead of making the first question wait.
    with open_settings(args.project) as settings:
        return _plan(args, settings)


def _plan(args: argparse.Namespace, settings) -> int:
    from toolkit.pipeline import check_params_declared, parse_params, prepare_plan
    from toolkit.query import select_sgids

    specs = load_specs(args.specs)
    check_params_declared([loaded.model for loaded in specs], args.param)
    sgids = select_sgids(args.sgids)
    reporter = Reporter()
    prepared_plans = []
    for loaded in specs:
        params = parse_params(loaded.model, args.param, shared=len(specs) > 1)
        prepared_plans.append(prepare_plan(
            loaded, settings, sgids=sgids, params=params, execution=args.execution, keep_stale=args.keep_stale,
            force=args.force,
            progress=reporter.step if args.format == "table" else (lambda message: None),
            spool=args.format == "json",
        ))
    if args.format == "json":
        from toolkit.plan import gc_paused

        documents = [{**p.plan.to_dict(lazy_jobs=True), "execution_reason": p.execution_reason}
                     for p in prepared_plans]
        with gc_paused():
            emit_json(documents[0] if len(documents) == 1 else {"plans": documents})
        return 0
    for index, prepared in enumerate(prepared_plans):
        if index:
            print("\n" + "=" * 80 + "\n")
        print_plan(prepared.plan, prepared.execution_reason)
    return 0


def describe_estimate(estimate: dict | None) -> str:
    """``3 jobs to run, ~2 h 10 min of compute, ~$0.41 on the Hail Batch service (spot; $1.10 on demand)``."""
    from toolkit.plan.estimate import format_duration

    if not estimate or not estimate["jobs"]:
        return "nothing to run"
    jobs = f"{estimate['jobs']} job{'s' if estimate['jobs'] != 1 else ''} to run"
    if estimate["seconds"] is None:
        return f"{jobs}; time and cost unknown (no earlier runs of this spec in the project, and no `estimate:` hint)"
    unknown = f" ({estimate['jobs_unknown']} of them unknown: input sizes missing)" if estimate["jobs_unknown"] else ""
    def money(amount: float) -> str:
        return f"~${amount:.2f}" if amount >= 0.01 else "under $0.01"

    return (f"{jobs}, ~{format_duration(estimate['seconds'])} of compute{unknown}, {money(estimate['spot_cost'])} on the "
            f"Hail Batch service (spot; {money(estimate['on_demand_cost'])} on demand)")


def print_plan(plan, execution_reason: str) -> None:
    print(describe_estimate(plan.estimate))
    if plan.estimate and plan.estimate.get("model"):
        prices = plan.estimate["prices"]
        print(f"  throughput {plan.estimate['model']}; prices of {prices['read_on']} ({prices['source']})")
    print(f"jobspec {plan.spec_name} on project {plan.project}: image {plan.image}")
    unit = {"sequencing-group": "sequencing group", "read": "read file", "project": "project"}[plan.scope]
    print(f"one job per {unit}; jobs run {execution_reason}")
    print(f"the command runs under {plan.shell}")
    from toolkit.plan.estimate import format_duration

    rows = [
        (job.id, job.action.value, job.resources.cpu, job.resources.memory, job.resources.storage,
         format_duration(job.estimate.seconds) if job.estimate is not None else "", job.reason)
        for job in plan.jobs
    ]
    rows += [(r.group_id, "skip", "", "", "", "", r.reason) for r in plan.skipped]
    print()
    table(("job", "action", "cpu", "memory", "storage", "time", "why"), rows)
    # Ids, values and paths come from metadata: printed escaped, never as terminal control sequences.
    for job in plan.jobs:
        print(f"\n# {shown(job.id)} ({job.action.value})")
        print(shown(job.command.rstrip(), multiline=True))
        for out in job.outputs.values():
            line = f"  -> {out.name}: {out.destination}"
            if out.display_url:
                line += f"  ({out.display_url})"
            print(shown(line))
        for reg in job.registrations:
            state = f"exists as Analysis {reg.existing_id}" if reg.existing_id else "to register"
            targets = ", ".join(reg.sequencing_group_ids) if len(reg.sequencing_group_ids) <= 5 else (
                f"{', '.join(reg.sequencing_group_ids[:5])} and {len(reg.sequencing_group_ids) - 5} more")
            print(shown(f"  registers {reg.output} as Analysis type={reg.type} status={reg.status} for {targets} ({state})"))
    counts = plan.to_dict()["summary"]
    stale = f", {counts['stale']} stale (kept)" if counts["stale"] else ""
    print(
        f"\n{counts['run']} to run, {counts['register']} to register only, {counts['done']} already done{stale}, "
        f"{counts['skipped']} skipped"
    )
    for warning in plan.warnings:
        print(f"warning: {shown(warning)}")
