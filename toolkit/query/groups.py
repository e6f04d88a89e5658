"""Turn a Metamist GraphQL answer into groups, with the jobspec's JMESPath expressions.

A *group* is one unit of work: usually a sequencing group, with its reads and the named fields the spec
asks for. Extraction never trusts the metadata's shape: a missing key, a single read stored as an object
instead of a list, a size stored as a string, a duplicated group: each becomes a clear per-group problem
(or is normalised) instead of an exception deep inside the plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from toolkit.errors import MetadataError
from toolkit.spec.models import InputsSection


@dataclass(frozen=True)
class Read:
    location: str
    size: int | None = None


@dataclass(frozen=True)
class Group:
    id: str
    reads: tuple[Read, ...] = ()
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def total_read_bytes(self) -> int | None:
        """Sum of read sizes, or None when any size is unknown (storage sizing then falls back)."""
        if any(read.size is None for read in self.reads):
            return None
        return sum(read.size or 0 for read in self.reads)


@dataclass(frozen=True)
class Rejection:
    """A group the run will not process, and why (one line for the user)."""

    group_id: str
    reason: str
    fatal: bool = False  # True when the spec says on_mismatch: fail


@dataclass(frozen=True)
class GroupSet:
    groups: tuple[Group, ...]
    rejections: tuple[Rejection, ...] = ()

    @property
    def fatal_rejections(self) -> tuple[Rejection, ...]:
        return tuple(r for r in self.rejections if r.fatal)


def _search(expression: str, data: Any, what: str) -> Any:
    try:
        return jmespath.search(expression, data)
    except JMESPathError as error:  # validated offline, but a function can still fail on odd data
        raise MetadataError(f"inputs.{what}: JMESPath `{expression}` failed on Metamist's answer: {error}") from None


def _as_size(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value >= 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _extract_reads(inputs: InputsSection, group_data: Any) -> tuple[list[Read], list[str]]:
    """Returns (reads, problems) for one group."""
    assert inputs.reads is not None
    found = _search(inputs.reads.path, group_data, "reads.path")
    if found is None:
        return [], []
    if not isinstance(found, list):
        found = [found]  # Metamist sometimes stores a single read as an object, not a one-item list
    reads: list[Read] = []
    problems: list[str] = []
    for position, item in enumerate(found, start=1):
        if inputs.reads.location:
            location = _search(inputs.reads.location, item, "reads.location") if isinstance(item, dict) else None
        else:
            location = item
        if not isinstance(location, str) or not location.strip():
            problems.append(f"read {position} has no location (got {_short(item)})")
            continue
        size = None
        if inputs.reads.size and isinstance(item, dict):
            size = _as_size(_search(inputs.reads.size, item, "reads.size"))
        reads.append(Read(location=location, size=size))
    return reads, problems


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def extract_groups(inputs: InputsSection, data: dict[str, Any]) -> GroupSet:
    """Apply ``inputs.groups``, ``id``, ``reads``, ``fields`` and ``expect`` to a query answer."""
    listed = _search(inputs.groups, data, "groups")
    if listed is None:
        raise MetadataError(
            f"inputs.groups: `{inputs.groups}` found nothing in Metamist's answer "
            f"(top-level keys: {', '.join(sorted(data)) or 'none'})"
        )
    if not isinstance(listed, list):
        raise MetadataError(f"inputs.groups: `{inputs.groups}` must give a list, got {type(listed).__name__}")

    expected = inputs.expect.reads_range()
    fatal = inputs.expect.on_mismatch == "fail"
    groups: list[Group] = []
    rejections: list[Rejection] = []
    seen: set[str] = set()
    for index, group_data in enumerate(listed):
        group_id = _search(inputs.id, group_data, "id")
        if not isinstance(group_id, (str, int)) or isinstance(group_id, bool) or str(group_id) == "":
            rejections.append(Rejection(f"#{index + 1}", f"no usable id at `{inputs.id}` (got {_short(group_id)})", fatal))
            continue
        group_id = str(group_id)
        if group_id in seen:
            continue  # the same group listed twice (e.g. reached through two samples): process it once
        seen.add(group_id)

        reads: list[Read] = []
        problems: list[str] = []
        if inputs.reads is not None:
            reads, problems = _extract_reads(inputs, group_data)
        if expected is not None:
            low, high = expected
            if len(reads) < low or (high is not None and len(reads) > high):
                wanted = str(low) if low == high else (f"{low}-{high}" if high is not None else f"at least {low}")
                where = inputs.reads.path if inputs.reads else "reads"
                problems.insert(0, f"expected {wanted} reads at `{where}`, found {len(reads)}")
        if problems:
            rejections.append(Rejection(group_id, "; ".join(problems), fatal))
            continue
        fields = {name: _search(expression, group_data, f"fields.{name}") for name, expression in inputs.fields.items()}
        groups.append(Group(id=group_id, reads=tuple(reads), fields=fields))
    return GroupSet(groups=tuple(groups), rejections=tuple(rejections))
