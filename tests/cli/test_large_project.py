"""A project large enough for `toolkit plan --format json` to use a second core: asked in pages (the next page
asked for while the last one is extracted), planned in two processes, with the embedded server in a third.
The plan is the one a Python caller gets in one process, from one answer."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.cli.seed import load, participant
from tests.conftest import REPO

GROUPS = 4100  # above 2 x toolkit.plan.PARALLEL_MIN_UNITS

# The program as `toolkit` runs it (toolkit.cli.entry), telling which way make_plan was asked to plan.
PROGRAM_SAYING_HOW = """
import sys
import toolkit.pipeline, toolkit.plan
def make_plan(*args, original=toolkit.plan.make_plan, **kwargs):
    print("processes:", kwargs.get("processes", 1), file=sys.stderr)
    return original(*args, **kwargs)
toolkit.pipeline.make_plan = make_plan
sys.argv = ["toolkit"] + sys.argv[1:]
from toolkit.cli import entry
entry()
"""


def test_a_large_project_is_planned_in_two_processes_as_one_process_plans_it(toolkit, tmp_path, monkeypatch, capsys):
    load(toolkit, tmp_path, "sandbox-test", [participant(f"BIG{index:05d}") for index in range(GROUPS)])
    program = subprocess.run(
        [sys.executable, "-c", PROGRAM_SAYING_HOW, "plan", "jobspecs/fastqe.yaml", "--format", "json"], cwd=REPO,
        env={**toolkit.env, "TOOLKIT_QUERY_PAGE_SIZE": "1000"}, capture_output=True, text=True, timeout=300,
    )
    assert program.returncode == 0, program.stderr[-3000:]
    assert "processes: 2" in program.stderr

    # The same command called from Python: one process, the server in a thread, the project in one answer.
    for name, value in toolkit.env.items():
        monkeypatch.setenv(name, value)
    for name in ("SM_URL", "SM_ENVIRONMENT", "CPG_CONFIG_PATH"):
        monkeypatch.delenv(name, raising=False)
    from toolkit.cli import main

    capsys.readouterr()
    assert main(["plan", "jobspecs/fastqe.yaml", "--format", "json"]) == 0
    in_one_process = capsys.readouterr().out

    assert program.stdout == in_one_process
    plan = json.loads(program.stdout)
    assert plan["summary"]["run"] == len({job["id"] for job in plan["jobs"]}) == GROUPS
