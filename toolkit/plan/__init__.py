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
from typing import Any, Callable, Iterable, Mapping, Protocol

from toolkit import __version__
from toolkit.errors import MetadataError
from toolkit.journal import JournalState
from toolkit.plan.model import Action, Plan, PlannedJob, PlannedOutput, PlannedRegistration, Resources, WorkUnit
from toolkit.plan.names import hail_label, id_problem, job_name_prefix
from toolkit.render import (
    CommandContext, RenderError, constant_text, render_command, render_output_path, render_value,
)
from toolkit.plan.reuse import InputIdentity, ReuseKey, describe_changes
from toolkit.query.groups import Group, GroupSet, Read, Rejection
from toolkit.text import shown
from toolkit.spec.models import JobSpec, ResourcesSection, parse_size

__all__ = ["Action", "JobSink", "Plan", "PlannedJob", "PlanContext", "PlanShare", "joined_plan", "make_plan", "plan_share",
           "resolve_resources", "registration_uri"]

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
    # (type, output uri) -> this spec's active Analyses of that output, oldest first
    existing_analyses: Mapping[tuple[str, str], list[Existing]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    tool_version: str | None = None
    image_id: str | None = None  # the engine's image id (sha256 of its config) when jobs run in containers
    # What identifies the image in the reuse key: its digest (locked), its build content key, or on the host
    # the tool's version (toolkit.pipeline.image_identity).
    image_identity: str = ""
    force: bool = False  # rerun every group; registering then replaces (deactivates) the earlier Analysis
    keep_stale: bool = False  # report outputs whose reuse key changed instead of rerunning them
    journal: JournalState | None = None  # what earlier runs wrote (toolkit.journal): adopting leftovers
    output_fingerprint: Callable[[str], Any] | None = None  # destination -> toolkit.fingerprint.Fingerprint | None


@dataclass(frozen=True)
class Existing:
    """One of the spec's active Analyses of an output, as much as deciding reuse needs."""

    id: int
    status: str  # REST spelling: completed, in-progress...
    reuse: Mapping[str, Any] | None  # its meta.provenance.reuse (None: registered without a key)
    command: str | None  # its meta.provenance.command


def registration_uri(destination: str) -> str:
    """Metamist refuses outputs without a scheme; local files are registered as file:// URIs."""
    if "://" in destination:
        return destination
    if destination[:1] == "/" and "//" not in destination and "/." not in destination and destination[-1:] != "/":
        return "file://" + destination  # absolute and already normal: what abspath would give
    return "file://" + os.path.abspath(destination)


@functools.lru_cache(maxsize=64)
def _sizes(memory: str, storage_floor: str, storage: str) -> tuple[int, int, int | None]:
    """(memory, storage floor, fixed storage or None) in bytes, parsed once per spec, not once per group (keyed
    by the texts: hashing the spec's section, a pydantic model, took as long as parsing them)."""
    fixed = None if storage == "auto" else parse_size(storage)
    return parse_size(memory), parse_size(storage_floor), fixed


def resolve_resources(section: ResourcesSection, unit: WorkUnit | Group) -> Resources:
    memory_bytes, floor, fixed = _sizes(section.memory, section.storage_floor, section.storage)
    if fixed is not None:
        return Resources(
            cpu=section.cpu, memory=section.memory, storage=section.storage, memory_bytes=memory_bytes,
            storage_bytes=fixed, storage_reason="fixed in the spec",
        )
    reads_bytes = unit.total_read_bytes
    if reads_bytes is None:
        storage_bytes = floor
        reason = "auto: read sizes unknown in Metamist, using the floor"
    else:
        storage_bytes = math.ceil(reads_bytes * section.storage_margin) + floor
        reason = f"auto: {reads_bytes} bytes of reads x {section.storage_margin} + {section.storage_floor} floor"
    gib = max(1, math.ceil(storage_bytes / GIB))
    return Resources(
        cpu=section.cpu,
        memory=section.memory,
        storage=f"{gib}Gi",
        memory_bytes=memory_bytes,
        storage_bytes=gib * GIB,
        storage_reason=reason,
    )


def _group_slot(group: Group) -> dict[str, Any]:
    return {**group.fields, "id": group.id}


def _resources_slot(resources: Resources) -> dict[str, Any]:
    return {"cpu": resources.cpu, "memory": resources.memory, "storage": resources.storage}


def read_fields(read: Read, position: int) -> dict[str, Any]:
    """The ``read`` slot's values besides its path (which is the localised file)."""
    return {"location": read.location, "basename": read.basename, "size": read.size, "checksum": read.checksum,
            "position": position}


def unit_context(
    unit: WorkUnit, *, project: str, params: Mapping[str, Any], resources: Resources,
    read_paths: list[str], outputs: Mapping[str, str],
) -> CommandContext:
    """The template slots of one job. ``read_paths`` stand for ``unit.reads`` in order: their locations when
    planning, Hail's localised files when building the batch (toolkit.backend)."""
    if len(read_paths) != len(unit.reads):
        raise ValueError(f"{len(read_paths)} read paths for the {len(unit.reads)} reads of {unit.id}")
    read = None
    if unit.scope == "read":
        read = {"path": read_paths[0], **read_fields(unit.reads[0], unit.position or 1)}
    groups = None
    if unit.scope == "project":
        path_of = dict(zip((read.location for read in unit.reads), read_paths, strict=True))
        groups = [{**_group_slot(member), "reads": [path_of[r.location] for r in member.reads]} for member in unit.members]
    return CommandContext(
        reads=read_paths,
        outputs=dict(outputs),
        group=_group_slot(unit.group) if unit.group is not None else {},
        params=params,
        resources=_resources_slot(resources),
        read=read,
        groups=groups,
        project=project,
        job_id=unit.id,
    )


def expand_units(spec: JobSpec, groups: Iterable[Group], project: str) -> list[WorkUnit]:
    """The jobs a scope makes of the groups (see WorkUnit). Two jobs with one id are refused here, before
    anything runs: they would write, and register, the same outputs."""
    groups = list(groups)
    if spec.scope == "project":
        if not groups:
            return []
        reads = tuple(read for group in groups for read in group.reads)
        return [WorkUnit(id=project, scope="project", group=None, members=tuple(groups), reads=reads)]
    if spec.scope == "sequencing-group":
        return [WorkUnit(id=g.id, scope=spec.scope, group=g, members=(g,), reads=g.reads) for g in groups]
    units = []
    for group in groups:
        seen: dict[str, int] = {}
        for position, read in enumerate(group.reads, start=1):
            if read.location in seen:
                raise MetadataError(
                    f"group {shown(group.id)} lists the read {shown(read.location)} twice (reads {seen[read.location]} "
                    f"and {position}): with scope: read that would be two jobs writing the same outputs",
                    hint="fix the group's metadata in Metamist, or use scope: sequencing-group",
                )
            seen[read.location] = position
            units.append(WorkUnit(id=f"{group.id}/{position}", scope="read", group=group, members=(group,),
                                  reads=(read,), position=position))
    return units


def render_meta(value: Any, context: CommandContext, name: str) -> Any:
    """A ``register.NAME.meta`` value: strings are templates (a lone expression keeps its JSON type, so
    ``{{ reads | length }}`` gives 2, not "2"); lists and mappings are rendered item by item."""
    if isinstance(value, str):
        return render_value(value, context, name=name)
    if isinstance(value, dict):
        return {key: render_meta(item, context, f"{name}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return [render_meta(item, context, f"{name}[{index}]") for index, item in enumerate(value)]
    return value


@dataclass
class _PlanConstants:
    """What every job of one plan shares, worked out once per plan rather than once per job (a plan of 100,000
    jobs makes each of these 100,000 times otherwise)."""

    shell: str  # the shell options, as the plan and the provenance describe them
    image_key: str  # the image as the reuse key names it
    name_prefix: str  # the Hail job name's first word and its space
    metrics: dict[str, dict[str, str]]  # the spec's metrics outputs (read only: shared by the jobs)
    provenance_head: dict[str, Any]  # the provenance record's entries before the command...
    provenance_tail: dict[str, Any]  # ...and after the reuse key
    outputs: list[tuple[str, Any, str]]  # each output: name, section, and what errors call its path
    # Each registered output: name, section, and its meta as (key, template, the value when it is the same for
    # every job or _VARIES, what errors call it).
    registers: list[tuple[str, Any, list[tuple[str, Any, Any, str]]]]

    @classmethod
    def of(cls, spec: JobSpec, ctx: PlanContext) -> _PlanConstants:
        head: dict[str, Any] = {"jobspec": spec.name, "jobspec_path": ctx.spec_path, "jobspec_sha256": ctx.spec_sha256,
                                "image": ctx.image}
        if ctx.image_id:
            head["image_id"] = ctx.image_id
        tail: dict[str, Any] = {"toolkit_version": __version__}
        if ctx.tool_version:
            tail["tool_version"] = ctx.tool_version
        registers = [
            (name, register, [(key, value, _constant_meta(value), f"register.{name}.meta.{key}")
                              for key, value in register.meta.items()])
            for name, register in spec.register.items()
        ]
        return cls(shell=spec.shell.describe(), image_key=ctx.image_identity or ctx.image,
                   name_prefix=job_name_prefix(spec.name), metrics=spec.metrics_outputs, provenance_head=head,
                   provenance_tail=tail,
                   outputs=[(name, output, f"outputs.{name}.path") for name, output in spec.outputs.items()],
                   registers=registers)


_VARIES = object()


def _constant_meta(value: Any) -> Any:
    """What :func:`render_meta` gives for ``value`` in every job, or _VARIES (a template that inserts a value;
    a list or mapping, which each job gets a copy of)."""
    if isinstance(value, str):
        text = constant_text(value)
        return _VARIES if text is None else text
    return _VARIES if isinstance(value, (dict, list)) else value


def _with_outputs(context: CommandContext, outputs: dict[str, str]) -> CommandContext:
    """``context`` with the job's output destinations (its other slots shared, not rebuilt)."""
    return CommandContext(reads=context.reads, outputs=outputs, group=context.group, params=context.params,
                          resources=context.resources, read=context.read, groups=context.groups,
                          project=context.project, job_id=context.job_id)


def _plan_one(spec: JobSpec, unit: WorkUnit, ctx: PlanContext, constants: _PlanConstants) -> PlannedJob:
    resources = resolve_resources(spec.resources, unit)
    locations = [read.location for read in unit.reads]
    text_context = unit_context(unit, project=ctx.project, params=ctx.params, resources=resources,
                                read_paths=locations, outputs={})
    outputs: dict[str, PlannedOutput] = {}
    for name, output, path_name in constants.outputs:
        suffix = render_output_path(output.path, text_context, name=path_name)
        destination = ctx.output_location(suffix, output.category)
        outputs[name] = PlannedOutput(
            name=name,
            category=output.category,
            suffix=suffix,
            destination=destination,
            uri=registration_uri(destination),
            display_url=ctx.display_url(suffix) if output.category == "web" else None,
        )

    command_context = _with_outputs(text_context, {name: out.destination for name, out in outputs.items()})
    command = render_command(spec.command, command_context)
    key = ReuseKey(
        command=command,
        image=constants.image_key,
        params=ctx.params,
        inputs=tuple(InputIdentity(read.location, read.size, read.checksum) for read in unit.reads),
        shell=constants.shell,
        upstream=tuple(sorted({read.analysis_id for read in unit.reads if read.analysis_id is not None})),
    )

    # One provenance record per job, shared by its registrations (registration copies before adding to it): at
    # 100,000 jobs a copy per output was 150 MB.
    provenance = {**constants.provenance_head, "command": command, "shell": constants.shell, "reuse": key.record(),
                  **constants.provenance_tail}
    registrations = []
    for output_name, register, meta_items in constants.registers:
        out = outputs[output_name]
        meta: dict[str, Any] = {
            key: render_meta(value, command_context, name) if constant is _VARIES else constant
            for key, value, constant, name in meta_items
        }
        if out.display_url:
            meta.setdefault("display_url", out.display_url)
        meta["jobspec"] = spec.name
        meta["jobspec_output"] = output_name  # what `inputs.from_jobspec` of another spec finds it by
        if unit.scope == "read":
            meta["read"] = {"location": unit.reads[0].location, "position": unit.position}
        meta["provenance"] = provenance
        registrations.append(
            PlannedRegistration(
                output=output_name,
                type=register.type,
                status=register.status,
                output_uri=out.uri,
                sequencing_group_ids=unit.targets,
                meta=meta,
                reuse_key=key.digest,
            )
        )

    action, reason, registrations = _decide(outputs, registrations, key, ctx)
    return PlannedJob(
        unit=unit,
        action=action,
        reason=reason,
        name=constants.name_prefix + hail_label(unit.id),
        image=ctx.image,
        command=command,
        outputs=outputs,
        resources=resources,
        registrations=tuple(registrations),
        metrics=constants.metrics,
        reuse=key,
    )


def _decide(
    outputs: dict[str, PlannedOutput], registrations: list[PlannedRegistration], key: ReuseKey, ctx: PlanContext
) -> tuple[Action, str, list[PlannedRegistration]]:
    """Run, register only, or done (docs/jobspec.md, "Reruns"): an output is done when one of the spec's active
    Analyses of it carries the same reuse key and status; one with another key is stale, and rerun (its
    Analysis then replaced) unless ``keep_stale``. The registrations are the job's own, made for it just
    before: what is decided about each is filled in (not copied: a plan of 100,000 done jobs copied 200,000)."""
    decided: list[PlannedRegistration] = []
    done_ids: list[int] = []
    stale_reasons: list[str] = []
    existing = ctx.existing_analyses
    digest = key.digest
    for registration in registrations:
        active = existing.get((registration.type, registration.output_uri), ()) if existing else ()
        if not active:  # the output has no Analysis yet (every output of a new project): nothing to compare
            decided.append(registration)
            continue
        same = next((a for a in active if a.reuse and a.reuse.get("key") == digest and a.status == registration.status),
                    None)
        if same is not None and not ctx.force:
            done_ids.append(same.id)
            registration.existing_id = same.id
            decided.append(registration)
            continue
        if active and not ctx.force:
            newest = active[-1]
            for reason in describe_changes(newest.reuse, newest.command, key):
                if reason not in stale_reasons:
                    stale_reasons.append(reason)
        # What this job's new Analysis replaces once registered: every active one of the output (a stale
        # key, or with --force the same one).
        registration.replaces = tuple(a.id for a in active)
        decided.append(registration)
    if ctx.force:
        replaced = sorted({i for r in decided for i in r.replaces})
        return Action.RUN, "forced" + (f": will replace Analysis {', '.join(map(str, replaced))}" if replaced else ""), decided
    if registrations and len(done_ids) == len(registrations):
        return Action.DONE, f"already registered (Analysis {', '.join(map(str, done_ids))})", decided
    if stale_reasons:
        why = "; ".join(stale_reasons[:3]) + (f"; and {len(stale_reasons) - 3} more" if len(stale_reasons) > 3 else "")
        if ctx.keep_stale:
            return Action.STALE, f"stale, kept (--keep-stale): {why}", decided
        return Action.RUN, f"stale: {why}", decided
    missing = [out.name for out in outputs.values() if not ctx.output_exists(out.destination)]
    if not missing:
        adopt, why = _adoptable(outputs, key, ctx)
        if adopt and not registrations:
            return Action.DONE, "every output exists, written by an earlier run (nothing to register)", decided
        if adopt:
            return Action.REGISTER, "outputs of an earlier run with the same reuse key exist but are not registered: registering them", decided
        return Action.RUN, why, decided
    return Action.RUN, "new" if len(missing) == len(outputs) else f"output(s) missing: {', '.join(missing)}", decided


def _adoptable(outputs: dict[str, PlannedOutput], key: ReuseKey, ctx: PlanContext) -> tuple[bool, str]:
    """May the outputs found at the job's destinations be registered as this job's? Only when the journal says
    this spec wrote each of them, with the planned reuse key, and the file is still the one written
    (toolkit.journal); otherwise why not."""
    journal = ctx.journal.outputs if ctx.journal is not None else {}
    for out in outputs.values():
        entry = journal.get(out.destination)
        if entry is None:
            return False, (f"{out.name} exists at its destination but no run of this spec recorded writing it: "
                           "not adopting a file it did not write (running the job)")
        if entry.get("key") != key.digest:
            changes = describe_changes(entry.get("reuse"), entry.get("command"), key)
            return False, (f"{out.name} was left by an earlier run with another reuse key ({'; '.join(changes[:2])}): "
                           "running the job")
        if entry.get("event") != "written":
            return False, (f"an earlier run of this spec stopped before it recorded writing {out.name}: "
                           "not adopting the file found there (running the job)")
        now = ctx.output_fingerprint(out.destination) if ctx.output_fingerprint is not None else None
        if now is None or now.checksum != entry.get("checksum"):
            return False, f"{out.name} was changed after an earlier run wrote it: running the job"
    return True, ""


@contextmanager
def gc_paused(*, freeze: bool = False):
    """Pause the cyclic garbage collector while building many long-lived objects.

    A plan (and a Hail batch) of 10,000 groups allocates hundreds of thousands of small objects that all stay
    alive; the collector would walk them over and over for nothing (about a third of the time at that size).

    ``freeze``: for objects that live as long as the command (a plan): in the toolkit program
    (toolkit.process) they are moved out of the collector's sight (``gc.freeze``), else the first collection
    after the pause walks every one of them (0.2 s at 10,000 groups). Never for what is made again and again (a
    lane's one-job batches): a frozen garbage cycle is never freed.
    """
    from toolkit import process

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze and process.AS_PROGRAM:
            gc.freeze()
        if was_enabled:
            gc.enable()


class JobSink(Protocol):
    """Where the jobs of a spooled plan go (``make_plan``'s ``keep``), one at a time in plan order; and how a
    share of them made in another process joins the rest (see :func:`make_plan`)."""

    def __call__(self, job: PlannedJob) -> None: ...

    def share(self) -> JobSink:
        """An empty sink of the same kind, made before the fork, filled by the child."""

    def tally(self) -> Any:
        """In the child, once its jobs are in: what :meth:`absorb` needs, picklable."""

    def absorb(self, share: JobSink, tally: Any) -> None:
        """In the parent, after its own jobs: the child's, as if this sink had been given them next."""

    def close(self) -> None:
        """A share that is not absorbed (its half is planned again here) is closed."""


# A share of the jobs is made in a child process only when there are this many units or more, so that the fork
# and the join (some 20 ms) stay small beside what planning half the jobs elsewhere saves (~90 us a job).
PARALLEL_MIN_UNITS = 2000


def make_plan(spec: JobSpec, groups: GroupSet, ctx: PlanContext,
              keep: Callable[[PlannedJob], None] | JobSink | None = None, *, processes: int = 1) -> Plan:
    """The plan of ``spec`` over ``groups``. ``keep``: what to do with each job once planned, in plan order,
    instead of holding it in ``plan.jobs`` (``plan --format json`` encodes it into a spool and drops it).

    ``processes=2`` with a :class:`JobSink` ``keep`` (and at least PARALLEL_MIN_UNITS jobs, and
    toolkit.process.can_fork): the second half of the jobs is planned in a forked child while this process
    plans the first; the sink then takes the child's share after its own. The plan is the same, job for job and
    byte for byte, as one process makes: should the child fail, or a destination of its share be one of this
    process's (an error the plan must report as one process would), its half is planned here again. Nothing in
    the child may reach the network: the caller asks for two processes only when outputs are looked up locally.
    """
    with gc_paused():
        return _make_plan(spec, groups, ctx, keep, processes)


def _empty_plan(spec: JobSpec, ctx: PlanContext, rejections: Iterable[Rejection]) -> Plan:
    return Plan(
        spec_name=spec.name,
        spec_path=ctx.spec_path,
        spec_sha256=ctx.spec_sha256,
        project=ctx.project,
        image=ctx.image,
        execution=ctx.execution,
        scope=spec.scope,
        shell=spec.shell.describe(),
        params=dict(ctx.params),
        skipped=list(rejections),
    )


def _usable(groups: Iterable[Group], skipped: list[Rejection]) -> list[Group]:
    """The groups whose id can name a job and its files; each other one is added to ``skipped`` with why."""
    # One group's bad metadata (an id that cannot name a file, a value no command or path can hold) rejects
    # that group with its reason; the other groups are planned, run and registered.
    usable = []
    for group in groups:
        problem = id_problem(group.id)
        if problem:
            skipped.append(Rejection(group.id, problem))
        else:
            usable.append(group)
    return usable


def _warn_unsized(plan: Plan, spec: JobSpec, unsized: list[str]) -> None:
    if unsized:
        listed = ", ".join(unsized[:5]) + (f" and {len(unsized) - 5} more" if len(unsized) > 5 else "")
        plan.warnings.append(
            f"storage: auto, but Metamist records no read sizes for {listed}: those jobs get only "
            f"resources.storage_floor ({spec.resources.storage_floor})"
        )


@dataclass
class PlanShare:
    """What :func:`plan_share` made of one process's groups, besides the jobs it gave its sink."""

    id_rejections: list[Rejection]  # groups whose id cannot name a job
    render_rejections: list[Rejection]  # jobs whose values could not be rendered
    unsized: list[str]  # jobs whose storage could not be sized
    destinations: dict[str, str]  # each output's destination -> its job's id


def plan_share(spec: JobSpec, groups: Iterable[Group], ctx: PlanContext, keep: Callable[[PlannedJob], None]) -> PlanShare:
    """Plan the jobs of some of a project's groups into ``keep`` (in order), for a plan whose groups were asked
    for by several processes (toolkit.pipeline): :func:`joined_plan` then makes the plan of all the shares, as
    :func:`make_plan` makes it of all the groups at once. Not for ``scope: project`` (one job of every group)."""
    if spec.scope == "project":
        raise ValueError("a project-scope plan is one job of every group: it cannot be planned in shares")
    id_rejections: list[Rejection] = []
    units = expand_units(spec, _usable(groups, id_rejections), ctx.project)
    render_rejections: list[Rejection] = []
    destinations: dict[str, str] = {}
    unsized = _plan_units(spec, units, ctx, keep, render_rejections, destinations)
    return PlanShare(id_rejections, render_rejections, unsized, destinations)


def joined_plan(spec: JobSpec, ctx: PlanContext, rejections: Iterable[Rejection], shares: Iterable[PlanShare]) -> Plan:
    """The plan of shares made in order (the groups of the first, then of the second...) from answers whose
    rejections were ``rejections``: the same plan :func:`make_plan` makes of all their groups. The caller has
    checked that no destination belongs to two shares (one process would have refused the plan)."""
    shares = list(shares)
    plan = _empty_plan(spec, ctx, rejections)
    for share in shares:
        plan.skipped.extend(share.id_rejections)
    for share in shares:
        plan.skipped.extend(share.render_rejections)
    _warn_unsized(plan, spec, [job_id for share in shares for job_id in share.unsized])
    return plan


def _make_plan(spec: JobSpec, groups: GroupSet, ctx: PlanContext, keep, processes: int) -> Plan:
    plan = _empty_plan(spec, ctx, groups.rejections)
    usable = _usable(groups.groups, plan.skipped)
    units = expand_units(spec, usable, ctx.project)
    seen_destinations: dict[str, str] = {}
    sink = keep or plan.jobs.append
    later = None
    if (processes > 1 and hasattr(keep, "share") and len(units) >= PARALLEL_MIN_UNITS):
        from toolkit.process import ForkedCall, can_fork

        if can_fork():
            half = len(units) // 2
            units, theirs = units[:half], units[half:]
            share = keep.share()
            later = theirs, share, ForkedCall(lambda: _child_share(spec, theirs, ctx, share))
    try:
        unsized = _plan_units(spec, units, ctx, sink, plan.skipped, seen_destinations)
    except BaseException:
        if later is not None:
            later[2].cancel()
            later[1].close()
        raise
    if later is not None:
        theirs, share, child = later
        from toolkit.process import ChildFailed, any_shared

        try:
            skipped, child_unsized, destinations, tally = child.result()
            collides = any_shared(destinations, seen_destinations)
        except ChildFailed:
            collides = True
        if collides:  # plan that half here: whatever went wrong there is found, and said, as in one process
            share.close()
            unsized += _plan_units(spec, theirs, ctx, sink, plan.skipped, seen_destinations)
        else:
            keep.absorb(share, tally)
            plan.skipped.extend(skipped)
            unsized += child_unsized
    _warn_unsized(plan, spec, unsized)
    return plan


def _child_share(spec: JobSpec, units: list[WorkUnit], ctx: PlanContext, share: JobSink) -> tuple:
    """In the forked child: plan ``units`` into ``share``; answers what the parent joins (the destinations as
    hashes: the parent only needs to know whether one of them is also one of its own, and confirms a match by
    planning the half itself)."""
    skipped: list[Rejection] = []
    destinations: dict[str, str] = {}
    unsized = _plan_units(spec, units, ctx, share, skipped, destinations)
    from toolkit.process import name_hashes

    return skipped, unsized, name_hashes(destinations), share.tally()


def _plan_units(spec: JobSpec, units: Iterable[WorkUnit], ctx: PlanContext, keep, skipped: list[Rejection],
                seen_destinations: dict[str, str]) -> list[str]:
    """Plan each unit into ``keep``; a unit whose values cannot be rendered is added to ``skipped``. Answers
    the ids of the jobs whose storage could not be sized."""
    unsized: list[str] = []
    constants = _PlanConstants.of(spec, ctx)
    for unit in units:
        try:
            job = _plan_one(spec, unit, ctx, constants)
        except RenderError as error:
            skipped.append(Rejection(unit.id, error.message))
            continue
        for out in job.outputs.values():
            other = seen_destinations.setdefault(out.destination, unit.id)
            if other != unit.id:
                # Two jobs writing one file would silently overwrite each other's results.
                from toolkit.errors import SpecError
                from toolkit.spec.diagnostics import Diagnostic

                hint = {"read": "read.basename or read.position", "project": "project"}.get(spec.scope, "group.id")
                raise SpecError(
                    [
                        Diagnostic(
                            file=ctx.spec_path, line=1, column=1,
                            message=f"outputs.{out.name}.path gives the same file for jobs {shown(other)} and "
                            f"{shown(unit.id)} ({shown(out.destination)}); include {{{{ {hint} }}}} in the path",
                        )
                    ],
                    source_name=ctx.spec_path,
                )
        if "unknown" in job.resources.storage_reason:
            unsized.append(job.id)
        keep(job)
    return unsized
