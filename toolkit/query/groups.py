"""Turn a Metamist GraphQL answer into groups, with the jobspec's JMESPath expressions.

A *group* is one unit of work: usually a sequencing group, with its reads and the named fields the spec
asks for. Extraction never trusts the metadata's shape: a missing key, a single read stored as an object
instead of a list, a size stored as a string, a duplicated group: each becomes a clear per-group problem
(or is normalised) instead of an exception deep inside the plan.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import jmespath
from jmespath.exceptions import JMESPathError

from toolkit.errors import MetadataError
from toolkit.spec.models import CHAINED_GROUPS, InputsSection


@dataclass
class Read:
    location: str
    size: int | None = None
    checksum: str | None = None  # as Metamist records it ("md5:<hex>"; a CRC32C for registered outputs)
    analysis_id: int | None = None  # the Analysis it comes from, when it is another spec's output

    @property
    def basename(self) -> str:
        """The file's own name: the last part of its location (what Hail keeps when it localises it)."""
        return self.location.rstrip("/").rsplit("/", 1)[-1]


@dataclass
class Group:
    id: str
    reads: tuple[Read, ...] = ()
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def total_read_bytes(self) -> int | None:
        """Sum of read sizes, or None when any size is unknown (storage sizing then falls back)."""
        return total_read_bytes(self.reads)


def total_read_bytes(reads: Iterable[Read]) -> int | None:
    """Sum of the reads' sizes, or None when any is unknown."""
    total = 0
    for read in reads:  # a loop: asked for every job of a plan, twice
        if read.size is None:
            return None
        total += read.size
    return total


@dataclass(frozen=True)
class Rejection:
    """A group the run will not process, and why (one line for the user)."""

    group_id: str
    reason: str
    fatal: bool = False  # True when the spec says on_mismatch: fail
    entry: int | None = None  # an entry without a usable id: its position in the whole answer (its "#N" id)


@dataclass(frozen=True)
class GroupSet:
    groups: tuple[Group, ...]
    rejections: tuple[Rejection, ...] = ()

    @property
    def fatal_rejections(self) -> tuple[Rejection, ...]:
        return tuple(r for r in self.rejections if r.fatal)


# -- JMESPath -----------------------------------------------------------------------------------------------
# A spec's paths are nearly always fields, indexes, [] and [*] (`assays[].meta.reads[]`, `sample.externalId`).
# jmespath's interpreter walks its syntax tree for every group and read: half the time of extracting 100,000
# groups went there (ten searches a group). Such trees are turned once into plain functions that do what its
# visit_* methods do, step for step; any other node (filters, functions, multiselects...) is left to jmespath
# itself. tests/query/test_jmespath_steps.py checks both answer alike.

def _step(node: dict) -> Callable[[Any], Any] | None:
    kind, children = node["type"], node.get("children") or []
    if kind in ("identity", "current"):
        return lambda value: value
    if kind == "field":
        name = node["value"]
        return lambda value: value.get(name) if isinstance(value, dict) else None
    if kind == "index" and isinstance(node["value"], int):
        position = node["value"]

        def index(value):
            if not isinstance(value, list):
                return None
            try:
                return value[position]
            except IndexError:
                return None
        return index
    if not all(isinstance(child, dict) for child in children):  # a slice's children are its numbers
        return None
    steps = [_step(child) for child in children]
    if any(step is None for step in steps):
        return None
    if kind in ("subexpression", "index_expression"):
        def chain(value):
            for step in steps:
                value = step(value)
            return value
        return chain
    if kind == "flatten" and len(steps) == 1:
        (base,) = steps

        def flatten(value):
            found = base(value)
            if not isinstance(found, list):
                return None
            merged = []
            for element in found:
                if isinstance(element, list):
                    merged.extend(element)
                else:
                    merged.append(element)
            return merged
        return flatten
    if kind == "projection" and len(steps) == 2:
        base, each = steps

        def projection(value):
            found = base(value)
            if not isinstance(found, list):
                return None
            return [result for result in map(each, found) if result is not None]
        return projection
    return None


@functools.lru_cache(maxsize=256)
def _compiled(expression: str) -> Callable[[Any], Any]:
    """The expression as a function of the data: plain steps when it is made of fields, indexes and
    projections, else jmespath's own interpreter."""
    parsed = jmespath.compile(expression)
    return _step(parsed.parsed) or parsed.search


def _search(expression: str, data: Any, what: str) -> Any:
    try:
        return _compiled(expression)(data)
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
        size = checksum = None
        if inputs.reads.size and isinstance(item, dict):
            size = _as_size(_search(inputs.reads.size, item, "reads.size"))
        if inputs.reads.checksum and isinstance(item, dict):
            found_checksum = _search(inputs.reads.checksum, item, "reads.checksum")
            checksum = found_checksum if isinstance(found_checksum, str) and found_checksum else None
        reads.append(Read(location=location, size=size, checksum=checksum))
    return reads, problems


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def extract_groups(
    inputs: InputsSection, data: dict[str, Any], upstream: dict[str, list[Read]] | None = None,
    *, first_position: int = 1,
) -> GroupSet:
    """Apply ``inputs.groups``, ``id``, ``reads``, ``fields`` and ``expect`` to a query answer.

    ``first_position``: the position in the whole answer of this page's first entry (entries without an id are
    named by it).

    ``upstream`` (with ``inputs.from_jobspec``): each sequencing group's inputs, the registered outputs of the
    other spec; a group without any is rejected with the reason.
    """
    groups_path = inputs.groups or CHAINED_GROUPS
    listed = _search(groups_path, data, "groups")
    if listed is None:
        raise MetadataError(
            f"inputs.groups: `{groups_path}` found nothing in Metamist's answer "
            f"(top-level keys: {', '.join(sorted(data)) or 'none'})"
        )
    if not isinstance(listed, list):
        raise MetadataError(f"inputs.groups: `{groups_path}` must give a list, got {type(listed).__name__}")

    expected = inputs.expect.reads_range()
    fatal = inputs.expect.on_mismatch == "fail"
    groups: list[Group] = []
    rejections: list[Rejection] = []
    seen: dict[str, Any] = {}
    conflicting: list[str] = []
    for index, group_data in enumerate(listed):
        group_id = _search(inputs.id, group_data, "id")
        if not isinstance(group_id, (str, int)) or isinstance(group_id, bool) or str(group_id) == "":
            rejections.append(Rejection(f"#{index + first_position}", f"no usable id at `{inputs.id}` (got {_short(group_id)})",
                                        fatal, entry=index + first_position))
            continue
        group_id = str(group_id)
        if group_id in seen:
            # The same group reached twice (through two samples...) is one group; two different entries with
            # one id would be two jobs writing one output: refused before anything runs.
            if seen[group_id] != group_data:
                conflicting.append(group_id)
            continue
        seen[group_id] = group_data

        reads: list[Read] = []
        problems: list[str] = []
        if inputs.reads is not None:
            reads, problems = _extract_reads(inputs, group_data)
        elif inputs.from_jobspec is not None:
            reads = list((upstream or {}).get(group_id, ()))
            if not reads:
                source = inputs.from_jobspec
                problems.append(
                    f"no active, completed Analysis of {source.name}'s output {source.output!r} for this group "
                    f"yet (run the {source.name} jobspec first)"
                )
        if expected is not None:
            low, high = expected
            if len(reads) < low or (high is not None and len(reads) > high):
                wanted = str(low) if low == high else (f"{low}-{high}" if high is not None else f"at least {low}")
                where = inputs.reads.path if inputs.reads else (
                    f"{inputs.from_jobspec.name}.{inputs.from_jobspec.output}" if inputs.from_jobspec else "reads")
                problems.insert(0, f"expected {wanted} reads at `{where}`, found {len(reads)}")
        if problems:
            rejections.append(Rejection(group_id, "; ".join(problems), fatal))
            continue
        fields = {name: _search(expression, group_data, f"fields.{name}") for name, expression in inputs.fields.items()}
        groups.append(Group(id=group_id, reads=tuple(reads), fields=fields))
    if conflicting:
        shown = ", ".join(sorted(set(conflicting))[:10])
        raise MetadataError(
            f"inputs.id: `{inputs.id}` gives the same id to different entries of `{groups_path}` ({shown}): "
            "each job needs an id of its own",
            hint="use an id that is unique per group (a sequencing group's `id`), or choose `scope: read` "
            "for one job per read file",
        )
    return GroupSet(groups=tuple(groups), rejections=tuple(rejections))
