"""Backend stage: turn a Plan into a Hail Batch (through cpg-utils' ``get_batch``), run it, report outcomes.

One Bash job per group, nothing else: registration happens in the driver once the batch is done (see
``toolkit.registration``), so the image never needs Python or dill and a failed job can never be registered.

Local runs use Hail's LocalBackend, either inside the spec's image (a reachable Docker Engine) or on the host.
Under analysis-runner the cpg-utils config selects the ServiceBackend and the same code submits there.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from toolkit.errors import EnvironmentProblem
from toolkit.plan.model import Action, Plan, PlannedJob
from toolkit.plan.render import CommandContext, render_command
from toolkit.spec.models import JobSpec

# Ahead of the spec's command: fail the job on the first failing command, including inside pipelines.
JOB_PREAMBLE = "set -eo pipefail\n"


@dataclass
class JobOutcome:
    group_id: str
    succeeded: bool
    detail: str = ""


@dataclass
class RunResult:
    outcomes: dict[str, JobOutcome] = field(default_factory=dict)
    batch_id: str | None = None
    seconds: float = 0.0
    tool_version: str | None = None  # from the service's version-probe job (local runs probe before planning)

    @property
    def succeeded(self) -> list[str]:
        return [gid for gid, o in self.outcomes.items() if o.succeeded]

    @property
    def failed(self) -> list[str]:
        return [gid for gid, o in self.outcomes.items() if not o.succeeded]


def tool_program(command_template: str) -> str | None:
    """The program a command starts with, when the template starts with a literal word (``fastqe ...``)."""
    literal = command_template.split("{{", 1)[0].split("{%", 1)[0]
    for line in literal.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line.startswith("set "):
            continue
        try:
            words = shlex.split(line)
        except ValueError:
            return None
        while words and "=" in words[0] and not words[0].startswith("="):
            words = words[1:]  # VAR=value prefixes
        return words[0] if words else None
    return None


def host_path_with_toolkit() -> str:
    """PATH for host jobs: tools installed next to the toolkit (its virtualenv) are found without activating it."""
    bin_dir = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "")
    return path if bin_dir in path.split(os.pathsep) else bin_dir + os.pathsep + path


def check_host_tool(spec: JobSpec) -> None:
    program = tool_program(spec.command)
    if program and shutil.which(program, path=host_path_with_toolkit()) is None:
        raise EnvironmentProblem(
            f"`{program}` (the program the {spec.name} command runs) is not on PATH, and jobs run on the host",
            hint=f"install {program} on this machine, or run inside the image with a Docker Engine "
            "(`toolkit build`, then `toolkit run --execution container`)",
        )


def probe_tool_version(spec: JobSpec, image: str | None, timeout: float = 60) -> str | None:
    """The tool's own version line, from ``version_command``, run where the jobs run (image or host)."""
    if not spec.version_command:
        return None
    if image:
        argv = ["docker", "run", "--rm", "--network", "none", "--entrypoint", "", image, "bash", "-c", spec.version_command]
        env = None
    else:
        argv = ["bash", "-c", spec.version_command]
        env = {**os.environ, "PATH": host_path_with_toolkit()}
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unknown ({error.__class__.__name__})"
    text = (done.stdout.strip() or done.stderr.strip()).splitlines()
    return text[-1].strip() if text and done.returncode == 0 else f"unknown (exit {done.returncode})"


def _memory_for(job: PlannedJob, execution: str) -> str:
    if execution == "container":
        # Hail passes the string to `docker run -m`, and Docker CLI 28 refuses `1Gi`; bytes always work
        # (the plan already holds them).
        return str(job.resources.memory_bytes)
    return job.resources.memory


def build_batch(spec: JobSpec, plan: Plan, *, batch_name: str | None = None):
    """Add one Bash job per RUN job of the plan to the cpg-utils batch. Returns (batch, {group id: hail job})."""
    from toolkit.plan import gc_paused

    with gc_paused():
        return _build_batch(spec, plan, batch_name)


def _build_batch(spec: JobSpec, plan: Plan, batch_name: str | None):
    from cpg_utils.hail_batch import get_batch, reset_batch

    if plan.execution == "container":
        from toolkit.images import local_backend_docker_flags

        # cpg-utils builds the LocalBackend without extra flags; Hail then reads them from the environment.
        # `--rm` keeps the engine clean and `--network none` keeps jobs off the network (inputs are mounted).
        os.environ["HAIL_BATCH_EXTRA_DOCKER_RUN_FLAGS"] = local_backend_docker_flags()
    reset_batch()  # cpg-utils keeps one batch per process; every run builds its own
    batch = get_batch(batch_name or f"{spec.name}: {plan.project}")
    to_run = plan.jobs_with(Action.RUN)
    inputs_by_location = _read_inputs(batch, [read.location for job in to_run for read in job.group.reads])
    jobs = {}
    outputs: list[tuple[object, str]] = []
    for planned in to_run:
        job = batch.new_job(
            planned.name,
            attributes={"sequencing_group": planned.group.id, "tool": spec.name, "stage": spec.name},
        )
        if plan.execution in ("container", "service"):
            job.image(planned.image)
        job.cpu(planned.resources.cpu)
        job.memory(_memory_for(planned, plan.execution))
        job.storage(planned.resources.storage)
        inputs = [inputs_by_location[read.location] for read in planned.group.reads]
        context = CommandContext(
            reads=[str(resource) for resource in inputs],
            outputs={name: str(job[name]) for name in planned.outputs},
            group={**planned.group.fields, "id": planned.group.id},
            params=dict(plan.params),
            resources={"cpu": planned.resources.cpu, "memory": planned.resources.memory, "storage": planned.resources.storage},
        )
        job.command(JOB_PREAMBLE + render_command(spec.command, context))
        outputs.extend((job[name], output.destination) for name, output in planned.outputs.items())
        jobs[planned.group.id] = job
    _write_outputs(batch, outputs)
    return batch, jobs


def _read_inputs(batch, locations: list[str]) -> dict:
    """One Hail input resource per distinct location, created in a single event-loop pass.

    ``Batch.read_input`` spins Hail's event loop once per file (about 0.3 ms each, the largest cost of
    building a big batch); its coroutine ``_async_read_input`` does the same work, so all inputs are
    gathered at once. Falls back to the public method if a Hail release drops the coroutine.
    """
    unique = list(dict.fromkeys(locations))
    coroutine = getattr(batch, "_async_read_input", None)
    if coroutine is None or not unique:
        return {location: batch.read_input(location) for location in unique}
    import asyncio

    from hailtop.utils import async_to_blocking

    async def read_all():
        return await asyncio.gather(*(coroutine(location) for location in unique))

    return dict(zip(unique, async_to_blocking(read_all()), strict=False))


def _write_outputs(batch, outputs: list[tuple[object, str]]) -> None:
    """``batch.write_output`` for many (resource, destination) pairs, validated in one event-loop pass.

    ``Batch.write_output`` checks the resource, normalises a local destination to an absolute path, awaits
    the backend's ``validate_file`` (cold-storage check for gs://) and records the destination. Spinning
    Hail's loop once per output is most of its cost at 10,000 groups, so the validations are gathered and
    the same steps done around them. Our resources are always job files named in their job's command, which
    is what Hail's own checks ensure. Falls back to ``write_output`` if this Hail lacks any of those pieces.
    """
    backend = batch._backend
    validate = getattr(backend, "validate_file", None)
    if validate is None or not all(hasattr(resource, "_add_output_path") for resource, _ in outputs):
        for resource, destination in outputs:
            batch.write_output(resource, destination)
        return
    import asyncio

    from hailtop.batch.backend import LocalBackend
    from hailtop.utils import async_to_blocking

    normalised = [
        (resource, os.path.abspath(os.path.expanduser(destination))
         if isinstance(backend, LocalBackend) and "://" not in destination else destination)
        for resource, destination in outputs
    ]

    async def validate_all():
        await asyncio.gather(*(validate(dest, batch.requester_pays_project) for dest in {d for _, d in normalised}))

    async_to_blocking(validate_all())
    for resource, destination in normalised:
        resource._add_output_path(destination)


class _OutputWatcher(threading.Thread):
    """Reports each local job as its outputs appear (LocalBackend runs jobs one after another, silently)."""

    def __init__(self, plan: Plan, started: float, report: Callable[[str, int, int], None]):
        super().__init__(daemon=True)
        self.pending = {job.group.id: job for job in plan.jobs_with(Action.RUN)}
        self.total = len(self.pending)
        self.started = started
        self.report = report
        self.stopped = threading.Event()

    def run(self) -> None:
        while self.pending and not self.stopped.wait(0.5):
            self.sweep()

    def sweep(self) -> None:
        for gid, job in list(self.pending.items()):
            if all(_fresh(out.destination, self.started) for out in job.outputs.values()):
                del self.pending[gid]
                self.report(gid, self.total - len(self.pending), self.total)


def _fresh(path: str, since: float) -> bool:
    try:
        return os.stat(path).st_mtime >= since - 1
    except OSError:
        return False


def run_local(spec: JobSpec, plan: Plan, report: Callable[[str, int, int], None] | None = None) -> RunResult:
    """Run the plan's jobs on Hail's LocalBackend and tell which succeeded.

    LocalBackend raises at the end for the first failed job and returns nothing per job. A job's outputs
    reach their destinations only after its command succeeded (Hail copies them in the same ``set -e``
    block), so "every output written during this run" is exactly "the job succeeded".
    """
    result = RunResult()
    to_run = plan.jobs_with(Action.RUN)
    if not to_run:
        return result
    if plan.execution == "host":
        os.environ["PATH"] = host_path_with_toolkit()
    batch, _ = build_batch(spec, plan)
    started = time.time()
    watcher = _OutputWatcher(plan, started, report) if report else None
    if watcher:
        watcher.start()
    try:
        batch.run()
    except subprocess.CalledProcessError:
        pass  # per-job outcomes are read below; Hail already printed the failing command's output
    finally:
        if watcher:
            watcher.stopped.set()
            watcher.join()
            watcher.sweep()  # the last job(s) finished between two polls
    result.seconds = time.time() - started
    for job in to_run:
        missing = [out.name for out in job.outputs.values() if not _fresh(out.destination, started)]
        result.outcomes[job.group.id] = JobOutcome(
            job.group.id,
            succeeded=not missing,
            detail="" if not missing else f"job failed (output{'s' if len(missing) > 1 else ''} {', '.join(missing)} not written)",
        )
    return result


def _add_version_probe(batch, spec: JobSpec, plan: Plan):
    """On the service the driver cannot run the image itself: one small job asks the tool for its version.

    Returns the destination the answer is written to, or None when the spec has no ``version_command``.
    """
    if not spec.version_command:
        return None
    import uuid

    from cpg_utils.config import output_path

    destination = output_path(f"toolkit-provenance/{spec.name}/{uuid.uuid4().hex}.txt", "tmp")
    job = batch.new_job(f"{spec.name} tool version", attributes={"tool": spec.name, "stage": spec.name})
    job.image(plan.image)
    job.cpu(0.25)
    job.memory("lowmem")
    # Never fails the batch: a tool without a working --version still gets its jobs run and registered.
    job.command(f"{{ {spec.version_command} ; }} > {job.version} 2>&1 || echo unknown > {job.version}")
    batch.write_output(job.version, destination)
    return destination


def _read_version(destination: str | None) -> str | None:
    if destination is None:
        return None
    try:
        from cpg_utils import to_path

        lines = to_path(destination).read_text().strip().splitlines()
    except Exception:  # noqa: BLE001 - provenance is best effort; the jobs' outcomes are what matter
        return None
    return lines[-1].strip() if lines else None


def run_service(spec: JobSpec, plan: Plan) -> RunResult:
    """Submit to the Hail Batch service, wait, and read each job's state (and the tool's version)."""
    result = RunResult()
    to_run = plan.jobs_with(Action.RUN)
    if not to_run:
        return result
    batch, jobs = build_batch(spec, plan)
    version_destination = _add_version_probe(batch, spec, plan)
    started = time.time()
    handle = batch.run(wait=True)
    result.seconds = time.time() - started
    result.tool_version = _read_version(version_destination)
    # After submission each Hail job knows its service job id; the service lists jobs by that id.
    group_by_job_id = {
        client_job.job_id: group_id
        for group_id, job in jobs.items()
        if (client_job := getattr(job, "_client_job", None)) is not None
    }
    states: dict[str, str] = {}
    if handle is not None:
        result.batch_id = str(getattr(handle, "id", ""))
        for status in handle.jobs():
            group_id = group_by_job_id.get(status.get("job_id"))
            if group_id:
                states[group_id] = status.get("state", "")
    for job in to_run:
        state = states.get(job.group.id, "unknown")
        result.outcomes[job.group.id] = JobOutcome(job.group.id, succeeded=state == "Success", detail=f"state {state}")
    return result
