"""Backend stage: turn a Plan into a Hail Batch (through cpg-utils' ``get_batch``), run it, report outcomes.

One Bash job per group, nothing else: registration happens in the driver once the batch is done (see
``toolkit.registration``), so the image never needs Python or dill and a failed job can never be registered.

Local runs use Hail's LocalBackend, either inside the spec's image (a reachable Docker Engine) or on the host.
Under analysis-runner the cpg-utils config selects the ServiceBackend and the same code submits there.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterator

from toolkit.errors import EnvironmentProblem
from toolkit.plan.model import Action, Plan, PlannedJob
from toolkit.plan.names import hail_label, job_name
from toolkit.plan import unit_context
from toolkit.render import RenderError, render_command
from toolkit.spec.models import JobSpec


# Every container this process starts for a job carries this label, so that stopping a run can find them:
# killing `docker run` does not stop its container.
CONTAINER_LABEL = "org.jobspec-toolkit.run"
RUN_ID = uuid.uuid4().hex


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
    stopped_early: str | None = None  # why the batch stopped before running every job (jobs done before count)
    # job id -> wall seconds of the jobs that succeeded: the service's own figure; locally, one job at a time,
    # the time between a job's outputs appearing and the previous job's (LocalBackend runs one job after
    # another); in parallel lanes, each job's own start to end (toolkit.backend.lanes)
    durations: dict[str, float] = field(default_factory=dict)
    finished: dict[str, float] = field(default_factory=dict)  # job id -> when it ended (epoch s), local runs

    @property
    def succeeded(self) -> list[str]:
        return [gid for gid, o in self.outcomes.items() if o.succeeded]

    @property
    def failed(self) -> list[str]:
        return [gid for gid, o in self.outcomes.items() if not o.succeeded]


def tool_programs(spec: JobSpec) -> list[str]:
    """The programs the spec's command and ``version_command`` run from PATH, read with the bash parser
    (toolkit.shell.programs): ``work=$(mktemp -d)`` names ``mktemp``, never ``-d)``."""
    from toolkit import shell
    from toolkit.spec._templates import command_skeleton

    names: dict[str, None] = {}
    skeleton = command_skeleton(spec.command, "p")
    if skeleton is not None:
        names.update(dict.fromkeys(shell.programs(skeleton.text, shell.marker_pattern("p"))))
    if spec.version_command:
        names.update(dict.fromkeys(shell.programs(spec.version_command, shell.marker_pattern("p"))))
    return list(names)


def host_path_with_toolkit() -> str:
    """PATH for host jobs: tools installed next to the toolkit (its virtualenv) are found without activating it."""
    bin_dir = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "")
    return path if bin_dir in path.split(os.pathsep) else bin_dir + os.pathsep + path


def check_host_tool(spec: JobSpec) -> None:
    """Jobs run on the host: every program the command names must be on PATH there."""
    path = host_path_with_toolkit()
    missing = [program for program in tool_programs(spec) if shutil.which(program, path=path) is None]
    if missing:
        listed = ", ".join(f"`{program}`" for program in missing)
        raise EnvironmentProblem(
            f"{listed} ({'programs' if len(missing) > 1 else 'a program'} the {spec.name} command runs) "
            f"{'are' if len(missing) > 1 else 'is'} not on PATH, and jobs run on the host",
            hint=f"install {missing[0]} on this machine, or run inside the image with a Docker Engine "
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
        # At a lower priority: the answer is only wanted once the plan is made, and the probe runs beside the
        # Metamist questions, whose server and client then keep the two cores (FastQE's probe is 0.3 s of CPU;
        # `plan` of 10,000 groups took 2-4% less).
        nice = shutil.which("nice")
        argv = [*([nice, "-n", "10"] if nice else []), "bash", "-c", spec.version_command]
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


def build_batch(
    spec: JobSpec, plan: Plan, *, batch_name: str | None = None, refused: dict[str, str] | None = None
):
    """Add one Bash job per RUN job of the plan to the cpg-utils batch. Returns (batch, {group id: hail job}).

    A group whose command cannot be rendered with Hail's file placeholders is left out and, when ``refused``
    is given, recorded there (group id -> reason); without ``refused`` the RenderError propagates.
    """
    from toolkit.plan import gc_paused

    with gc_paused():
        return _build_batch(spec, plan, batch_name, refused)


def set_container_run_flags() -> None:
    """cpg-utils builds the LocalBackend without extra flags; Hail then reads them from the environment.
    `--rm` keeps the engine clean, `--network none` keeps jobs off the network (inputs are mounted), and the
    label lets a stopped run find its containers.

    Set only when it changes: parallel lanes (toolkit.backend.lanes) set it before they start and then build
    while other lanes start processes, and changing the environment while another thread starts a process
    is not safe."""
    from toolkit.images import local_backend_docker_flags

    flags = local_backend_docker_flags() + f" --label {CONTAINER_LABEL}={RUN_ID}"
    if os.environ.get("HAIL_BATCH_EXTRA_DOCKER_RUN_FLAGS") != flags:
        os.environ["HAIL_BATCH_EXTRA_DOCKER_RUN_FLAGS"] = flags


def _cpg_hail_batch():
    """cpg-utils' batch module, imported once per process, its objects then frozen for the garbage collector.

    It imports all of ``hail`` (numpy, scipy, pandas, bokeh: some 300,000 objects that live as long as the
    process). Left to the collector, each of its passes over the older generations walks them all again: about
    0.95 s of this process's CPU in a local run of 24 jobs, taken from the cores the jobs run on. Frozen once,
    right after the import (build_batch pauses the collector, so nothing is collected meanwhile), they are
    never walked again; whatever the import left as garbage (little) stays in memory. Only in the ``toolkit``
    program (toolkit.process): Python code that calls the toolkit keeps its collector as it was.
    """
    import sys

    from toolkit import process

    if "cpg_utils.hail_batch" not in sys.modules:
        import cpg_utils.hail_batch  # noqa: F401 - what the import made is what is frozen

        if process.AS_PROGRAM:
            import gc

            gc.freeze()
    return sys.modules["cpg_utils.hail_batch"]


def _build_batch(spec: JobSpec, plan: Plan, batch_name: str | None, refused: dict[str, str] | None):
    hail_batch = _cpg_hail_batch()
    get_batch, reset_batch = hail_batch.get_batch, hail_batch.reset_batch

    if plan.execution == "container":
        set_container_run_flags()
    reset_batch()  # cpg-utils keeps one batch per process; every run builds its own
    # Every name Hail sees is built from a fixed alphabet (toolkit.plan.names): Hail writes job names into
    # the generated script and cpg-utils puts the sequencing_group attribute into the job name.
    batch = get_batch(batch_name or f"{hail_label(spec.name)} on {hail_label(plan.project)}")
    _check_scratch_root(batch)
    to_run = plan.jobs_with(Action.RUN)
    inputs_by_location = _read_inputs(batch, [hail_input(read.location) for job in to_run for read in job.unit.reads])
    jobs = {}
    outputs: list[tuple[object, str]] = []
    for planned in to_run:
        job = batch.new_job(
            job_name(spec.name, planned.id),
            attributes={
                "sequencing_group": hail_label(planned.group.id if planned.group else planned.id),
                "tool": hail_label(spec.name),
                "stage": hail_label(spec.name),
            },
        )
        inputs = [inputs_by_location[hail_input(read.location)] for read in planned.unit.reads]
        context = unit_context(
            planned.unit, project=plan.project, params=dict(plan.params), resources=planned.resources,
            read_paths=[str(resource) for resource in inputs],
            outputs={name: str(job[name]) for name in planned.outputs},
        )
        try:
            command = render_command(spec.command, context)
        except RenderError as error:
            if refused is None:
                raise
            # The plan rendered this group; only Hail's file placeholders can make it fail here. Leave the
            # job out rather than submit one without a command.
            batch._jobs.remove(job)  # noqa: SLF001 - Hail has no public way to drop a job
            refused[planned.id] = error.message
            continue
        if plan.execution in ("container", "service"):
            job.image(planned.image)
        job.cpu(planned.resources.cpu)
        job.memory(_memory_for(planned, plan.execution))
        job.storage(planned.resources.storage)
        job.command(spec.shell.preamble() + command)
        outputs.extend((job[name], output.destination) for name, output in planned.outputs.items())
        jobs[planned.id] = job
    _write_outputs(batch, outputs)
    return batch, jobs


def hail_input(location: str) -> str:
    """What Hail reads a location as: a ``file://`` URI (another spec's local output, as Metamist records it)
    is the local path; Hail copies local paths and ``gs://`` objects in, and knows no ``file://``."""
    return location[len("file://"):] if location.startswith("file://") else location


def _read_inputs(batch, locations: list[str]) -> dict:
    """One Hail input resource per distinct location, created in a single event-loop pass.

    ``Batch.read_input`` spins Hail's event loop once per file (about 0.3 ms each, the largest cost of
    building a big batch); its coroutine ``_async_read_input`` does the same work, so all inputs are
    created in one pass, after each bucket was validated once (see :func:`_validate_each_bucket_once`).
    Falls back to the public method if a Hail release drops the coroutine.
    """
    unique = list(dict.fromkeys(locations))
    coroutine = getattr(batch, "_async_read_input", None)
    if coroutine is None or not unique:
        return {location: batch.read_input(location) for location in unique}
    from hailtop.utils import async_to_blocking

    async def read_all():
        await _validate_each_bucket_once(batch, unique)
        # One after another, not gathered: with every bucket known no validation waits on I/O any more, and
        # 200,000 tasks would cost more than they could overlap.
        return [await coroutine(location) for location in unique]

    return dict(zip(unique, async_to_blocking(read_all()), strict=True))


def _write_outputs(batch, outputs: list[tuple[object, str]]) -> None:
    """``batch.write_output`` for many (resource, destination) pairs, validated in one event-loop pass.

    ``Batch.write_output`` checks the resource, normalises a local destination to an absolute path, awaits
    the backend's ``validate_file`` (cold-storage check for gs://) and records the destination. Spinning
    Hail's loop once per output is most of its cost at 10,000 groups, so the validations are done in one
    pass (each bucket first, once) and the same steps done around them. Our resources are always job files
    named in their job's command, which is what Hail's own checks ensure. Falls back to ``write_output`` if
    this Hail lacks any of those pieces.
    """
    backend = batch._backend
    validate = getattr(backend, "validate_file", None)
    if validate is None or not all(hasattr(resource, "_add_output_path") for resource, _ in outputs):
        for resource, destination in outputs:
            batch.write_output(resource, destination)
        return
    from hailtop.batch.backend import LocalBackend
    from hailtop.utils import async_to_blocking

    normalised = [
        (resource, os.path.abspath(os.path.expanduser(destination))
         if isinstance(backend, LocalBackend) and "://" not in destination else destination)
        for resource, destination in outputs
    ]
    destinations = list(dict.fromkeys(destination for _, destination in normalised))

    async def validate_all():
        await _validate_each_bucket_once(batch, destinations)
        for destination in destinations:
            await validate(destination, batch.requester_pays_project)

    async_to_blocking(validate_all())
    for resource, destination in normalised:
        resource._add_output_path(destination)


def _storage_root(uri: str) -> str:
    """What Hail's validation of a file depends on: its bucket (``gs://bucket``); one root for local paths."""
    scheme, separator, rest = uri.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}" if separator else ""


async def _validate_each_bucket_once(batch, uris: list[str]) -> None:
    """Validate one file per bucket, one bucket after another, before the other files are validated.

    For a gs:// file Hail's ``validate_file`` asks GCS whether the bucket is in cold storage, and remembers a
    hot bucket once the answer is back, appending it to a list. Gathered over every file (as this module did),
    each file asked GCS before any answer came back (300,000 requests for a 100,000-group service batch) and
    the list grew by one entry per answer, every later check scanning it: the build took over ten minutes and
    2 GB. Asked first, once per bucket, every other file finds its bucket in a short list; the outcome is the
    one Hail's own one-at-a-time ``read_input`` gives (the first file of a bucket decides).
    """
    first_of_bucket: dict[str, str] = {}
    for uri in uris:
        first_of_bucket.setdefault(_storage_root(uri), uri)
    for uri in first_of_bucket.values():
        await batch._backend.validate_file(uri, batch.requester_pays_project)


class _OutputWatcher(threading.Thread):
    """Reports each local job as its outputs appear (LocalBackend runs jobs one after another, silently)."""

    def __init__(self, plan: Plan, started: float, report: Callable[[str, int, int], None] | None,
                 on_written: Callable[[PlannedJob], None] | None = None):
        super().__init__(daemon=True)
        self.pending = {job.id: job for job in plan.jobs_with(Action.RUN)}
        self.total = len(self.pending)
        self.started = started
        self.report = report
        self.on_written = on_written
        self.stopped = threading.Event()

    def run(self) -> None:
        while self.pending and not self.stopped.wait(0.5):
            self.sweep()

    def sweep(self) -> None:
        for gid, job in list(self.pending.items()):
            if all(_fresh(out.destination, self.started) for out in job.outputs.values()):
                del self.pending[gid]
                if self.on_written is not None:
                    self.on_written(job)  # recorded at once: a run killed later still knows what this job wrote
                if self.report is not None:
                    self.report(gid, self.total - len(self.pending), self.total)


def _fresh(path: str, since: float) -> bool:
    try:
        return os.stat(path).st_mtime >= since - 1
    except OSError:
        return False


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Hail's LocalBackend and the copy processes it starts print to file descriptor 1. The toolkit's stdout is
    for results a script may read (or close early: `toolkit run ... | head`), so the batch writes to stderr,
    through a pipe that drops blank lines: Hail's copy tool (``hailtop.aiotools.copy``, whose rich progress
    display ends with a newline when it is not on a terminal) prints one for every job, between the run's
    progress lines."""
    sys.stdout.flush()
    saved = os.dup(1)
    read_end, write_end = os.pipe()
    forwarder = threading.Thread(target=_forward_without_blank_lines, args=(read_end, 2), name="batch-output",
                                 daemon=True)
    forwarder.start()
    os.dup2(write_end, 1)
    os.close(write_end)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)  # the last write end this process holds: the forwarder reads to the end and stops
        os.close(saved)
        # A process the batch left behind may still hold the pipe: its output then goes on, in the background.
        forwarder.join(timeout=2)


def _forward_without_blank_lines(read_end: int, target: int) -> None:
    """Copy ``read_end`` to ``target`` line by line until end of file, without lines that are only whitespace."""
    with os.fdopen(read_end, "rb", buffering=0) as source:
        pending = b""
        while chunk := source.read(65536):
            *lines, pending = (pending + chunk).split(b"\n")
            kept = b"".join(line + b"\n" for line in lines if line.strip())
            if kept:
                _write_all(target, kept)
        if pending.strip():
            _write_all(target, pending)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except OSError:  # stderr closed: the output has nowhere to go, and the batch must not block on it
            return


def _written_at(job: PlannedJob) -> float:
    return max(os.stat(out.destination).st_mtime for out in job.outputs.values())


def _local_durations(jobs: list[PlannedJob], succeeded: set[str], started: float) -> dict[str, float]:
    """Wall seconds per succeeded job: LocalBackend runs one job after another, so a job took from the previous
    job's outputs appearing (or the batch's start) to its own."""
    finished = sorted((_written_at(job), job.id) for job in jobs if job.id in succeeded)
    durations, previous = {}, started
    for at, job_id in finished:
        durations[job_id] = round(max(at - previous, 0.0), 3)
        previous = at
    return durations


def run_local(
    spec: JobSpec, plan: Plan, report: Callable[[str, int, int], None] | None = None,
    on_written: Callable[[PlannedJob], None] | None = None, lanes: int = 1,
) -> RunResult:
    """Run the plan's jobs on Hail's LocalBackend and tell which succeeded.

    ``lanes`` > 1 runs that many jobs at a time (toolkit.backend.lanes: the jobs of a plan never depend on
    each other); 1 runs them all in one batch, one after another, as LocalBackend does.

    LocalBackend raises at the end for the first failed job and returns nothing per job. A job's outputs
    reach their destinations only after its command succeeded (Hail copies them in the same ``set -e``
    block), so "every output written during this run" is exactly "the job succeeded". That holds also when
    the batch stops early: the jobs that finished before are reported as succeeded and get registered.
    """
    result = RunResult()
    to_run = plan.jobs_with(Action.RUN)
    if not to_run:
        return result
    if plan.execution == "host":
        os.environ["PATH"] = host_path_with_toolkit()
    if lanes > 1 and len(to_run) > 1:
        from toolkit.backend.lanes import run_in_lanes

        return run_in_lanes(spec, plan, min(lanes, len(to_run)), report, on_written)
    refused: dict[str, str] = {}
    batch, _ = build_batch(spec, plan, refused=refused)
    started = time.time()
    watcher = _OutputWatcher(plan, started, report, on_written) if report or on_written else None
    if watcher:
        watcher.start()
    try:
        with _stdout_to_stderr():
            batch.run()
    except subprocess.CalledProcessError:
        pass  # per-job outcomes are read below; Hail already printed the failing command's output
    except Exception as error:  # noqa: BLE001 - the jobs that finished must still be registered
        result.stopped_early = f"{error.__class__.__name__}: {error}"
    finally:
        if watcher:
            watcher.stopped.set()
            watcher.join()
            watcher.sweep()  # the last job(s) finished between two polls
        _remove_empty_scratch_root(batch)
    result.seconds = time.time() - started
    for job in to_run:
        if job.id in refused:
            result.outcomes[job.id] = JobOutcome(job.id, False, f"not submitted: {refused[job.id]}")
            continue
        missing = [out.name for out in job.outputs.values() if not _fresh(out.destination, started)]
        detail = ""
        if missing:
            detail = f"job failed (output{'s' if len(missing) > 1 else ''} {', '.join(missing)} not written)"
            if result.stopped_early:
                detail = "not run or not finished: the batch stopped early"
        result.outcomes[job.id] = JobOutcome(job.id, succeeded=not missing, detail=detail)
    result.durations = _local_durations(to_run, set(result.succeeded), started)
    result.finished = {job.id: _written_at(job) for job in to_run if job.id in result.durations}
    return result


# Hail's LocalBackend writes its scratch folder unquoted into every job script (`cd <dir>`, `${BATCH_TMPDIR}`).
_SAFE_SCRATCH = re.compile(r"[A-Za-z0-9/._+-]+")


def _check_scratch_root(batch) -> None:
    root = getattr(getattr(batch, "_backend", None), "_tmp_dir", None)
    if isinstance(root, str) and not _SAFE_SCRATCH.fullmatch(root):
        from cpg_utils.hail_batch import reset_batch

        _remove_empty_scratch_root(batch)
        batch._backend.close()  # now, not from its __del__ while Python shuts down
        reset_batch()
        raise EnvironmentProblem(
            f"the temporary folder {root!r} has characters Hail's LocalBackend does not quote in job scripts",
            hint="set TMPDIR to a folder whose path has only letters, digits and / . _ + -",
        )


def _remove_empty_scratch_root(batch) -> None:
    """cpg-utils gives each LocalBackend a new ``mkdtemp('batch-tmp')`` folder; Hail deletes only the batch's
    own scratch folder inside it (``<root>/batch/<id>``), so every run left an empty folder in $TMPDIR.
    Remove the folders Hail left empty; anything still inside (``delete_scratch_on_exit = false``) stays."""
    root = getattr(getattr(batch, "_backend", None), "_tmp_dir", None)
    if not isinstance(root, str) or not os.path.basename(root).endswith("batch-tmp"):
        return
    for folder in (os.path.join(root, "batch"), root):
        with contextlib.suppress(OSError):
            os.rmdir(folder)


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
    refused: dict[str, str] = {}
    batch, jobs = build_batch(spec, plan, refused=refused)
    version_destination = _add_version_probe(batch, spec, plan)
    started = time.time()
    with _stdout_to_stderr():
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
                if isinstance(status.get("duration"), (int, float)):
                    result.durations[group_id] = round(status["duration"] / 1000, 3)  # the service counts ms
    for job in to_run:
        if job.id in refused:
            result.outcomes[job.id] = JobOutcome(job.id, False, f"not submitted: {refused[job.id]}")
            continue
        state = states.get(job.id, "unknown")
        result.outcomes[job.id] = JobOutcome(job.id, succeeded=state == "Success", detail=f"state {state}")
    return result


# ------------------------------------------------------------------------------------------ stopping a run

class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as Ctrl-C raises KeyboardInterrupt, once the jobs were stopped.

    A KeyboardInterrupt, so that everything that cleans up after Ctrl-C (Hail deleting its scratch folder,
    ``subprocess`` reaping its child) does the same here, and no ``except Exception`` swallows it.
    """


@dataclass
class Stopped:
    """What stopping a run's jobs found still running."""

    processes: int = 0
    containers: int = 0

    def add(self, other: Stopped) -> None:
        self.processes += other.processes
        self.containers += other.containers

    def describe(self) -> str:
        if not self.processes and not self.containers:
            return "no job was running"
        parts = [f"{self.processes} job process(es)"] if self.processes else []
        parts += [f"{self.containers} container(s)"] if self.containers else []
        return "stopped " + " and ".join(parts)


@contextlib.contextmanager
def jobs_stopped_on_signals() -> Iterator[Stopped]:
    """While the block runs, SIGTERM and SIGINT first stop every job this process started, then raise
    :class:`Terminated` (SIGTERM) or KeyboardInterrupt (SIGINT) in the main thread.

    Hail's LocalBackend runs each job as ``sh -c <script>`` -> ``bash -c <job>`` -> the tool (or ``docker
    run``). SIGTERM reaches only the toolkit, and ``subprocess`` kills only the ``sh`` it started, so without
    this the tool goes on as an orphan; a container goes on even when ``docker run`` is killed. The yielded
    :class:`Stopped` says what was stopped, for the message.
    """
    global _stopped_by_signal
    stopped = Stopped()

    def handler(signum, frame):
        # First, so that parallel lanes (toolkit.backend.lanes) start no job while these are being stopped.
        STOP_REQUESTED.set()
        stopped.add(stop_jobs())
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    STOP_REQUESTED.clear()
    _stopped_by_signal = stopped
    try:
        yield stopped
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        _stopped_by_signal = None
        STOP_REQUESTED.clear()


# Set when a signal stops the run: parallel lanes check it before each job they start.
STOP_REQUESTED = threading.Event()
# What the signal handler found and stopped, while jobs_stopped_on_signals is active: a job a lane started
# while the handler ran is stopped later (stop_stragglers) and counted here too, for the run's message.
_stopped_by_signal: Stopped | None = None


def stop_stragglers() -> None:
    """Stop every job process (and labelled container) still running, counted with what the signal stopped."""
    found = stop_jobs(grace=2.0)
    if _stopped_by_signal is not None:
        _stopped_by_signal.add(found)


def stop_jobs(grace: float = 5.0) -> Stopped:
    """Stop the containers this process labelled, then every process it started (SIGTERM, then SIGKILL)."""
    import psutil

    from toolkit.process import HELPER_PIDS

    stopped = Stopped(containers=_kill_labelled_containers())
    me = psutil.Process()
    for _ in range(3):  # a shell can start its next command while the first round stops the current one
        children = [child for child in me.children(recursive=True) if child.pid not in HELPER_PIDS]
        if not children:
            break
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.terminate()
        _, alive = psutil.wait_procs(children, timeout=grace)
        for child in alive:
            with contextlib.suppress(psutil.Error):
                child.kill()
        psutil.wait_procs(alive, timeout=grace)
        stopped.processes += len(children)
    return stopped


def _kill_labelled_containers() -> int:
    if CONTAINER_LABEL not in os.environ.get("HAIL_BATCH_EXTRA_DOCKER_RUN_FLAGS", ""):
        return 0
    try:
        from toolkit.images import docker_client

        client = docker_client()
    except Exception:  # noqa: BLE001 - no engine reachable: no container can be running either
        return 0
    killed = 0
    try:
        for container in client.containers.list(filters={"label": f"{CONTAINER_LABEL}={RUN_ID}"}):
            with contextlib.suppress(Exception):
                container.kill()
                killed += 1
    except Exception:  # noqa: BLE001 - best effort: the processes are stopped regardless
        pass
    finally:
        client.close()
    return killed
