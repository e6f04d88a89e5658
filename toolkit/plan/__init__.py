"""Plan stage: expand groups into jobs (rendered command, outputs, resources, registrations, action).

``make_plan`` is pure: everything it needs from the outside world (where outputs go, which outputs exist,
which Analyses Metamist already has) comes in through a :class:`PlanContext`, so the same function serves
``toolkit plan``, ``toolkit run``, spec tests and the benchmark.
"""

from __future__ import annotations

import functools
import gc
import math
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from toolkit import __version__
from toolkit.plan.model import Action, Plan, PlannedJob, PlannedOutput, PlannedRegistration, Resources
from toolkit.plan.names import id_problem, job_name
from toolkit.plan.render import CommandContext, RenderError, render_command, render_output_path, render_text
from toolkit.query.groups import Group, GroupSet, Rejection
from toolkit.spec.models import JobSpec, ResourcesSection, parse_size

__all__ = ["Action", "Plan", "PlannedJob", "PlanContext", "make_plan", "resolve_resources", "registration_uri"]

GIB = 1024**3


@dataclass
class PlanContext:
    project: str
    image: str
    execution: str
    spec_path: str
    spec_sha256: str
    output_location: Callable[[str, str], str]  # (suffix, category) -> destination path / URI
    display_url: Callable[[str], str | None] = lambda suffix: None  # web suffix -> URL
    output_exists: Callable[[str], bool] = lambda destination: False
    existing_analyses: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (type, output uri) -> id
    params: dict[str, Any] = field(default_factory=dict)
    tool_version: str | None = None
    image_id: str | None = None  # the engine's image id (sha256 of its config) when jobs run in containers
    force: bool = False  # rerun every group; registering then replaces (deactivates) the earlier Analysis


def registration_uri(destination: str) -> str:
    """Metamist refuses outputs without a scheme; local files are registered as file:// URIs."""
    if "://" in destination:
        return destination
    return "file://" + os.path.abspath(destination)


def _format_gib(size: int) -> str:
    return f"{max(1, math.ceil(size / GIB))}Gi"


@functools.lru_cache(maxsize=64)
def _sizes(section: ResourcesSection) -> tuple[int, int, int | None]:
    """(memory, storage floor, fixed storage or None) in bytes, parsed once per spec, not once per group."""
    fixed = None if section.storage == "auto" else parse_size(section.storage)
    return parse_size(section.memory), parse_size(section.storage_floor), fixed


def resolve_resources(section: ResourcesSection, group: Group) -> Resources:
    memory_bytes, floor, fixed = _sizes(section)
    if fixed is not None:
        return Resources(
            cpu=section.cpu, memory=section.memory, storage=section.storage, memory_bytes=memory_bytes,
            storage_bytes=fixed, storage_reason="fixed in the spec",
        )
    reads_bytes = group.total_read_bytes
    if reads_bytes is None:
        storage_bytes = floor
        reason = "auto: read sizes unknown in Metamist, using the floor"
    else:
        storage_bytes = math.ceil(reads_bytes * section.storage_margin) + floor
        reason = f"auto: {reads_bytes} bytes of reads x {section.storage_margin} + {section.storage_floor} floor"
    storage = _format_gib(storage_bytes)
    return Resources(
        cpu=section.cpu,
        memory=section.memory,
        storage=storage,
        memory_bytes=memory_bytes,
        storage_bytes=max(1, math.ceil(storage_bytes / GIB)) * GIB,
        storage_reason=reason,
    )


def _group_slot(group: Group) -> dict[str, Any]:
    return {**group.fields, "id": group.id}


def _resources_slot(resources: Resources) -> dict[str, Any]:
    return {"cpu": resources.cpu, "memory": resources.memory, "storage": resources.storage}


def _plan_one(spec: JobSpec, group: Group, ctx: PlanContext) -> PlannedJob:
    resources = resolve_resources(spec.resources, group)
    text_context = CommandContext(
        reads=[read.location for read in group.reads],
        outputs={},
        group=_group_slot(group),
        params=ctx.params,
        resources=_resources_slot(resources),
    )
    outputs: dict[str, PlannedOutput] = {}
    for name, output in spec.outputs.items():
        suffix = render_output_path(output.path, text_context, name=f"outputs.{name}.path")
        destination = ctx.output_location(suffix, output.category)
        outputs[name] = PlannedOutput(
            name=name,
            category=output.category,
            suffix=suffix,
            destination=destination,
            uri=registration_uri(destination),
            display_url=ctx.display_url(suffix) if output.category == "web" else None,
        )

    command_context = CommandContext(
        reads=[read.location for read in group.reads],
        outputs={name: out.destination for name, out in outputs.items()},
        group=_group_slot(group),
        params=ctx.params,
        resources=_resources_slot(resources),
    )
    command = render_command(spec.command, command_context)

    registrations = []
    for output_name, register in spec.register.items():
        out = outputs[output_name]
        meta: dict[str, Any] = {
            key: (render_text(value, command_context, name=f"register.{output_name}.meta.{key}") if isinstance(value, str) else value)
            for key, value in register.meta.items()
        }
        if out.display_url:
            meta.setdefault("display_url", out.display_url)
        meta["jobspec"] = spec.name
        meta["provenance"] = {
            "jobspec": spec.name,
            "jobspec_path": ctx.spec_path,
            "jobspec_sha256": ctx.spec_sha256,
            "image": ctx.image,
            **({"image_id": ctx.image_id} if ctx.image_id else {}),
            "command": command,
            "toolkit_version": __version__,
            **({"tool_version": ctx.tool_version} if ctx.tool_version else {}),
        }
        registrations.append(
            PlannedRegistration(
                output=output_name,
                type=register.type,
                status=register.status,
                output_uri=out.uri,
                sequencing_group_ids=(group.id,),
                meta=meta,
                existing_id=ctx.existing_analyses.get((register.type, out.uri)),
            )
        )

    action, reason = _decide(outputs, registrations, ctx)
    return PlannedJob(
        group=group,
        action=action,
        reason=reason,
        name=job_name(spec.name, group.id),
        image=ctx.image,
        command=command,
        outputs=outputs,
        resources=resources,
        registrations=tuple(registrations),
    )


def _decide(
    outputs: dict[str, PlannedOutput], registrations: list[PlannedRegistration], ctx: PlanContext
) -> tuple[Action, str]:
    if ctx.force:
        replaced = [str(reg.existing_id) for reg in registrations if reg.existing_id is not None]
        return Action.RUN, "forced" + (f": will replace Analysis {', '.join(replaced)}" if replaced else "")
    if registrations and all(reg.existing_id is not None for reg in registrations):
        ids = ", ".join(str(reg.existing_id) for reg in registrations)
        return Action.DONE, f"already registered (Analysis {ids})"
    missing = [out.name for out in outputs.values() if not ctx.output_exists(out.destination)]
    if not missing:
        if not registrations:
            return Action.DONE, "every output exists (nothing to register)"
        return Action.REGISTER, "outputs of an earlier run exist but are not registered: registering them"
    return Action.RUN, "new" if len(missing) == len(outputs) else f"output(s) missing: {', '.join(missing)}"


@contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while building many long-lived objects.

    A plan (and a Hail batch) of 10,000 groups allocates hundreds of thousands of small objects that all stay
    alive; the collector would walk them over and over for nothing (about a third of the time at that size).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def make_plan(spec: JobSpec, groups: GroupSet, ctx: PlanContext) -> Plan:
    with gc_paused():
        return _make_plan(spec, groups, ctx)


def _make_plan(spec: JobSpec, groups: GroupSet, ctx: PlanContext) -> Plan:
    plan = Plan(
        spec_name=spec.name,
        spec_path=ctx.spec_path,
        spec_sha256=ctx.spec_sha256,
        project=ctx.project,
        image=ctx.image,
        execution=ctx.execution,
        params=dict(ctx.params),
        skipped=list(groups.rejections),
    )
    seen_destinations: dict[str, str] = {}
    for group in groups.groups:
        # One group's bad metadata (an id that cannot name a file, a value no command or path can hold)
        # rejects that group with its reason; the other groups are planned, run and registered.
        problem = id_problem(group.id)
        if problem:
            plan.skipped.append(Rejection(group.id, problem))
            continue
        try:
            job = _plan_one(spec, group, ctx)
        except RenderError as error:
            plan.skipped.append(Rejection(group.id, error.message))
            continue
        for out in job.outputs.values():
            other = seen_destinations.setdefault(out.destination, group.id)
            if other != group.id:
                # Two groups writing one file would silently overwrite each other's results.
                from toolkit.errors import SpecError
                from toolkit.spec.diagnostics import Diagnostic

                raise SpecError(
                    [
                        Diagnostic(
                            file=ctx.spec_path, line=1, column=1,
                            message=f"outputs.{out.name}.path gives the same file for groups {other} and {group.id}"
                            f" ({out.destination}); include {{{{ group.id }}}} in the path",
                        )
                    ],
                    source_name=ctx.spec_path,
                )
        plan.jobs.append(job)
    unsized = [job.group.id for job in plan.jobs if "unknown" in job.resources.storage_reason]
    if unsized:
        shown = ", ".join(unsized[:5]) + (f" and {len(unsized) - 5} more" if len(unsized) > 5 else "")
        plan.warnings.append(
            f"storage: auto, but Metamist records no read sizes for {shown}: those jobs get only "
            f"resources.storage_floor ({spec.resources.storage_floor})"
        )
    return plan
