"""The plan: every job a run would submit, as plain data (printable, serialisable, testable).

The plan is the contract between the pure stages (query, plan) and the effectful ones (backend,
registration): those receive a Plan and never re-derive what it already says.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from toolkit.query.groups import Group, Rejection


class Action(str, Enum):
    RUN = "run"  # submit the job, then register its outputs
    REGISTER = "register"  # outputs exist from an earlier run but are not registered: register only
    DONE = "done"  # every output is registered already: nothing to do


@dataclass(frozen=True)
class Resources:
    cpu: float
    memory: str
    storage: str
    memory_bytes: int
    storage_bytes: int
    storage_reason: str = ""


@dataclass(frozen=True)
class PlannedOutput:
    name: str
    category: str
    suffix: str  # relative to the category root + output prefix
    destination: str  # where the job's output is written (local path or gs:// URI)
    uri: str  # what is registered in Metamist (always with a scheme: file://, gs://)
    display_url: str | None = None


@dataclass(frozen=True)
class PlannedRegistration:
    output: str
    type: str
    status: str
    output_uri: str
    sequencing_group_ids: tuple[str, ...]
    meta: dict[str, Any]
    existing_id: int | None = None  # set when Metamist already has this Analysis
    metrics_from: str | None = None  # destination of the JSON output recorded as meta.metrics (register.metrics)


@dataclass(frozen=True)
class PlannedJob:
    group: Group
    action: Action
    reason: str
    name: str
    image: str
    command: str  # rendered with the real input locations and destinations (what a reviewer reads)
    outputs: dict[str, PlannedOutput]
    resources: Resources
    registrations: tuple[PlannedRegistration, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": {"id": self.group.id, "fields": self.group.fields},
            "action": self.action.value,
            "reason": self.reason,
            "name": self.name,
            "image": self.image,
            "command": self.command,
            "inputs": [{"location": r.location, "size": r.size} for r in self.group.reads],
            "outputs": {name: asdict(out) for name, out in self.outputs.items()},
            "resources": asdict(self.resources),
            "registrations": [
                {**asdict(reg), "sequencing_group_ids": list(reg.sequencing_group_ids)} for reg in self.registrations
            ],
        }


@dataclass
class Plan:
    spec_name: str
    spec_path: str
    spec_sha256: str
    project: str
    image: str
    execution: str  # "container" | "host" | "service"
    params: dict[str, Any] = field(default_factory=dict)
    jobs: list[PlannedJob] = field(default_factory=list)
    skipped: list[Rejection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def jobs_with(self, action: Action) -> list[PlannedJob]:
        return [job for job in self.jobs if job.action is action]

    def to_dict(self) -> dict[str, Any]:
        counts = {action.value: len(self.jobs_with(action)) for action in Action}
        return {
            "spec": {"name": self.spec_name, "path": self.spec_path, "sha256": self.spec_sha256},
            "project": self.project,
            "image": self.image,
            "execution": self.execution,
            "params": dict(self.params),
            "summary": {**counts, "skipped": len(self.skipped)},
            "jobs": [job.to_dict() for job in self.jobs],
            "skipped": [{"group": r.group_id, "reason": r.reason, "fatal": r.fatal} for r in self.skipped],
            "warnings": list(self.warnings),
        }
