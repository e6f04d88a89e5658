"""How a `toolkit run` ends: stopped by SIGTERM like Ctrl-C, and leaving nothing behind in $TMPDIR."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.cli.seed import load, participant
from tests.cli.test_run import analyses_via_graphql
from tests.conftest import REPO

NOTES = "tests/data/jobspecs/notes.yaml"
CHECKSUMS = "tests/data/jobspecs/checksums.yaml"


def processes_running(argv: list[str]) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if process.info["cmdline"] == argv:
            found.append(process)
    return found


@pytest.mark.slow
def test_sigterm_stops_the_running_job_removes_its_scratch_and_says_so(toolkit, tmp_path):
    """Issue 7, item 9: SIGTERM ended a run silently with 143, the job went on as an orphan and its scratch
    folder stayed."""
    load(toolkit, tmp_path, "stop-test", [participant("S1", sample_meta={"note": "n"})])
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    pause = "4321.25"  # a number no other process sleeps for: identifies this job's `sleep`
    run = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "run", NOTES, "--project", "stop-test", "--execution", "host",
         "--param", f"pause={pause}"],
        cwd=REPO, env={**toolkit.env, "TMPDIR": str(scratch)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 180
        while not processes_running(["sleep", pause]):
            assert run.poll() is None, run.communicate()
            assert time.time() < deadline, "the job did not start"
            time.sleep(0.2)
        assert list(scratch.iterdir()), "Hail's scratch folder exists while the job runs"
        run.send_signal(signal.SIGTERM)
        stdout, stderr = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 143, stderr
    assert "terminated (SIGTERM): stopped" in stderr and "scratch folder removed" in stderr
    assert "Traceback" not in stderr
    assert processes_running(["sleep", pause]) == [], "the job was left running"
    assert list(scratch.iterdir()) == []
    assert analyses_via_graphql(toolkit, "stop-test") == []

    # Nothing is lost: the next run does the job and registers it.
    again = toolkit.run("run", NOTES, "--project", "stop-test", "--execution", "host")
    assert "1 succeeded" in again.stderr and len(analyses_via_graphql(toolkit, "stop-test")) == 1


@pytest.mark.slow
def test_a_run_leaves_nothing_in_the_temporary_folder(toolkit, tmp_path):
    """Issue 7, item 9: every run left an empty `tmp...batch-tmp` folder in $TMPDIR."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = toolkit.run("run", CHECKSUMS, "--execution", "host", "--sgids", "CPGLCL17", extra_env={"TMPDIR": str(scratch)})
    assert "1 succeeded" in done.stderr
    assert list(scratch.iterdir()) == []


def test_a_temporary_folder_hail_would_write_unquoted_into_job_scripts_is_refused(toolkit, tmp_path):
    """Hail's LocalBackend puts its scratch folder (under $TMPDIR) unquoted into each job script."""
    scratch = tmp_path / "tmp $(touch PWNED) x"
    scratch.mkdir()
    done = toolkit.run(
        "run", CHECKSUMS, "--execution", "host", "--sgids", "CPGLCL17", extra_env={"TMPDIR": str(scratch)}, check=4
    )
    assert "has characters Hail's LocalBackend does not quote" in done.stderr and "TMPDIR" in done.stderr
    assert list(scratch.iterdir()) == [] and not list(tmp_path.rglob("PWNED")) and not (REPO / "PWNED").exists()
