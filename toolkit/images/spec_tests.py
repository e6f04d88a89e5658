"""Spec tests (a spec's ``tests:``): run the command on tiny committed fixtures, check the outputs.

Each test gets its own scratch folder; the fixtures are copied in, the command is rendered by the same
renderer the pipeline uses, and run either in the image (``docker run``, network off, the scratch folder
mounted at the same path) or on the host. Expectations are then checked on the files the command wrote.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from toolkit.errors import ImageError

OUTPUT_TAIL_LINES = 20
TEST_TIMEOUT_SECONDS = 600


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
    if expectation.min_size is not None:
        size = path.stat().st_size
        if size < expectation.min_size:
            problems.append(f"output {name}: {size} bytes, expected at least {expectation.min_size}")
    return problems


def _run_in_container(image_ref: str, command: str, workdir: Path) -> tuple[int, str]:
    from toolkit.backend import JOB_PREAMBLE
    from toolkit.images._engine import docker_client

    client = docker_client()
    try:
        container = client.containers.create(
            image_ref,
            ["/bin/bash", "-c", JOB_PREAMBLE + command],
            entrypoint="",
            working_dir=str(workdir),
            volumes={str(workdir): {"bind": str(workdir), "mode": "rw"}},
            # The job's network is off, as in real runs: a test that needs the network is a broken test.
            network_mode="none",
        )
        try:
            container.start()
            status = container.wait(timeout=TEST_TIMEOUT_SECONDS)
            logs = container.logs(stdout=True, stderr=True).decode(errors="replace")
            return int(status.get("StatusCode", 1)), logs
        finally:
            container.remove(force=True)
    finally:
        client.close()


def _run_on_host(command: str, workdir: Path) -> tuple[int, str]:
    import os

    from toolkit.backend import JOB_PREAMBLE, host_path_with_toolkit

    try:
        completed = subprocess.run(
            ["bash", "-c", JOB_PREAMBLE + command],
            cwd=workdir,
            env={**os.environ, "PATH": host_path_with_toolkit()},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=TEST_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {TEST_TIMEOUT_SECONDS} s"
    return completed.returncode, completed.stdout.decode(errors="replace")


def _run_one(loaded_spec, test, image_ref: str | None, host: bool) -> SpecTestOutcome:
    import time

    from toolkit.plan.render import CommandContext, render_command, render_output_path

    spec = loaded_spec.model
    outcome = SpecTestOutcome(name=test.name)
    # mkdtemp under /tmp: Hail-style paths must have no blanks, and the folder is mounted at the same path.
    workdir = Path(tempfile.mkdtemp(prefix=f"spec-test-{spec.name}-"))
    try:
        inputs = workdir / "inputs"
        inputs.mkdir()
        reads = []
        for read in test.group.reads:
            source = loaded_spec.resolve(read)
            if not source.is_file():
                outcome.problems.append(f"fixture {read!r} not found ({source})")
                return outcome
            target = inputs / source.name
            shutil.copyfile(source, target)
            reads.append(str(target))
        group = {**test.group.fields, "id": test.group.id}
        resources = {"cpu": spec.resources.cpu, "memory": spec.resources.memory, "storage": spec.resources.storage}
        path_context = CommandContext(group=group, params=_resolved_params(spec, test.params), resources=resources)
        outputs = {}
        for name, output in spec.outputs.items():
            relative = render_output_path(output.path, path_context, name=f"outputs.{name}.path")
            local = workdir / "outputs" / relative
            local.parent.mkdir(parents=True, exist_ok=True)
            outputs[name] = str(local)
        context = CommandContext(
            reads=reads, outputs=outputs, group=group, params=path_context.params, resources=resources
        )
        command = render_command(spec.command, context)
        started = time.monotonic()
        code, output = _run_on_host(command, workdir) if host else _run_in_container(image_ref, command, workdir)
        outcome.seconds = time.monotonic() - started
        outcome.output = output
        if code != 0:
            outcome.problems.append(f"command exited with status {code}")
        for name, expectation in test.expect.items():
            if name not in outputs:
                outcome.problems.append(f"expect names {name!r}, which is not an output of the spec")
                continue
            outcome.problems.extend(_check(name, Path(outputs[name]), expectation))
        return outcome
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


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
            echo(f"    - {problem}")
        tail = [line for line in outcome.output.splitlines() if line.strip()][-OUTPUT_TAIL_LINES:]
        for line in tail:
            echo(f"    | {line}")
    echo(f"{len(tests) - failures} of {len(tests)} spec test{'s' if len(tests) != 1 else ''} passed")
    return failures == 0
