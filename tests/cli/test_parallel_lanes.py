"""Local runs in parallel lanes (issue 11): several jobs at a time, each output registered once, one progress
display, per-job wall times, one failure sinking nothing, SIGTERM stopping every lane.

Real components throughout: the CLI as a subprocess, the embedded server, Hail's LocalBackend on the host. The
jobs (tests/data/jobspecs/timed.yaml) write their own start and end times into their output.
"""

from __future__ import annotations

import datetime
import json
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.cli.seed import load, participant
from tests.cli.test_run import in_own_process
from tests.cli.test_run_lifecycle import processes_running
from tests.conftest import REPO

TIMED = "tests/data/jobspecs/timed.yaml"
PROJECT = "lanes-test"


def every_analysis(toolkit) -> list[dict]:
    """The project's Analyses, active or not, as another Metamist user sees them."""
    return json.loads(in_own_process(
        toolkit,
        "data = graphql_query('query($p: String!) { project(name: $p) { "
        "analyses(active: {in_: [true, false]}) { id active output meta sequencingGroups { id } } } }', "
        "{'p': sys.argv[1]})\n"
        "print(json.dumps(data['project']['analyses']))",
        PROJECT,
    ))


def job_times(analysis: dict) -> tuple[float, float]:
    """(start, end) the job wrote into its output."""
    with open(analysis["output"].removeprefix("file://"), encoding="utf-8") as handle:
        start, end = (float(line) for line in handle.read().split())
    return start, end


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The largest number of jobs running at the same moment."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = most = 0
    for _, change in events:  # at equal times an end (-1) sorts first: touching is not overlapping
        running += change
        most = max(most, running)
    return most


def progress_lines(stderr: str) -> list[tuple[int, int, str]]:
    """(step, total, group) of each progress line: `[2/4] CPGLCL25 finished`."""
    found = re.finditer(r"^\[(\d+)/(\d+)\] (\S+) finished$", stderr, re.M)
    return [(int(m[1]), int(m[2]), m[3]) for m in found]


@pytest.fixture
def four_groups(toolkit, tmp_path) -> None:
    load(toolkit, tmp_path, PROJECT, [participant(f"S{number}") for number in range(1, 5)])


def config_with_lanes(toolkit, tmp_path, lanes) -> dict:
    """A cpg-utils config (CPG_CONFIG_PATH) as a user writes one: the toolkit's own, plus local_parallel."""
    from toolkit.settings import embedded_config, write_toml

    config = embedded_config(toolkit.home, PROJECT, "http://127.0.0.1:9/web", "embedded")
    config["toolkit"]["local_parallel"] = lanes
    path = tmp_path / "config.toml"
    write_toml(path, config)
    return {"CPG_CONFIG_PATH": str(path)}


@pytest.mark.slow
def test_lanes_from_the_config_run_jobs_at_the_same_time_and_register_each_output_once(
    toolkit, tmp_path, four_groups
):
    done = toolkit.run("run", TIMED, "--project", PROJECT, "--execution", "host",
                       extra_env=config_with_lanes(toolkit, tmp_path, 2))
    assert "submitting 4 job(s), 2 at a time ([toolkit] local_parallel = 2)" in done.stderr
    assert "4 succeeded, 0 failed" in done.stderr and "4 Analyses created" in done.stderr
    analyses = every_analysis(toolkit)
    assert len(analyses) == 4 and all(a["active"] for a in analyses)
    assert sorted(len({a["output"] for a in analyses if a["sequencingGroups"][0]["id"] == group})
                  for group in {a["sequencingGroups"][0]["id"] for a in analyses}) == [1, 1, 1, 1]
    times = {a["sequencingGroups"][0]["id"]: job_times(a) for a in analyses}
    assert most_at_once(list(times.values())) == 2, times

    # One progress display for the run: one counter over all jobs, each job once, in the order they finished.
    progress = progress_lines(done.stderr)
    assert [(step, total) for step, total, _ in progress] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert sorted(group for _, _, group in progress) == sorted(times)
    # Hail's copy tool prints an empty line per job (its progress display, off a terminal): not shown.
    assert all(line.strip() for line in done.stderr.splitlines()), done.stderr

    # Each Analysis records its own job's wall time and end, not the gap since another lane's job ended.
    for analysis in analyses:
        start, end = times[analysis["sequencingGroups"][0]["id"]]
        run = analysis["meta"]["provenance"]["run"]
        assert end - start <= run["wall_seconds"] < end - start + 15
        finished = datetime.datetime.strptime(run["finished"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        assert int(end) <= finished < end + 15

    assert done.stdout == "", "Hail's output stays off the toolkit's stdout"


@pytest.mark.slow
def test_parallel_1_runs_one_job_after_another_whatever_the_config_says(toolkit, tmp_path, four_groups):
    done = toolkit.run("run", TIMED, "--project", PROJECT, "--execution", "host", "--parallel", "1",
                       "--param", "pause=1", extra_env=config_with_lanes(toolkit, tmp_path, 4))
    assert "submitting 4 job(s), one at a time (--parallel 1)" in done.stderr
    assert "4 succeeded, 0 failed" in done.stderr
    analyses = every_analysis(toolkit)
    assert len(analyses) == 4
    assert most_at_once([job_times(a) for a in analyses]) == 1
    steps = [(step, total) for step, total, _ in progress_lines(done.stderr)]
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]


@pytest.mark.slow
def test_a_job_failing_in_one_lane_leaves_the_others_registered(toolkit, four_groups):
    plan = toolkit.json("plan", TIMED, "--project", PROJECT, "--execution", "host", "--format", "json")
    groups = [job["id"] for job in plan["jobs"]]
    failing = groups[1]  # the second lane's first job: the first lane goes on while it fails
    failed = toolkit.run("run", TIMED, "--project", PROJECT, "--execution", "host", "--parallel", "2",
                         "--param", "pause=1", check=6, extra_env={"TIMED_FAIL_GROUP": failing})
    assert f"{failing}: job failed" in failed.stderr
    assert "3 succeeded, 1 failed" in failed.stderr and "3 Analyses created" in failed.stderr
    registered = every_analysis(toolkit)
    assert sorted(a["sequencingGroups"][0]["id"] for a in registered) == sorted(set(groups) - {failing})

    # The next run runs the failed job only, and registers it once.
    again = toolkit.run("run", TIMED, "--project", PROJECT, "--execution", "host", "--parallel", "2",
                        "--param", "pause=1")
    assert "1 succeeded, 0 failed" in again.stderr and "3 already done" in again.stderr
    registered = every_analysis(toolkit)
    assert sorted(a["sequencingGroups"][0]["id"] for a in registered) == sorted(groups)


@pytest.mark.slow
def test_sigterm_stops_every_lane_and_starts_no_further_job(toolkit, tmp_path, four_groups):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    pause = "4321.75"  # a number no other process sleeps for: identifies this run's jobs
    run = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "run", TIMED, "--project", PROJECT, "--execution", "host",
         "--parallel", "2", "--param", f"pause={pause}"],
        cwd=REPO, env={**toolkit.env, "TMPDIR": str(scratch)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 180
        while len(processes_running(["sleep", pause])) < 2:
            assert run.poll() is None, run.communicate()
            assert time.time() < deadline, "two jobs did not start"
            time.sleep(0.2)
        run.send_signal(signal.SIGTERM)
        _, stderr = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 143, stderr
    assert "terminated (SIGTERM): stopped" in stderr and "Traceback" not in stderr
    time.sleep(2)  # a queued job a lane had started would be running now
    assert processes_running(["sleep", pause]) == [], "a job left running, or started after SIGTERM"
    assert list(scratch.iterdir()) == [], "every lane's scratch folder is removed"
    assert every_analysis(toolkit) == []


def test_a_number_of_lanes_that_is_no_number_stops_the_run_before_it_starts(toolkit, tmp_path):
    option = toolkit.run("run", TIMED, "--parallel", "0", check=2)
    assert "--parallel" in option.stderr and "at least 1 job" in option.stderr
    configured = toolkit.run("run", TIMED, "--project", PROJECT, check=2,
                             extra_env=config_with_lanes(toolkit, tmp_path, "many"))
    assert "[toolkit] local_parallel = 'many'" in configured.stderr and "expected `auto`" in configured.stderr
    assert "querying Metamist" not in configured.stderr
