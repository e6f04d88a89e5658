"""The run journal: what each run of a jobspec set out to write, wrote, and failed, kept beside its outputs.

Metamist only hears of outputs that were registered. Two questions need more:

* **Adopting leftovers.** A run that dies between the batch and the registration leaves outputs that no Analysis
  records. The next run registers them without rerunning the jobs *only if* this spec wrote them with the key it
  plans now (toolkit.plan.reuse): the journal says which key each output was written with. An output with
  another key (the spec changed since) is rerun, and a file that no run of this spec wrote is never adopted.
* **Failures.** A failed job is never registered, so the results page reads failures from here.

One JSON Lines file per jobspec in the dataset's ``tmp`` storage (cpg-utils ``output_path(
"toolkit-runs/<spec>.jsonl", "tmp")``), one event per line::

    {"event": "submitted", "destination": ..., "job": ..., "key": ..., "reuse": {...}, "at": ...}
    {"event": "written",   "destination": ..., "job": ..., "key": ..., "size": ..., "checksum": ..., "at": ...}
    {"event": "registered", "destination": ..., "at": ...}       (the output no longer needs the journal)
    {"event": "failed",    "job": ..., "detail": ..., "at": ...}
    {"event": "succeeded", "job": ..., "at": ...}

Locally, events are appended as they happen (a job's "written" as soon as its outputs appear), so a run killed
half way leaves a true record. On object storage (the Batch service) the file is rewritten at submission and
at the end. A run compacts the file when it ends: what was registered is dropped. Best effort: a journal that
cannot be read or written never fails a run; without it nothing is adopted (the jobs run again) and the
results page says "due" instead of "failed".
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass, field
from typing import Any, Iterable

__all__ = ["Journal", "JournalState", "journal_for"]

MAX_JOURNAL_BYTES = 64 * 1024 * 1024


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass
class JournalState:
    """The journal replayed: per output destination its latest submitted/written event; per job its failure."""

    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: dict[str, dict[str, Any]] = field(default_factory=dict)

    def apply(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind in ("submitted", "written") and isinstance(event.get("destination"), str):
            self.outputs[event["destination"]] = event
        elif kind == "registered":
            self.outputs.pop(event.get("destination"), None)
        elif kind == "failed" and isinstance(event.get("job"), str):
            self.failed[event["job"]] = {"detail": event.get("detail", ""), "at": event.get("at", "")}
        elif kind == "succeeded":
            self.failed.pop(event.get("job"), None)

    def events(self) -> list[dict[str, Any]]:
        """The state as the shortest journal that replays to it."""
        return [*self.outputs.values(), *({"event": "failed", "job": job, **f} for job, f in self.failed.items())]


class Journal:
    def __init__(self, location: str, local_path: str | None):
        self.location = location
        self.local_path = local_path  # None: object storage (rewritten, not appended)
        self.problem: str | None = None
        self.disabled = False  # no tmp storage: nothing is read or written

    # -- reading --------------------------------------------------------------------------------------------

    def _text(self) -> str:
        if self.local_path is not None:
            if not os.path.isfile(self.local_path) or os.path.getsize(self.local_path) > MAX_JOURNAL_BYTES:
                return ""
            with open(self.local_path, encoding="utf-8") as handle:
                return handle.read()
        from cpg_utils import to_path

        path = to_path(self.location)
        return path.read_text() if path.exists() else ""

    def state(self) -> JournalState:
        state = JournalState()
        if self.disabled:
            return state
        try:
            text = self._text()
        except Exception as error:  # noqa: BLE001 - see the module docstring
            self.problem = f"the run journal {self.location} cannot be read: {error.__class__.__name__}: {error}"
            return state
        for line in text.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash
            if isinstance(event, dict):
                state.apply(event)
        return state

    # -- writing --------------------------------------------------------------------------------------------

    def append(self, events: Iterable[dict[str, Any]]) -> None:
        lines = "".join(json.dumps({**event, "at": event.get("at") or _now()}, sort_keys=True) + "\n" for event in events)
        if not lines or self.disabled:
            return
        try:
            if self.local_path is not None:
                os.makedirs(os.path.dirname(self.local_path), exist_ok=True)
                with open(self.local_path, "a", encoding="utf-8") as handle:
                    handle.write(lines)
                    handle.flush()
            else:
                from cpg_utils import to_path

                path = to_path(self.location)
                previous = path.read_text() if path.exists() else ""
                path.write_text(previous + lines)
        except Exception as error:  # noqa: BLE001 - see the module docstring
            self.problem = f"the run journal {self.location} cannot be written: {error.__class__.__name__}: {error}"

    def compact(self) -> None:
        """Rewrite the journal as its current state (registered outputs and recovered failures dropped)."""
        if self.disabled:
            return
        state = self.state()
        if self.problem:
            return
        text = "".join(json.dumps(event, sort_keys=True) + "\n" for event in state.events())
        try:
            if self.local_path is not None:
                os.makedirs(os.path.dirname(self.local_path), exist_ok=True)
                temporary = f"{self.local_path}.{os.getpid()}.tmp"
                with open(temporary, "w", encoding="utf-8") as handle:
                    handle.write(text)
                os.replace(temporary, self.local_path)
            else:
                from cpg_utils import to_path

                to_path(self.location).write_text(text)
        except Exception as error:  # noqa: BLE001
            self.problem = f"the run journal {self.location} cannot be written: {error.__class__.__name__}: {error}"


def journal_for(spec_name: str) -> Journal:
    """The journal of ``spec_name`` in the current cpg-utils config's dataset (``[toolkit] gcs_mirror`` stands
    in for GCS, as everywhere)."""
    from toolkit.cpg_config import ConfigError, current, output_path

    try:
        location = output_path(f"toolkit-runs/{spec_name}.jsonl", "tmp")
    except (ConfigError, KeyError):
        journal = Journal("", None)
        journal.problem = ("the cpg-utils config has no `tmp` storage for the dataset, so there is no run journal: "
                           "outputs left by a killed run are run again, not adopted, and the results page cannot "
                           "show failed jobs")
        journal.disabled = True
        return journal
    local = None
    if "://" not in location:
        local = location
    else:
        mirror = (current().get("toolkit") or {}).get("gcs_mirror")
        if mirror and location.startswith("gs://"):
            local = os.path.join(mirror, location[len("gs://"):])
    return Journal(location, local)
