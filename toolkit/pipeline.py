"""The stages wired together: load -> validate -> query -> plan -> submit -> register.

Each stage is a function of the previous stage's output; this module only sequences them for the CLI verbs
(``plan``, ``run``) and reports progress. Nothing here knows about any particular tool.
"""

from __future__ import annotations

import contextlib
import concurrent.futures
import dataclasses
import functools
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from toolkit.errors import EnvironmentProblem, MetadataError, UsageError
from toolkit.fingerprint import fingerprint
from toolkit.plan import PlanContext, make_plan
from toolkit.plan.estimate import PlanEstimator, PriceTable
from toolkit.plan.model import Action, Plan
from toolkit.query import GroupSet, QueryRequest, Rejection, fetch_groups, fetch_pages, page_query
from toolkit.settings import Settings
from toolkit.spec.models import JobSpec


def parse_params(spec: JobSpec, assignments: list[str] | None, *, shared: bool = False) -> dict[str, Any]:
    """``--param NAME=VALUE`` (repeatable), typed by the spec's ``params``, defaults filled in.

    ``shared``: the assignments are for several specs (``toolkit run A.yaml B.yaml``); one that this spec does
    not declare is another spec's (check_params_declared makes sure some spec declares it)."""
    values: dict[str, Any] = {name: p.default for name, p in spec.params.items()}
    for assignment in assignments or []:
        name, sep, raw = assignment.partition("=")
        if not sep:
            raise UsageError(f"--param {assignment!r}: expected NAME=VALUE")
        if name not in spec.params and shared:
            continue
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


def check_params_declared(specs: list[JobSpec], assignments: list[str] | None) -> None:
    """With several specs, each ``--param NAME=...`` must be declared by at least one of them (one spec:
    parse_params says so in its own words)."""
    if len(specs) < 2:
        return
    declared = {name for spec in specs for name in spec.params}
    for assignment in assignments or []:
        name = assignment.partition("=")[0]
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise UsageError(f"--param {name}: none of the jobspecs declares such a parameter (declared: {known})")


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# GCS bucket names: 3-222 characters of lower-case letters, digits, `-`, `_` and `.`, starting and ending with a
# letter or digit (cloud.google.com/storage/docs/buckets#naming).
_GCS_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")


def _gcs_object_problem(location: str, shown: str) -> str | None:
    """A gs:// read must name one object: a valid bucket and an object path without empty, `.` or `..` parts
    (Hail would copy a folder, nothing, or another object than the one Metamist lists)."""
    bucket, _, name = location[len("gs://"):].partition("/")
    if not _GCS_BUCKET.fullmatch(bucket):
        return f"read {shown} does not name a GCS bucket (gs://BUCKET/OBJECT)"
    parts = name.split("/")
    if not name or any(part in ("", ".", "..") for part in parts):
        return f"read {shown} does not name one GCS object (an empty, '.' or '..' part, or a folder)"
    return None


# A gs:// read every rule below accepts: a valid bucket, then object path parts that are neither empty nor "." or
# "..", and no control character anywhere. Checked first: a project of 100,000 groups has 200,000 reads.
_PLAIN_GCS_PART = r"(?!\.\.?(?:/|\Z))[^/\x00-\x1f\x7f-\x9f]+"
_PLAIN_GCS_READ = re.compile(f"gs://{_GCS_BUCKET.pattern}/{_PLAIN_GCS_PART}(?:/{_PLAIN_GCS_PART})*")


def read_location_problem(location: str, *, local_backend: bool, roots: tuple[Path, ...]) -> str | None:
    """Why a read location from metadata cannot be used, or None.

    Allowed: ``gs://`` URIs (Hail Batch copies them in, locally and on the service), and on the LocalBackend
    absolute local paths or ``file://`` URIs that resolve (symlinks followed) to a regular file under one of
    ``roots`` (:attr:`toolkit.settings.Settings.local_read_roots`). Other schemes (``http://``...) are not
    something Hail localises for a job; local files are not something the Batch service can read.
    """
    if _PLAIN_GCS_READ.fullmatch(location):
        return None
    return _read_location_rules(location, local_backend=local_backend, roots=roots)


def _read_location_rules(location: str, *, local_backend: bool, roots: tuple[Path, ...]) -> str | None:
    shown = location if location.isprintable() else repr(location)
    if _CONTROL.search(location):
        return f"read location {shown} contains a control character"
    scheme = _SCHEME.match(location)
    if scheme and scheme.group(1).lower() == "gs":
        return _gcs_object_problem(location, shown)
    if scheme and scheme.group(1).lower() != "file":
        return (
            f"read {shown}: {scheme.group(1)}:// locations are not supported "
            "(reads are gs:// URIs, or local files on a local run)"
        )
    path = location[len("file://"):] if scheme else location
    if not local_backend:
        return f"read {shown} is a local file, which the Hail Batch service cannot read (use gs:// URIs)"
    if not path.startswith("/"):
        return f"read {shown} is not an absolute path (local reads must be absolute paths or file:/// URIs)"
    real = os.path.realpath(path)
    if not any(os.path.commonpath([real, str(root)]) == str(root) for root in roots):
        return (
            f"read {shown} is outside the folders local reads may come from "
            f"({', '.join(str(root) for root in roots)})"
        )
    if not os.path.exists(real):
        return f"read not found on this machine: {shown}"
    if not os.path.isfile(real):
        return f"read {shown} is not a regular file"
    return None


def check_read_locations(
    groups: GroupSet, *, fatal: bool, roots: tuple[Path, ...], local_backend: bool = True
) -> GroupSet:
    """Reject, per group and before anything is submitted, reads a job could not or must not read: one clear
    line for the group now, rather than a failed job (or a whole failed batch) after submission."""
    kept, rejected = [], list(groups.rejections)
    for group in groups.groups:
        problems = [
            problem for read in group.reads
            if (problem := read_location_problem(read.location, local_backend=local_backend, roots=roots))
        ]
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            rejected.append(Rejection(group.id, problems[0] + more, fatal))
        else:
            kept.append(group)
    return GroupSet(tuple(kept), tuple(rejected))


@contextlib.contextmanager
def exclusive_run(project: str, spec_name: str, waiting: Callable[[str], None]) -> Iterator[Path]:
    """Hold the lock of (project, jobspec) in the toolkit home for a whole ``toolkit run``.

    A second run of the same spec on the same project on this machine waits (saying so), then plans against
    what the first registered and finds it done: no job runs twice, no output is written by two runs at
    once, nothing is registered twice. Runs elsewhere are kept apart by registration's re-check instead
    (see toolkit.registration). The lock is the OS's (``filelock``): a run that dies releases it.
    """
    from filelock import FileLock, Timeout

    from toolkit.metadata_server import default_home
    from toolkit.plan.names import hail_label

    folder = default_home() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"run-{hail_label(project)}-{hail_label(spec_name)}.lock"
    holder_file = path.with_suffix(".holder")
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        try:
            holder = f" ({holder_file.read_text(encoding='utf-8').strip()})"
        except OSError:
            holder = ""
        waiting(f"another run of {spec_name} on project {project} is in progress on this machine{holder}: waiting for it")
        lock.acquire()
    try:
        with contextlib.suppress(OSError):
            holder_file.write_text(f"pid {os.getpid()}, since {time.strftime('%H:%M:%S')}", encoding="utf-8")
        yield path
    finally:
        lock.release()


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
    from toolkit.cpg_config import output_path

    joiners: dict[str, Callable[[str], str]] = {}

    def location(suffix: str, category: str) -> str:
        join = joiners.get(category)
        if join is None:
            join = joiners[category] = path_joiner(output_path("", category if category != "default" else None))
        return join(suffix)

    return location


def display_url_locator() -> Callable[[str], str | None]:
    """web suffix -> its URL (cpg-utils ``output_path(suffix, 'web_url')``), or None without a web_url."""
    from toolkit.cpg_config import ConfigError, output_path

    try:
        prefix = output_path("", "web_url")
    except (ConfigError, KeyError):
        return lambda suffix: None
    return path_joiner(prefix)


def path_joiner(prefix: str) -> Callable[[str], str]:
    """``suffix -> os.path.join(prefix, suffix)``, the common case (a relative suffix) as one concatenation:
    a plan joins each of its outputs' paths twice."""
    head = prefix if not prefix or prefix.endswith("/") else prefix + "/"

    def join(suffix: str) -> str:
        return os.path.join(prefix, suffix) if suffix[:1] == "/" else head + suffix

    return join


class OutputExistence:
    """``exists(destination)`` for one plan: the first few outputs of a folder are looked up one by one, then
    the folder is listed once and the rest are answered from the listing. Local paths on disk; gs:// through
    cloudpathlib (GCS), or with ``[toolkit] gcs_mirror = DIR`` in the config from DIR/bucket/path: the stand-in
    for GCS in tests and dry runs on machines without Google access.

    A plan of 100,000 groups asks for 200,000 outputs that mostly share one folder: locally that was 200,000
    ``stat`` calls (0.7 s); on GCS it would be 200,000 requests (cloudpathlib asks twice for an absent object:
    the object, then a "folder" of that name), while one listing (a request per 1,000 names) answers them all.
    Planning writes nothing, so a listing stays true for the plan it is made for; a new plan makes a new one.
    """

    LIST_AFTER = 32  # lookups in one folder before listing it: a `--sgids` plan of a few groups never lists

    def __init__(self, mirror: str | None = None) -> None:
        self._mirror = mirror
        self._asked: dict[str, int] = {}
        self._listings: dict[str, frozenset[str] | None] = {}  # None: could not be listed, ask one by one

    def _local(self, destination: str) -> str | None:
        if "://" not in destination:
            return destination
        if self._mirror and destination.startswith("gs://"):
            return os.path.join(self._mirror, destination[len("gs://"):])
        return None

    def looks_locally(self, destination: str) -> bool:
        """Is ``destination`` looked up on this machine's disk (a local path, or gs:// in the mirror)?"""
        return self._local(destination) is not None

    def __call__(self, destination: str) -> bool:
        local = self._local(destination)
        if local is None:
            folder, name = destination.rsplit("/", 1)
        else:  # os.path.split, but for the folder's trailing slashes (the same folder), which a plan asks 200,000 times
            folder, _, name = local.rpartition("/")
            if not folder and local[:1] == "/":
                folder = "/"
        if not name:  # a folder output ("…/"): asked as it is
            return self._exists(destination, local)
        if folder in self._listings:
            listing = self._listings[folder]
            return self._exists(destination, local) if listing is None else name in listing
        asked = self._asked[folder] = self._asked.get(folder, 0) + 1
        if asked > self.LIST_AFTER:
            listing = self._listings[folder] = self._list(folder, remote=local is None)
            if listing is not None:
                return name in listing
        return self._exists(destination, local)

    @staticmethod
    def _exists(destination: str, local: str | None) -> bool:
        if local is not None:
            return os.path.exists(local)
        from cpg_utils import to_path

        return to_path(destination).exists()

    @staticmethod
    def _list(folder: str, *, remote: bool) -> frozenset[str] | None:
        if remote:
            from cpg_utils import to_path

            try:
                return frozenset(child.name for child in to_path(folder).iterdir())
            except Exception:  # noqa: BLE001 - no listing (permissions, a scheme that cannot list): one by one
                return None
        try:
            return frozenset(os.listdir(folder or "."))
        except (FileNotFoundError, NotADirectoryError):
            return frozenset()  # no folder: nothing in it exists
        except OSError:  # unreadable (permissions...): per file, as before, which says the same as the OS
            return None


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


def image_identity(loaded, mode: str, image: str, image_id: str | None, tool_version: str | None) -> str:
    """What the reuse key calls the software: the locked digest; in a local container the engine's image id;
    else the image's build content key (what it is built from); on the host, the tool's version."""
    if mode == "host":
        return f"host: {tool_version or 'version unknown'}"
    if "@sha256:" in image:
        return image.split("@", 1)[1]
    if mode == "container" and image_id:
        return image_id
    from toolkit.images import build_inputs, content_key

    try:
        return content_key(build_inputs(loaded.path, loaded.model.image))
    except OSError:
        return image


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
    force: bool = False,
    keep_stale: bool = False,
    progress: Callable[[str], None] = lambda message: None,
    spool: bool = False,
) -> Prepared:
    """query -> plan, with everything the plan needs from the outside world looked up here.

    ``spool``: the jobs are kept as their JSON records in a temporary file, not as objects (``plan.spool``,
    toolkit.plan.spool), for ``plan --format json``: memory stays flat however many groups the project has."""
    from toolkit.plan import gc_paused

    # The collector would walk the query's answer and the plan's objects again and again as more are made
    # (estimating 10,000 jobs took 0.58 s with it, 0.06 s without): nothing here makes garbage cycles, and the
    # plan lives as long as the command.
    with gc_paused(freeze=True):
        return _prepare_plan(loaded, settings, sgids=sgids, params=params, execution=execution, force=force,
                             keep_stale=keep_stale, progress=progress, spool=spool)


def _registration_targets(job) -> tuple[str, ...]:
    registrations = job.registrations
    if len(registrations) == 1 and len(registrations[0].sequencing_group_ids) == 1:  # one group's one output
        return registrations[0].sequencing_group_ids
    return tuple(dict.fromkeys(target for reg in registrations for target in reg.sequencing_group_ids))


class SpoolingSink:
    """``plan --format json``'s jobs (toolkit.plan.JobSink): each is estimated, its record spooled
    (toolkit.plan.spool), and its registration targets noted when the query did not list them all."""

    def __init__(self, estimator, known: frozenset[str] | None):
        from toolkit.plan.spool import JobSpool

        self.estimator = estimator
        self.known = known  # None: the query listed no ids, every target is asked about
        self.spool = JobSpool()
        self.to_check: dict[str, tuple[str, ...]] = {}

    def __call__(self, job) -> None:
        self.estimator.add(job)
        if job.registrations and job.action in (Action.RUN, Action.REGISTER):
            targets = _registration_targets(job)
            if self.known is None or not self.known.issuperset(targets):
                self.to_check[job.id] = targets
        self.spool.add_job(job)

    def share(self) -> SpoolingSink:
        return SpoolingSink(self.estimator.part(), self.known)

    def tally(self) -> tuple:
        self.spool.flush()
        return self.spool.counts, self.estimator.tally(), self.to_check

    def absorb(self, share: SpoolingSink, tally: tuple) -> None:
        counts, estimates, to_check = tally
        self.spool.attach(share.spool, counts)
        self.estimator.absorb(estimates)
        self.to_check.update(to_check)

    def close(self) -> None:
        self.spool.close()


# A project of this many pages of groups (toolkit.query.page_size()) or more is asked for and planned by two
# processes (_plan_in_shares). At 2 pages (10,000 groups) the fork would wait for the spec's earlier Analyses and
# for the tool's version, which one process's page pipeline overlaps; at 100,000 groups sharing the pages took
# about 1 s off the 2.5 s one process spent turning them into groups while the other core was mostly idle.
SHARE_MIN_PAGES = 4


def _plan_in_shares(spec: JobSpec, request: QueryRequest, paged, ctx: PlanContext, read_check,
                    new_sink: Callable[[], SpoolingSink]) -> tuple[Plan, SpoolingSink] | None:
    """Ask for, check and plan the first half of ``paged``'s pages here and the second half in a forked child,
    at once; answers the plan and its sink (with the child's jobs after these), or None when the plan must be
    made by one process after all: the child or this half failed (an error, said as one process says it), or
    the halves share a group id or an output destination (one process decides what that means). Never
    different from one process's plan: the same jobs in the same order, the same rejections (the child's
    unnamed entries renumbered after this half's), warnings and errors."""
    from toolkit.plan import PlanShare, joined_plan, plan_share
    from toolkit.process import ForkedCall, any_shared, can_fork, name_hashes

    if not can_fork():
        return None
    half = len(paged.pages) // 2
    sink = new_sink()
    share_sink = sink.share()

    def their_half() -> tuple:
        fetched, _ = fetch_pages(spec, request, paged, paged.pages[half:])
        checked = read_check(fetched)
        planned = plan_share(spec, checked.groups, ctx, share_sink)
        answered = len(fetched.rejections)
        return (checked.rejections[:answered], checked.rejections[answered:],
                name_hashes(group.id for group in fetched.groups), planned.id_rejections,
                planned.render_rejections, planned.unsized, name_hashes(planned.destinations),
                share_sink.tally())

    child = ForkedCall(their_half)
    try:
        fetched, entries = fetch_pages(spec, request, paged, paged.pages[:half])
        checked = read_check(fetched)
        ours = plan_share(spec, checked.groups, ctx, sink)
        (their_answered, their_unreadable, their_ids, id_rejections, render_rejections, unsized, destinations,
         tally) = child.result()
    except BaseException as error:  # ChildFailed among them
        child.cancel()
        share_sink.close()
        sink.close()
        if isinstance(error, Exception):
            return None
        raise  # Ctrl-C: the command ends
    if any_shared(their_ids, (group.id for group in fetched.groups)) or any_shared(destinations, ours.destinations):
        share_sink.close()
        sink.close()
        return None
    # The child numbered the entries without an id from 1; in one answer they come after this half's.
    their_answered = [dataclasses.replace(r, group_id=f"#{r.entry + entries}", entry=r.entry + entries)
                      if r.entry is not None else r for r in their_answered]
    answered = len(fetched.rejections)
    rejections = [*checked.rejections[:answered], *their_answered, *checked.rejections[answered:], *their_unreadable]
    plan = joined_plan(spec, ctx, rejections, [ours, PlanShare(id_rejections, render_rejections, unsized, {})])
    sink.absorb(share_sink, tally)
    return plan, sink


def _prepare_plan(loaded, settings: Settings, *, sgids, params, execution, force, keep_stale, progress,
                  spool) -> Prepared:
    from toolkit.backend import probe_tool_version
    from toolkit.images import image_reference
    from toolkit.journal import journal_for
    from toolkit.metamist_connection import call_then_release
    from toolkit.preflight import check_before_running
    from toolkit.registration import existing_for_spec, spec_analyses

    spec: JobSpec = loaded.model
    location = output_locator()
    image = image_reference(loaded)
    mode, reason = choose_execution(settings, execution, image)

    request = QueryRequest(project=settings.project, sgids=sgids, params=params)
    read_check = functools.partial(check_read_locations, fatal=spec.inputs.expect.on_mismatch == "fail",
                                   roots=settings.local_read_roots, local_backend=mode != "service")
    mirror = (settings.config.get("toolkit") or {}).get("gcs_mirror")
    output_exists = OutputExistence(mirror)
    # Planning a large project takes a second core when it is there and nothing in a forked child would use a
    # connection made before the fork: outputs are looked up on local disk, or in the GCS mirror (a child's
    # questions to Metamist go through connections of its own).
    from toolkit import process

    two_processes = spool and process.AS_PROGRAM and process.usable_cores() >= 2 and all(
        output_exists.looks_locally(location("", output.category)) for output in spec.outputs.values())

    # Two questions are asked beside the checks and the groups' query, in threads of their own, since each
    # mostly waits:
    # - the tool's version, part of the reuse key on the host (there is no image to name), so plan and run both
    #   ask; the probe is another process (`docker run` for an image; FastQE's own start-up takes 0.4 s, the
    #   longest part of planning the demo);
    # - the spec's earlier Analyses (reuse and estimates): Metamist answers it while the groups are extracted
    #   (at 10,000 groups done, 20,000 Analyses: ~0.3 s of the server's time).
    helpers = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="plan-helper")
    groups = None
    try:
        probed_version = helpers.submit(probe_tool_version, spec, image if mode == "container" else None) \
            if mode != "service" else None
        # Asked before the checks' own questions: the answer is the largest Metamist gives (at 10,000 groups done,
        # 15 MB), and the sooner it comes the more of its decoding overlaps the groups' query. An error in it waits
        # in the future: what the checks say about the same cause (an unknown project) is said first.
        earlier = helpers.submit(call_then_release, spec_analyses, settings.project, spec.name) \
            if spec.register else None
        check_before_running(loaded, location, settings.metamist_url or "the configured Metamist")
        progress(f"querying Metamist for project {settings.project}")
        paged = page_query(spec, request)
        # A large project's pages are asked for and planned by two processes (_plan_in_shares), which fork only
        # once the helpers are done: so only when the spec's earlier Analyses are already in (else they are
        # still coming, and keep coming while this process asks for the pages, as below).
        in_shares = (two_processes and spec.scope != "project" and len(paged.pages) >= SHARE_MIN_PAGES
                     and (earlier is None or earlier.done()))
        if not in_shares:
            groups = read_check(fetch_groups(spec, request, paged))
            progress(f"{len(groups.groups)} group(s) to consider, {len(groups.rejections)} skipped")

        analyses = earlier.result() if earlier is not None else []
        existing = existing_for_spec(settings.project, spec.name, analyses)

        tool_version = probed_version.result() if probed_version is not None else None
    finally:
        # Every helper has ended before planning, which may fork (toolkit.process.can_fork).
        helpers.shutdown(wait=True, cancel_futures=True)
    image_id = _local_image_id(image) if mode == "container" else None
    journal = journal_for(spec.name)
    context = PlanContext(
        project=settings.project,
        image=image,
        execution=mode,
        spec_path=str(loaded.path),
        spec_sha256=loaded.content_hash,
        output_location=location,
        display_url=display_url_locator(),
        output_exists=output_exists,
        existing_analyses=existing,
        params=params,
        tool_version=tool_version,
        image_id=image_id,
        image_identity=image_identity(loaded, mode, image, image_id, tool_version),
        force=force,
        keep_stale=keep_stale,
        journal=journal.state(),
        output_fingerprint=lambda destination: fingerprint(destination, mirror),
    )
    price_table = PriceTable.from_config(settings.config)
    to_check: dict[str, tuple[str, ...]]  # job id -> registration targets the query did not list: asked below
    # The project's sequencing groups, when they were listed to ask in pages (else the query did not list them).
    known = frozenset(paged.project_ids) if paged.project_ids is not None else None
    if spool:
        def new_sink() -> SpoolingSink:
            return SpoolingSink(PlanEstimator(spec, analyses, price_table), known)

        made = None
        if groups is None:
            made = _plan_in_shares(spec, request, paged, context, read_check, new_sink)
            if made is None:  # what went wrong is found, and said, as one process finds it
                groups = read_check(fetch_groups(spec, request, paged))
            else:
                plan, sink = made
        if made is None:
            sink = new_sink()
            plan = make_plan(spec, groups, context, keep=sink, processes=2 if two_processes else 1)
        plan.spool, to_check, estimator = sink.spool, sink.to_check, sink.estimator
    else:
        estimator = PlanEstimator(spec, analyses, price_table)
        plan = make_plan(spec, groups, context)
        for job in plan.jobs_with(Action.RUN):
            estimator.add(job)
        to_check = {job.id: _registration_targets(job) for job in plan.jobs
                    if job.registrations and job.action in (Action.RUN, Action.REGISTER)}
    if journal.problem:
        plan.warnings.append(journal.problem)
    plan.estimate = estimator.totals()
    if to_check:
        from toolkit.preflight import registration_target_problems
        from toolkit.text import shown

        # Outputs Metamist would refuse to register: the spec's id does not give sequencing groups. An error
        # before anything runs (each job would cost, then fail to register), not a skip.
        refused = registration_target_problems(settings.project, to_check, known=known)
        if refused:
            lines = [f"{shown(job_id)}: {why}" for job_id, why in list(refused.items())[:5]]
            more = f"\n  and {len(refused) - 5} more job(s)" if len(refused) > 5 else ""
            raise MetadataError(
                f"{len(refused)} job(s) of {spec.name} could not be registered:\n  " + "\n  ".join(lines) + more,
                hint="inputs.id must give each group's sequencing group id (usually `id` of a sequencingGroups "
                "entry); nothing was run",
            )
    return Prepared(plan=plan, execution_reason=reason)
