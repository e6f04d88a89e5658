"""A plan's jobs kept as their JSON records in a temporary file, for ``plan --format json``.

At 100,000 groups the plan's job objects were 480 MB, held only to be written out once at the end. With a
spool each job is encoded as soon as it is planned and dropped; what stays in memory is per-action counts,
and the document is written from the file afterwards (toolkit.cli._common.emit_json), byte for byte what the
job objects would have given. Nothing is written to stdout until the whole plan is made, so a plan that fails
part-way (two jobs writing one file, outputs Metamist would refuse) prints its error and no half document.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from typing import Any, Iterator

import orjson

__all__ = ["JobSpool", "indented_json"]

_LENGTH = 8  # bytes of each record's length prefix


_INDENTED = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS


def indented_json(value: Any) -> bytes:
    """``json.dumps(value, indent=2, ensure_ascii=False, default=str)`` in UTF-8, by orjson (several times faster
    on large plans)."""
    try:
        return orjson.dumps(value, default=str, option=_INDENTED)
    except orjson.JSONEncodeError:
        # What orjson does not encode (an integer past 64 bits from metadata): the standard library does.
        return json.dumps(value, indent=2, default=str, ensure_ascii=False).encode("utf-8")


class JobSpool:
    """Job records (``PlannedJob.to_dict()``) in plan order, and how many jobs of each action."""

    def __init__(self) -> None:
        # No name: gone when closed or when the process ends. A large buffer: records are ~5 kB, and with the
        # default 8 kB one, writing and reading 100,000 of them took 0.9 s instead of 0.3 s.
        self._file = tempfile.TemporaryFile(prefix="toolkit-plan-", buffering=1024**2)
        self.counts: Counter[str] = Counter()
        self._attached: list[JobSpool] = []

    def attach(self, later: JobSpool, counts: Counter[str]) -> None:
        """Append ``later``'s records after this spool's (not copied: read from its file in turn). ``later``
        was filled by another process (a share of the plan made there, toolkit.plan), which counted them."""
        later.counts = Counter(counts)
        self._attached.append(later)
        self.counts.update(counts)

    def flush(self) -> None:
        self._file.flush()

    def add(self, action: str, record: dict[str, Any]) -> None:
        self._write(action, indented_json(record))

    def add_job(self, job) -> None:
        """A planned job's record (toolkit.plan.model.PlannedJob.to_dict), encoded from its own objects."""
        try:
            encoded = orjson.dumps(job.to_encodable(), default=str, option=_INDENTED)
        except orjson.JSONEncodeError:  # what only the standard library writes (see indented_json)
            encoded = indented_json(job.to_dict())
        self._write(job.action.value, encoded)

    def _write(self, action: str, encoded: bytes) -> None:
        self._file.write(len(encoded).to_bytes(_LENGTH, "little"))
        self._file.write(encoded)
        self.counts[action] += 1

    def __len__(self) -> int:
        return sum(self.counts.values())

    def records(self, *, decoded: bool = False) -> Iterator[Any]:
        """Each record as already-encoded JSON (an orjson Fragment is written as it is), or ``decoded``."""
        self._file.flush()
        self._file.seek(0)
        while header := self._file.read(_LENGTH):
            encoded = self._file.read(int.from_bytes(header, "little"))
            yield json.loads(encoded) if decoded else orjson.Fragment(encoded)
        for later in self._attached:
            yield from later.records(decoded=decoded)

    def close(self) -> None:
        self._file.close()
        for later in self._attached:
            later.close()
