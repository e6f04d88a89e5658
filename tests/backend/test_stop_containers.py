"""Stopping a container run (issue 7, item 9): killing `docker run` does not stop its container, so SIGTERM
must stop the containers the run started, by their label."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO
from tests.images.conftest import cleanup_images, engine, project  # noqa: F401 - fixtures

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_sigterm_stops_the_container_of_the_running_job(toolkit, project, engine, cleanup_images, tmp_path):  # noqa: F811
    spec = project(command="sleep 4321.5; tool.sh {{ reads }} > {{ outputs.report }}")
    cleanup_images.append(project.image_name)
    toolkit.run("build", str(spec), timeout=900)
    scratch = tmp_path / "tmp"
    scratch.mkdir()

    def ours():
        return [
            container for container in engine.containers.list()
            if project.image_name in " ".join(container.image.tags)
        ]

    def stopped_while_running(containers: int, *args: str) -> tuple[str, list]:
        """Start a run, SIGTERM it once ``containers`` of its jobs' containers run: its stderr, and the
        containers still running after it ended (before this test cleans them up)."""
        run = subprocess.Popen(
            [sys.executable, "-m", "toolkit", "run", str(spec), "--execution", "container", *args],
            cwd=REPO, env={**toolkit.env, "TMPDIR": str(scratch)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.time() + 300
            while len(ours()) < containers:
                assert run.poll() is None, run.communicate()
                assert time.time() < deadline, "the jobs' containers did not start"
                time.sleep(0.5)
            run.send_signal(signal.SIGTERM)
            _, stderr = run.communicate(timeout=120)
            time.sleep(2)  # a job a lane started after the signal would have its container by now
            left = ours()
        finally:
            if run.poll() is None:
                run.kill()
            for container in ours():
                container.kill()
        assert run.returncode == 143, stderr
        return stderr, left

    stderr, left = stopped_while_running(1, "--sgids", "CPGLCL17")
    assert "terminated (SIGTERM): stopped" in stderr and "container" in stderr
    assert left == [], "the job's container was left running"
    assert list(scratch.iterdir()) == []

    # Two jobs at a time (parallel lanes): both containers are stopped, and the third job never starts.
    stderr, left = stopped_while_running(2, "--parallel", "2")
    assert "terminated (SIGTERM): stopped" in stderr and "2 container(s)" in stderr
    assert left == [], "a container was left running, or started after SIGTERM"
    assert list(scratch.iterdir()) == []
