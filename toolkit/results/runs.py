"""The run record: which groups' jobs failed in the latest run of a jobspec, for the results page.

A failed job is never registered in Metamist (see ``toolkit.registration``), so Metamist cannot tell a group
that failed from one never run. ``toolkit run`` therefore keeps one small JSON file per jobspec in the
dataset's ``tmp`` storage (cpg-utils ``output_path("toolkit-runs/<spec>.json", "tmp")``): the groups whose
job failed, with the detail and the time. A group that later succeeds leaves it. Best effort on both sides:
a record that cannot be written or read never fails a run or the page (the page then says "due", not "failed").
"""

from __future__ import annotations

import datetime
import json
import os
from typing import Any

RECORD_LIMIT_BYTES = 4 * 1024 * 1024


def _location(spec_name: str) -> str:
    from cpg_utils.config import output_path

    return output_path(f"toolkit-runs/{spec_name}.json", "tmp")


def _local(location: str) -> str | None:
    """A local file for the location: itself, or its file in ``[toolkit] gcs_mirror``; None for real GCS."""
    if "://" not in location:
        return location
    from cpg_utils.config import get_config

    mirror = (get_config().get("toolkit") or {}).get("gcs_mirror")
    if mirror and location.startswith("gs://"):
        return os.path.join(mirror, location[len("gs://"):])
    return None


def _read(location: str) -> dict[str, Any]:
    local = _local(location)
    if local is not None:
        if not os.path.isfile(local) or os.path.getsize(local) > RECORD_LIMIT_BYTES:
            return {}
        with open(local, encoding="utf-8") as handle:
            text = handle.read()
    else:
        from cpg_utils import to_path

        path = to_path(location)
        if not path.exists():
            return {}
        text = path.read_text()
    data = json.loads(text)
    return data if isinstance(data, dict) else {}


def read_run_record(spec_name: str) -> dict[str, Any]:
    """``{"failed": {group id: {"detail", "at"}}}`` for the current config's dataset; empty when there is none."""
    try:
        return _read(_location(spec_name))
    except Exception:  # noqa: BLE001 - see the module docstring: the page shows "due" instead
        return {}


def record_run(spec_name: str, failed: dict[str, str], succeeded: list[str]) -> str | None:
    """Add this run's failures, drop the groups that succeeded. Returns a warning when it could not be written."""
    try:
        location = _location(spec_name)
        record = _read(location)
        failures = record.get("failed") if isinstance(record.get("failed"), dict) else {}
        for group_id in succeeded:
            failures.pop(group_id, None)
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        for group_id, detail in failed.items():
            failures[group_id] = {"detail": detail, "at": now}
        text = json.dumps({"spec": spec_name, "failed": failures}, indent=1, sort_keys=True) + "\n"
        local = _local(location)
        if local is not None:
            os.makedirs(os.path.dirname(local), exist_ok=True)
            tmp = f"{local}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, local)
        else:
            from cpg_utils import to_path

            to_path(location).write_text(text)
    except Exception as error:  # noqa: BLE001 - the run's own result stands; the page will say "due"
        return f"could not record the failed groups for the results page: {error.__class__.__name__}: {error}"
    return None
