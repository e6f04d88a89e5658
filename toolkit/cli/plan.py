"""``toolkit plan SPEC``: every job a run would submit, without running or writing anything."""

from __future__ import annotations

import argparse

from toolkit.cli._common import Reporter, add_selection_arguments, emit_json, load_spec_showing_warnings, shown, table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_selection_arguments(parser)
    parser.add_argument("--format", choices=("table", "json"), default="table")


def run(args: argparse.Namespace) -> int:
    from toolkit.pipeline import parse_params, prepare_plan
    from toolkit.query import select_sgids
    from toolkit.settings import open_settings

    loaded = load_spec_showing_warnings(args.spec)
    params = parse_params(loaded.model, args.param)
    sgids = select_sgids(args.sgids)
    reporter = Reporter()
    with open_settings(args.project) as settings:
        prepared = prepare_plan(
            loaded, settings, sgids=sgids, params=params, execution=args.execution,
            progress=reporter.step if args.format == "table" else (lambda message: None),
        )
    plan = prepared.plan
    if args.format == "json":
        emit_json({**plan.to_dict(), "execution_reason": prepared.execution_reason})
        return 0
    print_plan(plan, prepared.execution_reason)
    return 0


def print_plan(plan, execution_reason: str) -> None:
    print(f"jobspec {plan.spec_name} on project {plan.project}: image {plan.image}")
    print(f"jobs run {execution_reason}")
    rows = [
        (job.group.id, job.action.value, job.resources.cpu, job.resources.memory, job.resources.storage, job.reason)
        for job in plan.jobs
    ]
    rows += [(r.group_id, "skip", "", "", "", r.reason) for r in plan.skipped]
    print()
    table(("group", "action", "cpu", "memory", "storage", "why"), rows)
    # Ids, values and paths come from metadata: printed escaped, never as terminal control sequences.
    for job in plan.jobs:
        print(f"\n# {shown(job.group.id)} ({job.action.value})")
        print(shown(job.command.rstrip(), multiline=True))
        for out in job.outputs.values():
            line = f"  -> {out.name}: {out.destination}"
            if out.display_url:
                line += f"  ({out.display_url})"
            print(shown(line))
        for reg in job.registrations:
            state = f"exists as Analysis {reg.existing_id}" if reg.existing_id else "to register"
            print(f"  registers {reg.output} as Analysis type={reg.type} status={reg.status} ({state})")
    counts = plan.to_dict()["summary"]
    print(
        f"\n{counts['run']} to run, {counts['register']} to register only, {counts['done']} already done, "
        f"{counts['skipped']} skipped"
    )
    for warning in plan.warnings:
        print(f"warning: {shown(warning)}")
