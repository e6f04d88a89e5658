"""The jobspec schema as pydantic v2 models (format version 1).

These models check shape and types only. Checks that need more than one field or outside knowledge (the
GraphQL schema, template slots, output names used by ``register``) live in ``toolkit.spec.validate``.
See docs/jobspec.md for the user-facing description of every key.
"""

from __future__ import annotations

import re
import warnings
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
SIZE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]i?|[kmgtp]i?)?[Bb]?\s*$")

# Metamist's REST spellings (the client's AnalysisStatus enum).
AnalysisStatusName = Literal["queued", "in-progress", "failed", "completed", "unknown"]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_size(text: str | int | float) -> int:
    """'10Gi' -> bytes. Binary suffixes (Ki, Mi, Gi...) are powers of 1024, bare K/M/G powers of 1000."""
    if isinstance(text, (int, float)):
        return int(text)
    match = SIZE_PATTERN.match(str(text))
    if not match:
        raise ValueError(f"not a size: {text!r} (expected a number with an optional unit, e.g. 512Mi, 2Gi)")
    number, unit = match.groups()
    unit = (unit or "").upper()
    base = 1024 if unit.endswith("I") else 1000
    power = "KMGTP".find(unit[:1]) + 1 if unit else 0
    return int(float(number) * base**power)


class ImageSection(StrictModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._/-]*$")
    tag: str = Field(pattern=r"^[A-Za-z0-9_.]+(?:[A-Za-z0-9_.-]*)-[0-9]+$")
    dockerfile: str
    context: str | None = None
    build_args: dict[str, str] = Field(default_factory=dict)

    @field_validator("build_args", mode="before")
    @classmethod
    def _stringify_build_args(cls, value: Any) -> Any:
        # YAML reads `VERSION: 0.3.1` as a string but `N: 2` as an int; build args are always strings.
        if isinstance(value, dict):
            return {k: (str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v) for k, v in value.items()}
        return value


class ParamSection(StrictModel):
    type: Literal["str", "int", "float", "bool"] = "str"
    default: str | int | float | bool | None = None
    help: str = ""


class VariableSource(StrictModel):
    """Where a GraphQL variable's value comes from: ``from: project|sgids|param.NAME`` or ``value: ...``."""

    from_: str | None = Field(default=None, alias="from")
    value: Any = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_source(self) -> "VariableSource":
        if self.from_ is None and self.value is None:
            raise ValueError("give either `from` (project, sgids or param.NAME) or `value`")
        if self.from_ is not None and self.value is not None:
            raise ValueError("give `from` or `value`, not both")
        if self.from_ is not None and not (
            self.from_ in ("project", "sgids") or re.fullmatch(r"param\.[A-Za-z_][A-Za-z0-9_]*", self.from_)
        ):
            raise ValueError(f"unknown source {self.from_!r}: expected project, sgids or param.NAME")
        return self


class ReadsSection(StrictModel):
    path: str
    location: str | None = None
    size: str | None = None
    checksum: str | None = None  # JMESPath: read -> the checksum Metamist records (e.g. "md5:<hex>")


class ReadCountRange(StrictModel):
    min: int = Field(default=0, ge=0)
    max: int | None = Field(default=None, ge=0)


class ExpectSection(StrictModel):
    reads: int | ReadCountRange | None = None
    on_mismatch: Literal["skip", "fail"] = "skip"

    def reads_range(self) -> tuple[int, int | None] | None:
        if self.reads is None:
            return None
        if isinstance(self.reads, int):
            return (self.reads, self.reads)
        return (self.reads.min, self.reads.max)


class FromJobspecSection(StrictModel):
    """Inputs that are another spec's registered outputs: its active, completed Analyses of one output."""

    name: str = Field(pattern=NAME_PATTERN)
    output: str = Field(pattern=IDENTIFIER_PATTERN)


class InputsSection(StrictModel):
    # Absent with from_jobspec: the toolkit asks for the project's sequencing groups itself (CHAINED_QUERY).
    query: str | None = None
    variables: dict[str, VariableSource] = Field(default_factory=dict)
    groups: str | None = None
    id: str = "id"
    reads: ReadsSection | None = None
    from_jobspec: FromJobspecSection | None = None
    fields: dict[str, str] = Field(default_factory=dict)
    expect: ExpectSection = Field(default_factory=ExpectSection)

    @model_validator(mode="after")
    def _one_source_of_reads(self) -> "InputsSection":
        if self.reads is not None and self.from_jobspec is not None:
            raise ValueError("give `reads` (where the reads are in the query's answer) or `from_jobspec`, not both")
        if self.query is None and self.from_jobspec is None:
            raise ValueError("`query` is required (only a spec with `from_jobspec` may leave it out)")
        if self.query is not None and self.groups is None:
            raise ValueError("`groups` is required with `query`: where the groups are in the answer")
        return self


# The query a spec with `inputs.from_jobspec` and no `query` runs: the project's sequencing groups, with what
# `inputs.fields` can name (e.g. `sample: sample.externalId`).
CHAINED_QUERY = """\
query ToolkitChainedGroups($project: String!, $sgids: [String!]) {
  project(name: $project) {
    sequencingGroups(id: {in_: $sgids}) {
      id type technology platform meta
      sample { id externalId meta participant { externalId } }
    }
  }
}
"""
CHAINED_GROUPS = "project.sequencingGroups"


METRIC_TYPES = ("integer", "number", "string", "boolean", "object", "array")
METRIC_TYPE_PATTERN = rf"^({'|'.join(METRIC_TYPES)})\??$"


class OutputSection(StrictModel):
    path: str
    category: str = "default"
    # A metrics output: a small JSON object the job writes, with these keys and JSON types (a trailing `?`:
    # may be absent or null). Its values go into the meta of every Analysis the job registers (meta.metrics).
    metrics: dict[str, Annotated[str, Field(pattern=METRIC_TYPE_PATTERN)]] | None = None


class ShellSection(StrictModel):
    """The bash options the command runs under (`set -o ...` ahead of the command, on the host and in images)."""

    errexit: bool = True  # stop at the first command that fails
    pipefail: bool = True  # a pipeline fails when any of its commands fails (`zcat | head` then fails: SIGPIPE)
    nounset: bool = False  # an unset variable is an error

    def preamble(self) -> str:
        options = [name for name in ("errexit", "nounset", "pipefail") if getattr(self, name)]
        return f"set -o {' -o '.join(options)}\n" if options else ""

    def describe(self) -> str:
        chosen = [name for name in ("errexit", "nounset", "pipefail") if getattr(self, name)]
        return "bash, " + (f"set -o {' -o '.join(chosen)}" if chosen else "no set options")


class EstimateSection(StrictModel):
    """A hint for `toolkit plan`'s time and cost estimate, used until the project has earlier runs to learn from."""

    bytes_per_second: float | None = Field(default=None, gt=0)  # of input
    seconds_per_job: float = Field(default=0, ge=0)  # fixed part: start-up, small inputs


class ResourcesSection(StrictModel):
    cpu: float = Field(default=1, gt=0)
    memory: str = "1Gi"
    storage: str = "auto"
    storage_floor: str = "1Gi"
    storage_margin: float = Field(default=1.2, ge=1.0)

    @field_validator("cpu")
    @classmethod
    def _whole_cpus_as_int(cls, value: float) -> float:
        # `{{ resources.cpu }}` in a command renders what this holds: cpu: 2 must give `2`, not `2.0`.
        return int(value) if value == int(value) else value

    @field_validator("memory", "storage_floor")
    @classmethod
    def _is_size(cls, value: str) -> str:
        parse_size(value)
        return value

    @field_validator("storage")
    @classmethod
    def _is_size_or_auto(cls, value: str) -> str:
        if value != "auto":
            parse_size(value)
        return value


class RegisterSection(StrictModel):
    type: str
    status: AnalysisStatusName = "completed"
    meta: dict[str, Any] = Field(default_factory=dict)


class FileExpectation(StrictModel):
    """One check on one output of a spec test (see ``toolkit test``)."""

    exists: bool | None = None
    contains: list[str] = Field(default_factory=list)
    matches: list[str] = Field(default_factory=list)
    lines: int | None = None
    min_size: int | None = None


class SpecTestRead(StrictModel):
    path: str  # a fixture, relative to the spec file
    checksum: str | None = None  # what Metamist would record for it (read.checksum)


class SpecTestGroup(StrictModel):
    id: str
    reads: list[str | SpecTestRead] = Field(default_factory=list)
    fields: dict[str, Any] = Field(default_factory=dict)


class SpecTest(StrictModel):
    name: str
    group: SpecTestGroup | None = None  # the group the test runs (sequencing-group and read scopes)
    groups: list[SpecTestGroup] | None = None  # the member groups (project scope; or several groups)
    params: dict[str, Any] = Field(default_factory=dict)
    fails: bool = False  # the job must fail (e.g. a checksum that does not match): expectations then optional
    expect: dict[str, FileExpectation] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _groups_given(self) -> "SpecTest":
        if (self.group is None) == (self.groups is None):
            raise ValueError("give `group` (one group) or `groups` (several), not both and not neither")
        return self

    @property
    def all_groups(self) -> list[SpecTestGroup]:
        return [self.group] if self.group is not None else list(self.groups or [])


# `register` is the natural key name; pydantic warns that it shadows ABCMeta.register, which only matters on
# the class (JobSpec.register), never on a loaded spec, so the warning is kept off the user's terminal.
warnings.filterwarnings("ignore", message='Field name "register" in "JobSpec" shadows', category=UserWarning)


# What one job covers: a sequencing group (its reads), one read file of a group, or the whole project (every
# selected group: one job, outputs registered against all of them).
Scope = Literal["sequencing-group", "read", "project"]


class JobSpec(StrictModel):
    version: Literal[1]
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    scope: Scope = "sequencing-group"
    image: ImageSection
    params: dict[str, ParamSection] = Field(default_factory=dict)
    inputs: InputsSection
    command: str
    outputs: dict[str, OutputSection] = Field(min_length=1)
    resources: ResourcesSection = Field(default_factory=ResourcesSection)
    register: dict[str, RegisterSection] = Field(default_factory=dict)
    shell: ShellSection = Field(default_factory=ShellSection)
    estimate: EstimateSection | None = None
    version_command: str | None = None
    tests: list[SpecTest] = Field(default_factory=list)

    @property
    def metrics_outputs(self) -> dict[str, dict[str, str]]:
        return {name: output.metrics for name, output in self.outputs.items() if output.metrics is not None}
