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
    run = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "run", str(spec), "--execution", "container", "--sgids", "CPGLCL17"],
        cwd=REPO, env={**toolkit.env, "TMPDIR": str(scratch)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )

    def ours():
        return [
            container for container in engine.containers.list()
            if project.image_name in " ".join(container.image.tags)
        ]

    try:
        deadline = time.time() + 300
        while not ours():
            assert run.poll() is None, run.communicate()
            assert time.time() < deadline, "the job's container did not start"
            time.sleep(0.5)
        run.send_signal(signal.SIGTERM)
        stdout, stderr = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
        for container in ours():
            container.kill()
    assert run.returncode == 143, stderr
    assert "terminated (SIGTERM): stopped" in stderr and "container" in stderr
    assert ours() == [], "the job's container was left running"
    assert list(scratch.iterdir()) == []
