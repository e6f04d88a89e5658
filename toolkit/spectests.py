"""Spec tests (a spec's ``tests:``): run the spec on tiny committed fixtures, check the outputs.

A test is a one-group run of the real pipeline: its fixture group goes through ``make_plan`` and Hail's
LocalBackend exactly like a group from Metamist (same rendering, same job script, same ``docker run`` flags,
network off), inside the image or on the host; only the outputs go to a scratch folder and nothing is
registered. Expectations are then checked on the files the job wrote.

Being a use of the pipeline, this module sits above the stages it runs (plan, backend) and above
``toolkit.images``, whose ``publish_image`` is handed :func:`image_tests` by its caller instead of importing
this module (tests/test_import_graph.py keeps every arrow pointing down).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from toolkit.errors import EnvironmentProblem, ImageError

OUTPUT_TAIL_LINES = 20
# A failed contains/matches/lines shows the start of what the output held, at most this much of it.
SHOWN_OUTPUT_LINES = 10
SHOWN_OUTPUT_CHARS = 500


@dataclass
class SpecTestOutcome:
    name: str
    problems: list[str] = field(default_factory=list)
    output: str = ""
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.problems


def _resolved_params(spec, overrides: dict) -> dict:
    values = {name: declared.default for name, declared in spec.params.items()}
    values.update(overrides)
    return values


def _check(name: str, path: Path, expectation) -> list[str]:
    problems = []
    present = path.is_file()
    wanted = True if expectation.exists is None else expectation.exists
    if present != wanted:
        return [f"output {name}: expected it to {'exist' if wanted else 'be absent'} ({path.name})"]
    if not present:
        return []
    text = path.read_text(errors="replace")
    for needle in expectation.contains:
        if needle not in text:
            problems.append(f"output {name}: does not contain {needle!r}")
    for pattern in expectation.matches:
        if not re.search(pattern, text, flags=re.MULTILINE):
            problems.append(f"output {name}: no match for /{pattern}/")
    if expectation.lines is not None:
        count = len(text.splitlines())
        if count != expectation.lines:
            problems.append(f"output {name}: {count} lines, expected {expectation.lines}")
    if problems:
        problems.append(_what_it_held(name, text))
    if expectation.min_size is not None:
        size = path.stat().st_size
        if size < expectation.min_size:
            problems.append(f"output {name}: {size} bytes, expected at least {expectation.min_size}")
    return problems


def _escaped(line: str) -> str:
    """Control characters (an escape sequence, a carriage return, a NUL) as Python escapes, never raw."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in line)


def _what_it_held(name: str, text: str) -> str:
    """The start of an output, for a failed content check: its first lines, escaped, and how much more."""
    if not text:
        return f"output {name} is empty"
    start = text[:SHOWN_OUTPUT_CHARS]
    lines = start.splitlines()
    total_lines = len(text.splitlines())
    header = f"output {name} holds {len(text):,} characters in {total_lines:,} line{'s' if total_lines != 1 else ''}"
    block = [f"{header}; it starts with:"] + [f"  > {_escaped(line)}" for line in lines[:SHOWN_OUTPUT_LINES]]
    if len(start) < len(text) or len(lines) > SHOWN_OUTPUT_LINES:
        block.append("  > ...")
    return "\n".join(block)


@contextlib.contextmanager
def _captured_output(path: Path) -> Iterator[None]:
    """Send this process's stdout/stderr (and so the jobs' output, which Hail does not capture) to ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "wb") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


@contextlib.contextmanager
def _local_batch_config(workdir: Path) -> Iterator[None]:
    """cpg-utils' get_batch reads its backend from the config: a LocalBackend config of the test's own."""
    from toolkit.settings import activate_cpg_config, write_toml, embedded_config

    before = os.environ.get("CPG_CONFIG_PATH")
    config = workdir / "config.toml"
    write_toml(config, embedded_config(workdir, "spec-test", "http://127.0.0.1/web", "http://127.0.0.1"))
    activate_cpg_config([str(config)])
    try:
        yield
    finally:
        if before:
            activate_cpg_config(before.split(","))
        else:
            os.environ.pop("CPG_CONFIG_PATH", None)


def _test_groups(loaded_spec, test, outcome: SpecTestOutcome):
    """The test's group(s), with their fixtures resolved (None, with a problem noted, when one is missing)."""
    from toolkit.query.groups import Group, Read

    groups = []
    for given in test.all_groups:
        reads = []
        for read in given.reads:
            path, checksum = (read, None) if isinstance(read, str) else (read.path, read.checksum)
            source = loaded_spec.resolve(path)
            if not source.is_file():
                outcome.problems.append(f"fixture {path!r} not found ({source})")
                return None
            reads.append(Read(str(source), source.stat().st_size, checksum))
        groups.append(Group(id=given.id, reads=tuple(reads), fields=dict(given.fields)))
    return groups


def _run_one(loaded_spec, test, image_ref: str | None, host: bool) -> SpecTestOutcome:
    from toolkit.backend import check_host_tool, run_local
    from toolkit.plan import PlanContext, make_plan
    from toolkit.plan.model import Action
    from toolkit.query.groups import GroupSet
    from toolkit.registration.metrics import MetricsProblem, read_job_metrics

    spec = loaded_spec.model
    outcome = SpecTestOutcome(name=test.name)
    groups = _test_groups(loaded_spec, test, outcome)
    if groups is None:
        return outcome
    # mkdtemp under /tmp: Hail inserts its scratch path unquoted, so no blanks in it.
    workdir = Path(tempfile.mkdtemp(prefix=f"spec-test-{spec.name}-"))
    try:
        context = PlanContext(
            project="spec-test",
            image=image_ref or "",
            execution="host" if host else "container",
            spec_path=str(loaded_spec.path),
            spec_sha256=loaded_spec.content_hash,
            output_location=lambda suffix, category: str(workdir / "outputs" / category / suffix),
            params=_resolved_params(spec, test.params),
        )
        plan = make_plan(spec, GroupSet(tuple(groups)), context)
        for rejection in plan.skipped:
            outcome.problems.append(f"{rejection.group_id} could not be planned: {rejection.reason}")
        if outcome.problems:
            return outcome
        assert all(job.action is Action.RUN for job in plan.jobs)
        if host:
            try:
                check_host_tool(spec)
            except EnvironmentProblem as problem:
                outcome.problems.append(problem.message)
                return outcome
        log = workdir / "job-output.log"
        started = time.monotonic()
        with _local_batch_config(workdir), _captured_output(log):
            result = run_local(spec, plan)
        outcome.seconds = time.monotonic() - started
        outcome.output = log.read_text(errors="replace")
        for job in plan.jobs:
            failure = None if result.outcomes[job.id].succeeded else result.outcomes[job.id].detail
            if failure is None and job.metrics:
                try:
                    read_job_metrics(job)  # a metrics file of the wrong shape fails the job in a run
                except MetricsProblem as problem:
                    failure = str(problem)
            label = f" ({job.id})" if len(plan.jobs) > 1 else ""
            if test.fails:
                if failure is None:
                    outcome.problems.append(f"the job{label} succeeded, but the test expects it to fail")
            elif failure is not None:
                outcome.problems.append(f"the job{label} failed: {failure}")
            for name, expectation in test.expect.items():
                if name not in job.outputs:
                    outcome.problems.append(f"expect names {name!r}, which is not an output of the spec")
                    continue
                outcome.problems.extend(_check(name, Path(job.outputs[name].destination), expectation))
        return outcome
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def image_tests(loaded_spec, echo: Callable[[str], None] = print) -> Callable[[str], bool]:
    """The spec's tests run in a given image: what ``toolkit.images.publish_image`` runs before it pushes."""

    def run_in(image_ref: str) -> bool:
        return run_spec_tests(loaded_spec, image_ref, host=False, echo=echo)

    return run_in


def run_spec_tests(
    loaded_spec, image_ref: str | None, host: bool = False, echo: Callable[[str], None] = print
) -> bool:
    """Run every test of the spec (in ``image_ref``, or on the host); print one line each; True if all pass."""
    tests = loaded_spec.model.tests
    if not tests:
        echo(f"{loaded_spec.path.name}: no tests: in the spec, nothing to run")
        return True
    if not host and not image_ref:
        raise ImageError("spec tests in a container need an image reference")
    where = "on the host" if host else f"in {image_ref}"
    echo(f"running {len(tests)} spec test{'s' if len(tests) != 1 else ''} {where}")
    failures = 0
    for test in tests:
        outcome = _run_one(loaded_spec, test, image_ref, host)
        if outcome.passed:
            echo(f"  PASS {outcome.name} ({outcome.seconds:.1f} s)")
            continue
        failures += 1
        echo(f"  FAIL {outcome.name}")
        for problem in outcome.problems:
            first, *rest = problem.split("\n")
            echo(f"    - {first}")
            for line in rest:
                echo(f"      {line}")
        tail = [line for line in outcome.output.splitlines() if line.strip()][-OUTPUT_TAIL_LINES:]
        for line in tail:
            echo(f"    | {line}")
    echo(f"{len(tests) - failures} of {len(tests)} spec test{'s' if len(tests) != 1 else ''} passed")
    return failures == 0
