"""The stages wired together: load -> validate -> query -> plan -> submit -> register.

Each stage is a function of the previous stage's output; this module only sequences them for the CLI verbs
(``plan``, ``run``) and reports progress. Nothing here knows about any particular tool.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

from toolkit.errors import EnvironmentProblem, UsageError
from toolkit.plan import PlanContext, make_plan
from toolkit.plan.model import Plan
from toolkit.query import GroupSet, QueryRequest, Rejection, fetch_groups
from toolkit.settings import Settings
from toolkit.spec.models import JobSpec


def parse_params(spec: JobSpec, assignments: list[str] | None) -> dict[str, Any]:
    """``--param NAME=VALUE`` (repeatable), typed by the spec's ``params``, defaults filled in."""
    values: dict[str, Any] = {name: p.default for name, p in spec.params.items()}
    for assignment in assignments or []:
        name, sep, raw = assignment.partition("=")
        if not sep:
            raise UsageError(f"--param {assignment!r}: expected NAME=VALUE")
        if name not in spec.params:
            known = ", ".join(sorted(spec.params)) or "none"
            raise UsageError(f"--param {name}: the jobspec declares no such parameter (declared: {known})")
        kind = spec.params[name].type
        try:
            if kind == "int":
                values[name] = int(raw)
            elif kind == "float":
                values[name] = float(raw)
            elif kind == "bool":
                if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(raw)
                values[name] = raw.lower() in ("true", "1", "yes")
            else:
                values[name] = raw
        except ValueError:
            raise UsageError(f"--param {name}={raw!r}: not a valid {kind}") from None
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise UsageError(f"parameter(s) without a default need a value: {', '.join('--param ' + m + '=...' for m in missing)}")
    return values


def reject_missing_local_reads(groups: GroupSet, *, fatal: bool) -> GroupSet:
    """A read stored as a local path (a sample sheet, the demo) that is not on this machine: one clear line
    for its group now, rather than a failed job after submission."""
    kept, rejected = [], list(groups.rejections)
    for group in groups.groups:
        missing = [
            read.location for read in group.reads
            if ("://" not in read.location or read.location.startswith("file://"))
            and not os.path.exists(read.location.removeprefix("file://"))
        ]
        if missing:
            rejected.append(Rejection(group.id, f"read not found on this machine: {missing[0]}"
                                      + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""), fatal))
        else:
            kept.append(group)
    return GroupSet(tuple(kept), tuple(rejected))


def choose_execution(settings: Settings, requested: str, image: str) -> tuple[str, str]:
    """Where jobs run: ("service"|"container"|"host", why). Says why, so the user always knows which mode ran."""
    if settings.backend != "local":
        return "service", f"Hail Batch service (hail.backend = {settings.backend!r})"
    if requested == "host":
        return "host", "on the host, as asked (--execution host)"
    from toolkit.images import engine_status, image_present

    available, reason = engine_status()
    if not available:
        if requested == "container":
            raise EnvironmentProblem(f"--execution container, but no Docker Engine is reachable: {reason}")
        return "host", f"on the host: no Docker Engine reachable ({reason})"
    if not image_present(image):
        if requested == "container":
            raise EnvironmentProblem(
                f"image {image} is not available to the Docker Engine", hint="build it first: toolkit build SPEC"
            )
        return "host", f"on the host: image {image} is not built here (toolkit build SPEC to run in it)"
    return "container", f"in the image {image} (Docker Engine)"


def output_locator() -> Callable[[str, str], str]:
    """(suffix, category) -> cpg-utils ``output_path(suffix, category)``.

    The category's prefix (bucket + output prefix) is looked up once per category: the same string
    ``output_path`` builds, without re-reading the config for each of thousands of groups.
    """
    from cpg_utils.config import output_path

    prefixes: dict[str, str] = {}

    def location(suffix: str, category: str) -> str:
        prefix = prefixes.get(category)
        if prefix is None:
            prefix = prefixes[category] = output_path("", category if category != "default" else None)
        return os.path.join(prefix, suffix)

    return location


def display_url_locator() -> Callable[[str], str | None]:
    """web suffix -> its URL (cpg-utils ``output_path(suffix, 'web_url')``), or None without a web_url."""
    from cpg_utils.config import ConfigError, output_path

    try:
        prefix = output_path("", "web_url")
    except (ConfigError, KeyError):
        return lambda suffix: None
    return lambda suffix: os.path.join(prefix, suffix)


def _existence_check(settings: Settings) -> Callable[[str], bool]:
    """Does an output exist already? Local paths on disk; gs:// through cloudpathlib (GCS).

    ``[toolkit] gcs_mirror = DIR`` in the config answers gs://bucket/path from DIR/bucket/path instead: the
    stand-in for GCS in tests and dry runs on machines without Google access.
    """
    mirror = (settings.config.get("toolkit") or {}).get("gcs_mirror")

    def exists(destination: str) -> bool:
        if "://" not in destination:
            return os.path.exists(destination)
        if mirror and destination.startswith("gs://"):
            return os.path.exists(os.path.join(mirror, destination[len("gs://"):]))
        from cpg_utils import to_path

        return to_path(destination).exists()

    return exists


def _local_image_id(image: str) -> str | None:
    """The engine's id for the image (a tag can move; this cannot), for the Analyses' provenance."""
    from toolkit.images import docker_client

    try:
        client = docker_client()
        try:
            return client.images.get(image).id
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - provenance is best effort; the reference is recorded regardless
        return None


@dataclass
class Prepared:
    plan: Plan
    execution_reason: str


def prepare_plan(
    loaded,
    settings: Settings,
    *,
    sgids: tuple[str, ...] | None,
    params: dict[str, Any],
    execution: str = "auto",
    probe_version: bool = False,
    force: bool = False,
    progress: Callable[[str], None] = lambda message: None,
) -> Prepared:
    """query -> plan, with everything the plan needs from the outside world looked up here."""
    from toolkit.backend import probe_tool_version
    from toolkit.images import image_reference
    from toolkit.preflight import check_before_running
    from toolkit.registration import existing_analyses

    spec: JobSpec = loaded.model
    location = output_locator()
    check_before_running(loaded, location, settings.metamist_url or "the configured Metamist")
    image = image_reference(loaded)
    mode, reason = choose_execution(settings, execution, image)

    progress(f"querying Metamist for project {settings.project}")
    groups = fetch_groups(spec, QueryRequest(project=settings.project, sgids=sgids, params=params))
    groups = reject_missing_local_reads(groups, fatal=spec.inputs.expect.on_mismatch == "fail")
    progress(f"{len(groups.groups)} group(s) to consider, {len(groups.rejections)} skipped")

    existing = {}
    if spec.register and groups.groups:
        existing = existing_analyses(settings.project, {(r.type, r.status) for r in spec.register.values()})

    tool_version = probe_tool_version(spec, image if mode == "container" else None) if probe_version and mode != "service" else None

    image_id = _local_image_id(image) if mode == "container" else None
    context = PlanContext(
        project=settings.project,
        image=image,
        execution=mode,
        spec_path=str(loaded.path),
        spec_sha256=loaded.content_hash,
        output_location=location,
        display_url=display_url_locator(),
        output_exists=_existence_check(settings),
        existing_analyses=existing,
        params=params,
        tool_version=tool_version,
        image_id=image_id,
        force=force,
    )
    plan = make_plan(spec, groups, context)
    return Prepared(plan=plan, execution_reason=reason)
