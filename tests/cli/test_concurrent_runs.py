"""Runs at the same time register every output exactly once (issue 7, item 2).

Two `toolkit run` started at the same moment left 6 active Analyses for 3 outputs, both exiting 0.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from tests.conftest import REPO, free_port, metadata_serving
from tests.cli.test_run import DEMO_GROUPS, in_own_process

CHECKSUMS = "tests/data/jobspecs/checksums.yaml"


def start_runs(count: int, envs: list[dict], *args: str) -> list[subprocess.CompletedProcess]:
    """Start ``count`` `toolkit run` processes at once and wait for them all."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "toolkit", "run", CHECKSUMS, "--execution", "host", *args],
            cwd=REPO, env=envs[index % len(envs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for index in range(count)
    ]
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=900)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))
    return results


def every_analysis(toolkit) -> list[dict]:
    return json.loads(
        in_own_process(
            toolkit,
            "data = graphql_query('{ project(name: \"sandbox-test\") { analyses(active: {in_: [true, false]}) "
            "{ id active output } } }', {})\nprint(json.dumps(data['project']['analyses']))",
        )
    )


@pytest.mark.slow
def test_concurrent_runs_on_one_machine_register_each_output_once(toolkit):
    toolkit.run("plan", CHECKSUMS, "--execution", "host")  # loads the demo before the race
    runs = start_runs(3, [toolkit.env])
    for done in runs:
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
    analyses = every_analysis(toolkit)
    active = Counter(a["output"] for a in analyses if a["active"])
    assert len(active) == 3 and set(active.values()) == {1}, analyses
    assert len(analyses) == 3, "the lock keeps the others from even creating a duplicate"
    # One run did the work; the others waited for it (or started after it) and found the work done.
    assert sorted(("3 succeeded" in d.stderr, "3 already done" in d.stderr) for d in runs) == [
        (False, True), (False, True), (True, False)
    ]


@pytest.mark.slow
def test_runs_that_do_not_share_a_lock_converge_on_one_active_analysis_per_output(toolkit, tmp_path):
    """Two machines in effect: two toolkit homes (two lock folders), one Metamist, one set of buckets."""
    from toolkit.settings import embedded_config, write_toml

    with metadata_serving(toolkit.env, free_port()) as url:
        config = tmp_path / "shared.toml"
        write_toml(config, embedded_config(tmp_path / "shared", "sandbox-test", f"{url}/web", url))
        envs = [
            {**toolkit.env, "TOOLKIT_HOME": str(tmp_path / f"machine-{name}"), "CPG_CONFIG_PATH": str(config)}
            for name in ("a", "b")
        ]
        runs = start_runs(2, envs)
        for done in runs:
            assert done.returncode == 0, done.stderr
        analyses = every_analysis(toolkit)
    active = [a for a in analyses if a["active"]]
    assert len(active) == 3 and len({a["output"] for a in active}) == 3, analyses
    assert {a["output"].rsplit("/", 1)[1] for a in active} == {f"{group}.md5" for group in DEMO_GROUPS}
    # Whichever run lost a race for an output says so, naming the Analysis kept and its own, now inactive.
    retired = [a for a in analyses if not a["active"]]
    lines = [line for d in runs for line in d.stderr.splitlines() if "this run's duplicate" in line]
    assert len(lines) == len(retired)
    for analysis in retired:
        assert any(f"Analysis {analysis['id']}, is now inactive" in line for line in lines)
    print(f"\n{len(retired)} duplicate(s) created by the race, all retired")
