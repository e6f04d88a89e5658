"""Metrics outputs: a small JSON object a job writes, checked against the spec's declared shape.

``outputs.NAME.metrics`` declares the keys and their JSON types (``integer``, ``number``, ``string``,
``boolean``, ``object``, ``array``; a trailing ``?`` allows the key to be absent or null). After the job
succeeded, the driver reads the file and checks it: the values, with their JSON types, go into the meta of every
Analysis the job registers (``meta.metrics``). A file that is missing, not JSON, too large, or not of the
declared shape fails that job, and only that job: nothing of it is registered, and the reason is shown. A
metric that silently became null would be worse than no Analysis at all.

The file comes from a tool run on data, so it is read within fixed bounds, and only the declared keys are kept.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

__all__ = ["MAX_METRICS_BYTES", "MetricsProblem", "check_metrics", "read_job_metrics"]

MAX_METRICS_BYTES = 256 * 1024
_MAX_DEPTH = 16


class MetricsProblem(Exception):
    """Why a job's metrics cannot be recorded (the job then counts as failed)."""


def _read(location: str) -> bytes:
    if "://" in location and not location.startswith("file://"):
        from cpg_utils import to_path

        with to_path(location).open("rb") as handle:
            return handle.read(MAX_METRICS_BYTES + 1)
    with open(location.removeprefix("file://"), "rb") as handle:
        return handle.read(MAX_METRICS_BYTES + 1)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth(value: Any, level: int = 0) -> int:
    if level > _MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(item, level + 1) for item in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(item, level + 1) for item in value), default=level + 1)
    return level


def _finite(value: Any) -> bool:
    """No NaN/Infinity anywhere (they are not JSON, and Metamist would refuse the Analysis)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(item) for item in value.values())
    if isinstance(value, list):
        return all(_finite(item) for item in value)
    return True


_CHECKS = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def check_metrics(data: Any, shape: Mapping[str, str], output: str) -> dict[str, Any]:
    """The declared metrics of ``data`` (a parsed JSON document), or MetricsProblem naming every mismatch."""
    if not isinstance(data, dict):
        raise MetricsProblem(f"metrics output {output!r} is {_json_type(data)}, not a JSON object")
    problems = []
    kept: dict[str, Any] = {}
    for key, declared in shape.items():
        kind, optional = declared.rstrip("?"), declared.endswith("?")
        value = data.get(key)
        if value is None:
            if not optional:
                problems.append(f"{key} is {'null' if key in data else 'missing'} (declared {kind})")
            else:
                kept[key] = None
            continue
        if not _CHECKS[kind](value):
            problems.append(f"{key} is {_json_type(value)}, declared {kind}")
            continue
        kept[key] = value
    if problems:
        raise MetricsProblem(f"metrics output {output!r}: " + "; ".join(problems))
    return kept


def read_job_metrics(job) -> dict[str, Any]:
    """Every metrics output of a finished job, read, checked and merged (``meta.metrics``)."""
    merged: dict[str, Any] = {}
    for name, shape in job.metrics.items():
        destination = job.outputs[name].destination
        try:
            raw = _read(destination)
        except OSError as error:
            raise MetricsProblem(f"metrics output {name!r} cannot be read: {error.strerror or error}") from None
        if len(raw) > MAX_METRICS_BYTES:
            raise MetricsProblem(f"metrics output {name!r} is larger than {MAX_METRICS_BYTES // 1024} KiB")
        try:
            data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            raise MetricsProblem(f"metrics output {name!r} is not JSON: {str(error)[:200]}") from None
        if _depth(data) > _MAX_DEPTH:
            raise MetricsProblem(f"metrics output {name!r} is nested deeper than {_MAX_DEPTH} levels")
        if not _finite(data):
            raise MetricsProblem(f"metrics output {name!r} holds NaN or Infinity")
        merged.update(check_metrics(data, shape, name))
    return merged
