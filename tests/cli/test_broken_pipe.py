"""`toolkit plan | head`: a reader that stops reading is not a bug of the toolkit (it exited 70, "internal error")."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.parametrize("args", [
    ("validate", "jobspecs/fastqe.yaml"),
    ("plan", "jobspecs/fastqe.yaml"),
    ("plan", "jobspecs/fastqe.yaml", "--format", "json"),
    ("outputs", "jobspecs/fastqe.yaml"),
])
def test_a_closed_output_pipe_ends_the_command_quietly_with_141(toolkit, args):
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before the first line: every write to stdout fails with EPIPE
    try:
        done = subprocess.run([sys.executable, "-m", "toolkit", *args], cwd=REPO, env=toolkit.env, stdout=writer,
                              stderr=subprocess.PIPE, text=True, timeout=600)
    finally:
        os.close(writer)
    assert done.returncode == 141, done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert "BrokenPipe" not in done.stderr and "Exception ignored" not in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("lanes", ["1", "2"])
def test_a_run_whose_stdout_is_closed_still_runs_and_registers_everything(toolkit, lanes):
    """Hail's LocalBackend and its copy processes print to file descriptor 1: a run piped into a reader that
    is gone (`toolkit run ... | true`) stopped after one job with a BrokenPipeError and exited 6. The same
    with one job at a time and in parallel lanes."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "toolkit", "run", "jobspecs/fastqe.yaml", "--execution", "host",
             "--parallel", lanes],
            cwd=REPO, env=toolkit.env, stdout=writer, stderr=subprocess.PIPE, text=True, timeout=600,
        )
    finally:
        os.close(writer)
    assert done.returncode == 0, done.stderr
    assert "3 succeeded, 0 failed" in done.stderr and "3 Analyses created" in done.stderr
    assert "BrokenPipe" not in done.stderr and "Traceback" not in done.stderr
