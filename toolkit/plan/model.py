"""The plan: every job a run would submit, as plain data (printable, serialisable, testable).

The plan is the contract between the pure stages (query, plan) and the effectful ones (backend,
registration): those receive a Plan and never re-derive what it already says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from toolkit.plan.reuse import ReuseKey
from toolkit.query.groups import Group, Read, Rejection, total_read_bytes

# The records of a plan are plain dataclasses, not frozen ones, though nothing changes them once the plan is made
# (planning fills in a job's own registrations as it decides): a plan of 100,000 jobs makes about a million of
# them, and a frozen dataclass's __init__ (object.__setattr__ for each field) took four times as long, a sixth
# of planning.


class Action(str, Enum):
    RUN = "run"  # submit the job, then register its outputs
    REGISTER = "register"  # outputs exist from an earlier run but are not registered: register only
    DONE = "done"  # every output is registered already, with the same reuse key: nothing to do
    STALE = "stale"  # registered with another reuse key, and kept as it is (--keep-stale)


@dataclass
class WorkUnit:
    """What one job covers, by the spec's ``scope``.

    * ``sequencing-group``: one group and its reads (``id`` is the group's id);
    * ``read``: one read file of a group (``id`` is ``<group id>/<position>``; ``group`` is its parent group);
    * ``project``: every selected group (``id`` is the project; ``group`` is None, ``members`` holds them all).
    """

    id: str
    scope: str
    group: Group | None
    members: tuple[Group, ...]
    reads: tuple[Read, ...]
    position: int | None = None  # read scope: the read's 1-based position among its group's reads

    @property
    def targets(self) -> tuple[str, ...]:
        """The sequencing groups its outputs are registered against."""
        return tuple(member.id for member in self.members)

    @property
    def total_read_bytes(self) -> int | None:
        """Sum of the input sizes, or None when any is unknown (storage sizing then falls back)."""
        return total_read_bytes(self.reads)

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"id": self.id, "scope": self.scope}
        if self.group is not None:
            record["group"] = {"id": self.group.id, "fields": self.group.fields}
        if self.scope == "project":
            record["members"] = [member.id for member in self.members]
        if self.position is not None:
            record["position"] = self.position
        return record


@dataclass
class Resources:
    cpu: float
    memory: str
    storage: str
    memory_bytes: int
    storage_bytes: int
    storage_reason: str = ""


@dataclass
class PlannedOutput:
    name: str
    category: str
    suffix: str  # relative to the category root + output prefix
    destination: str  # where the job's output is written (local path or gs:// URI)
    uri: str  # what is registered in Metamist (always with a scheme: file://, gs://)
    display_url: str | None = None


@dataclass
class PlannedRegistration:
    output: str
    type: str
    status: str
    output_uri: str
    sequencing_group_ids: tuple[str, ...]
    meta: dict[str, Any]
    existing_id: int | None = None  # this spec's active Analysis of the output with the same reuse key
    replaces: tuple[int, ...] = ()  # active Analyses of the output this one replaces (stale key, or --force)
    reuse_key: str = ""


@dataclass
class PlannedJob:
    unit: WorkUnit
    action: Action
    reason: str
    name: str
    image: str
    command: str  # rendered with the real input locations and destinations (what a reviewer reads)
    outputs: dict[str, PlannedOutput]
    resources: Resources
    registrations: tuple[PlannedRegistration, ...]
    # Metrics outputs (outputs.NAME.metrics): output name -> declared shape; checked after the job succeeded.
    metrics: dict[str, dict[str, str]] = field(default_factory=dict)
    reuse: ReuseKey | None = None  # what the outputs are made from (toolkit.plan.reuse)
    estimate: Any = None  # toolkit.plan.estimate.Estimate, when the plan was estimated

    @property
    def id(self) -> str:
        return self.unit.id

    @property
    def group(self) -> Group | None:
        return self.unit.group

    def to_dict(self) -> dict[str, Any]:
        """The job as JSON-ready data (what ``plan --format json`` writes for it)."""
        return {
            **self.to_encodable(),
            "action": self.action.value,
            # Shallow copies (vars), not asdict: asdict deep-copies every meta and provenance value, which
            # was a third of `plan --format json` at 10,000 groups.
            "outputs": {name: dict(vars(out)) for name, out in self.outputs.items()},
            "resources": dict(vars(self.resources)),
            "metrics": {name: dict(shape) for name, shape in self.metrics.items()},
            "registrations": [
                {**vars(reg), "sequencing_group_ids": list(reg.sequencing_group_ids), "replaces": list(reg.replaces)}
                for reg in self.registrations
            ],
        }

    def to_encodable(self) -> dict[str, Any]:
        """:meth:`to_dict` for orjson, which writes dataclasses as their fields in order, tuples as lists and an
        Enum as its value by itself: the same JSON without first copying every output, registration and
        resources record into a dict of its own (toolkit.plan.spool encodes each job of a large plan)."""
        return {
            "id": self.unit.id,
            **self.unit.to_dict(),
            "action": self.action,
            "reason": self.reason,
            "name": self.name,
            "image": self.image,
            "command": self.command,
            "inputs": [
                {"location": r.location, "size": r.size, "checksum": r.checksum,
                 **({"analysis": r.analysis_id} if r.analysis_id is not None else {})}
                for r in self.unit.reads
            ],
            "outputs": self.outputs,
            "resources": self.resources,
            "metrics": self.metrics,
            "reuse_key": self.reuse.digest if self.reuse else None,
            "estimate": self.estimate.record() if self.estimate is not None else None,
            "registrations": self.registrations,
        }


@dataclass
class Plan:
    spec_name: str
    spec_path: str
    spec_sha256: str
    project: str
    image: str
    execution: str  # "container" | "host" | "service"
    scope: str = "sequencing-group"
    shell: str = ""  # how the command runs: "bash, set -o errexit -o pipefail"
    params: dict[str, Any] = field(default_factory=dict)
    jobs: list[PlannedJob] = field(default_factory=list)
    skipped: list[Rejection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    estimate: dict[str, Any] | None = None  # totals and the model behind them (toolkit.plan.estimate)
    # For `plan --format json`: the jobs' records went to this toolkit.plan.spool.JobSpool as they were planned,
    # and ``jobs`` stays empty (a plan of 100,000 jobs is not held in memory to be written once).
    spool: Any = None

    def jobs_with(self, action: Action) -> list[PlannedJob]:
        return [job for job in self.jobs if job.action is action]

    def count(self, action: Action) -> int:
        if self.spool is not None:
            return self.spool.counts.get(action.value, 0)
        return len(self.jobs_with(action))

    def to_dict(self, *, lazy_jobs: bool = False) -> dict[str, Any]:
        """The plan as JSON-ready data. With ``lazy_jobs`` the jobs are a generator of their records, made one at
        a time as they are written (toolkit.cli._common.emit_json): a plan of 100,000 jobs is never held twice."""
        counts = {action.value: self.count(action) for action in Action}
        return {
            "spec": {"name": self.spec_name, "path": self.spec_path, "sha256": self.spec_sha256},
            "project": self.project,
            "image": self.image,
            "execution": self.execution,
            "scope": self.scope,
            "shell": self.shell,
            "params": dict(self.params),
            "summary": {**counts, "skipped": len(self.skipped)},
            "estimate": self.estimate,
            "jobs": self._job_records(lazy_jobs),
            "skipped": [{"group": r.group_id, "reason": r.reason, "fatal": r.fatal} for r in self.skipped],
            "warnings": list(self.warnings),
        }

    def _job_records(self, lazy: bool):
        if self.spool is not None:
            return self.spool.records() if lazy else list(self.spool.records(decoded=True))
        return (job.to_dict() for job in self.jobs) if lazy else [job.to_dict() for job in self.jobs]
