"""Local runs with several jobs at a time: parallel lanes, each a thread that runs one job after another.

Hail's LocalBackend runs the jobs of a batch one at a time. A lane takes the next job of the plan from a
shared queue, builds a batch of that one job and runs it; N lanes run N jobs at once, and a lane that finishes
early takes the next job (no lane waits on a slow one). The jobs of a plan never depend on each other (one
Bash job per unit of work, toolkit.backend.build_batch); what does depend on something runs later in its own
plan (``toolkit run A.yaml B.yaml`` plans B once A is registered), so splitting a plan's jobs keeps every
order that matters.

Threads, not processes: a job is a child process (``bash``, or ``docker run``), so a lane only waits for it.
Hail runs each batch through the event loop of the calling thread (``hailtop.hail_event_loop`` makes one per
thread), and everything a one-job batch holds (its LocalBackend, its file system, its scratch folder) is the
lane's own, built and closed in the lane; only cpg-utils' one-batch-per-process ``get_batch`` is shared, so
building is done under a lock. Jobs stay children of this process: stopping a run (toolkit.backend.stop_jobs)
finds them and their containers as before.

One result for the whole run: outcomes, per-job wall seconds (each job's own start to end), one progress
report per finished job, in the order they finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from toolkit.backend import (
    STOP_REQUESTED, JobOutcome, RunResult, _fresh, _remove_empty_scratch_root, _stdout_to_stderr, build_batch,
    set_container_run_flags, stop_stragglers,
)
from toolkit.errors import UsageError
from toolkit.plan.model import Action, Plan, PlannedJob
from toolkit.spec.models import JobSpec

AUTO = "auto"
NOT_RUN = "not run or not finished: the batch stopped early"  # as the one-batch run says it


# ------------------------------------------------------------------------------------------ how many lanes

def parse_lanes(value: object, source: str) -> int | None:
    """``auto`` (None: sized by :func:`choose_lanes`) or a whole number >= 1, from the option or config."""
    if value is None or (isinstance(value, str) and value.strip().lower() == AUTO):
        return None
    whole = isinstance(value, int) and not isinstance(value, bool)  # TOML `true` is no number of jobs
    if not whole and not (isinstance(value, str) and value.strip().isdigit()):
        raise UsageError(f"{source} = {value!r}: expected `auto` or how many jobs run at a time (1 or more)")
    number = int(value)
    if number < 1:
        raise UsageError(f"{source} = {value!r}: at least 1 job runs at a time (1: one after another)")
    return number


@dataclass(frozen=True)
class Capacity:
    """What this machine (and, for containers, the Docker Engine) can give jobs at once."""

    cores: int
    memory_bytes: int
    where: str = "this machine"


def machine_capacity(execution: str) -> Capacity:
    """The cores this process may run on (its CPU affinity: a container or taskset can narrow it) and the
    memory available now; in containers also the engine's, which may be another machine (DOCKER_HOST)."""
    import psutil

    from toolkit.process import usable_cores

    capacity = Capacity(cores=max(usable_cores(), 1), memory_bytes=psutil.virtual_memory().available)
    if execution == "container":
        engine = _engine_capacity()
        if engine is not None:
            capacity = Capacity(
                cores=min(capacity.cores, engine.cores),
                memory_bytes=min(capacity.memory_bytes, engine.memory_bytes),
                where="this machine and its Docker Engine",
            )
    return capacity


def _engine_capacity() -> Capacity | None:
    try:
        from toolkit.images import docker_client

        client = docker_client()
        try:
            info = client.info()
        finally:
            client.close()
        return Capacity(cores=int(info["NCPU"]), memory_bytes=int(info["MemTotal"]))
    except Exception:  # noqa: BLE001 - sizing is advice: without the engine's answer, this machine's counts
        return None


@dataclass(frozen=True)
class Lanes:
    count: int
    why: str

    def describe(self) -> str:
        return f"{'one' if self.count == 1 else self.count} at a time ({self.why})"


def choose_lanes(plan: Plan, requested: int | None, requested_by: str = "--parallel",
                 capacity: Capacity | None = None) -> Lanes:
    """How many of the plan's jobs run at once on the LocalBackend.

    Asked for (``requested``): that many, never more than there are jobs. Else as many as fit both the cores
    (each job's ``resources.cpu``) and the memory available (each job's ``resources.memory``): the largest
    request of the plan's jobs counts for every job; a job that asks for more than the machine has runs alone.
    """
    jobs = plan.jobs_with(Action.RUN)
    if requested is not None:
        return Lanes(max(1, min(requested, len(jobs))), f"{requested_by} {requested}")
    if not jobs:
        return Lanes(1, "no job to run")
    capacity = capacity or machine_capacity(plan.execution)
    cpu = max(job.resources.cpu for job in jobs)
    memory = max(job.resources.memory_bytes for job in jobs)
    by_cpu = max(1, int(capacity.cores // cpu))
    by_memory = max(1, capacity.memory_bytes // memory) if memory > 0 else len(jobs)
    count = max(1, min(len(jobs), by_cpu, by_memory))
    why = (f"auto: {capacity.cores} core(s) and {_gib(capacity.memory_bytes)} available on {capacity.where}, "
           f"each job asks for {cpu:g} cpu and {_gib(memory)}")
    return Lanes(count, why)


def _gib(size: int) -> str:
    return f"{size / 1024 ** 3:.1f} GiB"


# ------------------------------------------------------------------------------------------ running them

class _LaneRun:
    """The state the lanes of one run share; every callback and every result is written under ``lock``."""

    def __init__(self, spec: JobSpec, plan: Plan, report, on_written):
        self.spec = spec
        self.plan = plan
        self.report = report
        self.on_written = on_written
        self.to_run = plan.jobs_with(Action.RUN)
        self.waiting: queue.SimpleQueue[PlannedJob] = queue.SimpleQueue()
        for job in self.to_run:
            self.waiting.put(job)
        self.lock = threading.Lock()
        # cpg-utils keeps one batch per process (get_batch/reset_batch): one lane builds at a time.
        self.build_lock = threading.Lock()
        self.stop = threading.Event()
        self.result = RunResult()
        self.written = 0
        self.build_error: BaseException | None = None
        self.started = time.time()

    def stopping(self) -> bool:
        return self.stop.is_set() or STOP_REQUESTED.is_set()

    def lane(self) -> None:
        try:
            while not self.stopping():
                try:
                    job = self.waiting.get_nowait()
                except queue.Empty:
                    return
                self.run_one(job)
        finally:
            _close_thread_event_loop()

    def run_one(self, job: PlannedJob) -> None:
        refused: dict[str, str] = {}
        try:
            with self.build_lock:
                batch, _ = build_batch(self.spec, dataclasses.replace(self.plan, jobs=[job]), refused=refused)
        except BaseException as error:  # noqa: BLE001 - handed to the main thread, which raises it
            with self.lock:
                self.build_error = self.build_error or error
            self.stop.set()
            return
        if job.id in refused:
            _remove_empty_scratch_root(batch)
            _close_backend(batch._backend)
            with self.lock:
                self.result.outcomes[job.id] = JobOutcome(job.id, False, f"not submitted: {refused[job.id]}")
            return
        started = time.time()
        stopped_early = None
        try:
            batch.run()
        except subprocess.CalledProcessError:
            pass  # the outputs tell (below); Hail already printed the failing command's output
        except Exception as error:  # noqa: BLE001 - as one batch stopping early: no lane starts another job
            stopped_early = f"{error.__class__.__name__}: {error}"
            self.stop.set()
        finally:
            ended = time.time()
            _remove_empty_scratch_root(batch)
            _close_backend(batch._backend)
        self.finish(job, started, ended, stopped_early)

    def finish(self, job: PlannedJob, started: float, ended: float, stopped_early: str | None) -> None:
        missing = [out.name for out in job.outputs.values() if not _fresh(out.destination, started)]
        with self.lock:
            if stopped_early and not self.result.stopped_early:
                self.result.stopped_early = stopped_early
            if missing:
                plural = "s" if len(missing) > 1 else ""
                detail = f"job failed (output{plural} {', '.join(missing)} not written)"
                if stopped_early:
                    detail = NOT_RUN
                self.result.outcomes[job.id] = JobOutcome(job.id, False, detail)
                return
            self.result.outcomes[job.id] = JobOutcome(job.id, True)
            self.result.durations[job.id] = round(ended - started, 3)
            self.result.finished[job.id] = ended
            self.written += 1
            if self.on_written is not None:
                self.on_written(job)  # recorded at once: a run killed later still knows what this job wrote
            if self.report is not None:
                self.report(job.id, self.written, len(self.to_run))

    def outcomes_of_jobs_not_run(self) -> None:
        for job in self.to_run:
            if job.id not in self.result.outcomes:
                self.result.outcomes[job.id] = JobOutcome(job.id, False, NOT_RUN)
        # in the plan's order, as the one-batch run reports them
        self.result.outcomes = {job.id: self.result.outcomes[job.id] for job in self.to_run}


def _close_backend(backend) -> None:
    """Close the one-job batch's LocalBackend now, in its lane.

    Hail's ``Backend.__del__`` closes it again, through the event loop of whichever thread the garbage
    collector happens to run in (a batch and its jobs refer to each other, so only the collector frees them);
    in the embedded metadata server's thread that is a uvloop loop, which Hail cannot use: a traceback on
    stderr. Closed once is enough, so the second close does nothing.
    """
    with contextlib.suppress(Exception):
        backend.close()
    backend.close = lambda: None


def _close_thread_event_loop() -> None:
    """Hail made an event loop for this thread (hailtop.hail_event_loop); nothing else will use it."""
    policy = asyncio.get_event_loop_policy()
    with contextlib.suppress(Exception):
        loop = policy.get_event_loop()
        if not loop.is_running():
            loop.close()
        policy.set_event_loop(None)


def run_in_lanes(
    spec: JobSpec, plan: Plan, lanes: int,
    report: Callable[[str, int, int], None] | None = None,
    on_written: Callable[[PlannedJob], None] | None = None,
) -> RunResult:
    """Run the plan's jobs ``lanes`` at a time; one RunResult, one report per finished job.

    Ctrl-C or SIGTERM (raised here, in the main thread, by toolkit.backend.jobs_stopped_on_signals, which
    already stopped the running jobs): the lanes take no further job, any job one started meanwhile is
    stopped, and the interrupt goes on once every lane has ended (each removed its scratch folder).
    """
    run = _LaneRun(spec, plan, report, on_written)
    if plan.execution == "container":
        set_container_run_flags()  # before any lane starts a process (see there)
    threads = [threading.Thread(target=run.lane, name=f"toolkit-lane-{number}", daemon=True)
               for number in range(1, lanes + 1)]
    with _stdout_to_stderr(), _hail_success_lines_dropped():
        for thread in threads:
            thread.start()
        try:
            _wait(threads)
        except BaseException:
            run.stop.set()
            stop_stragglers()
            _wait(threads, stragglers=True)
            raise
    if run.build_error is not None and not run.result.succeeded:
        raise run.build_error
    if run.build_error is not None and not run.result.stopped_early:
        error = run.build_error
        run.result.stopped_early = f"{error.__class__.__name__}: {error}"
    run.result.seconds = time.time() - run.started
    run.outcomes_of_jobs_not_run()
    return run.result


def _wait(threads: list[threading.Thread], stragglers: bool = False) -> None:
    """Until every lane has ended; short joins, so that a signal's handler runs in the main thread at once.

    ``stragglers``: the run is being stopped; a job a lane started just before it saw the stop is stopped
    too (every second), rather than waited for."""
    last_sweep = time.monotonic()
    while any(thread.is_alive() for thread in threads):
        for thread in threads:
            thread.join(0.2)
        if stragglers and time.monotonic() - last_sweep > 1:
            stop_stragglers()
            last_sweep = time.monotonic()


# Hail's LocalBackend prints this at the end of every batch; in lanes every job is a batch of its own, and the
# run's summary says what succeeded.
HAIL_BATCH_SUCCESS = "Batch completed successfully!"


class _HailSuccessLinesDropped(io.TextIOBase):
    """Python-level stdout during the lanes: whole lines, each thread's kept apart, Hail's success line
    dropped, everything else passed on as it comes."""

    def __init__(self, target):
        self.target = target
        self.partial = threading.local()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        pending = getattr(self.partial, "text", "") + text
        *lines, rest = pending.split("\n")
        self.partial.text = rest
        kept = "".join(line + "\n" for line in lines if line.strip() != HAIL_BATCH_SUCCESS)
        if kept:
            self.target.write(kept)
        return len(text)

    def flush(self) -> None:
        rest = getattr(self.partial, "text", "")
        if rest and rest.strip() != HAIL_BATCH_SUCCESS:
            self.target.write(rest)
        self.partial.text = ""
        self.target.flush()


@contextlib.contextmanager
def _hail_success_lines_dropped() -> Iterator[None]:
    saved = sys.stdout
    sys.stdout = _HailSuccessLinesDropped(saved)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        sys.stdout = saved
