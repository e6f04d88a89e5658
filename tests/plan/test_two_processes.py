"""A large spooled plan is made in two processes (make_plan(processes=2)): the same plan, byte for byte, as one
process makes, and the same errors.

Each case runs in a fresh interpreter: the plan forks only with no other thread running, and this test process
runs other tests' servers in threads. The plans are of PARALLEL_MIN_UNITS groups and more, with something of
every kind in both halves: groups refused for their id, jobs refused for a value (a sample name that would be
read as an option), groups without read sizes (the storage warning), outputs already done.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PLAN_BOTH_WAYS = """
import json, sys
from pathlib import Path
import toolkit.process
from toolkit.errors import SpecError
from toolkit.pipeline import SpoolingSink
from toolkit.plan import PARALLEL_MIN_UNITS, Existing, make_plan
from toolkit.plan.estimate import PlanEstimator, PriceTable
from toolkit.query.groups import Group, GroupSet, Read, Rejection
from toolkit.spec import load_spec
from tests.cli.test_emit_json import emitted
from tests.plan.test_plan import context, two_reads

tmp = Path(sys.argv[1])
COUNT = 2 * PARALLEL_MIN_UNITS + 7
fastqe = (Path("jobspecs") / "fastqe.yaml").read_text().replace("../dockerfiles/", str(Path.cwd() / "dockerfiles") + "/")
spec_path = tmp / "spec.yaml"
spec_path.write_text(fastqe.replace("fastqe-report --html", "fastqe-report {{ group.sample }} --html")
                           .replace("fastqe/{{ group.id }}.html", OUTPUT_PATH))
spec = load_spec(spec_path).model

def group(index):
    made = two_reads(f"CPGX{index}", None if index % 7 == 0 else 2**30)
    sample = SAMPLES.get(index, f"S{index}")
    gid = "CPG/../X" if index % 911 == 5 else made.id  # refused for its id
    return Group(id=gid, reads=made.reads, fields={**made.fields, "sample": sample})

groups = GroupSet(tuple(group(index) for index in range(COUNT)), (Rejection("CPGBAD", "expected 2 reads, found 4"),))
ctx = context(tmp, output_exists=lambda destination: destination.rsplit("/", 1)[-1].split(".")[0] in ("CPGX10", "CPGX3000"))

forks = []
class Counted(toolkit.process.ForkedCall):
    def __init__(self, function):
        forks.append(1)
        super().__init__(function)
toolkit.process.ForkedCall = Counted
import toolkit.plan
here = []  # the shares this process planned itself (the child's calls are counted in the child's memory)
def counted_plan_units(*args, original=toolkit.plan._plan_units):
    here.append(1)
    return original(*args)
toolkit.plan._plan_units = counted_plan_units
SETUP

def plan_with(processes):
    sink = SpoolingSink(PlanEstimator(spec, [], PriceTable.from_config({})), known=None)
    try:
        plan = make_plan(spec, groups, ctx, keep=sink, processes=processes)
    except SpecError as error:
        return {"error": error.render()}
    plan.spool, plan.estimate = sink.spool, sink.estimator.totals()
    return {"document": emitted(plan.to_dict(lazy_jobs=True)), "to_check": sink.to_check}

one = plan_with(1)
assert not forks and len(here) == 1
here.clear()
two = plan_with(2)
import os
try:
    os.waitpid(-1, os.WNOHANG)
    children_left = True
except ChildProcessError:
    children_left = False
print(json.dumps({"one": one, "two": two, "forks": len(forks), "shares_planned_here": len(here),
                  "children_left": children_left}))
"""


def plans(tmp_path, *, samples: dict[int, str] | None = None, output_path: str = "fastqe/{{ group.id }}.html",
          setup: str = "") -> dict:
    script = (PLAN_BOTH_WAYS.replace("SETUP", setup).replace("OUTPUT_PATH", repr(output_path))
              .replace("SAMPLES.get", f"{samples or {}!r}.get"))
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_two_processes_make_the_plan_one_makes(tmp_path):
    bad_samples = {3: "-rf", 2500: "--all", 4001: "-x"}  # read as options before `--`: those jobs are refused
    result = plans(tmp_path, samples=bad_samples)
    assert result["forks"] == 1 and result["shares_planned_here"] == 1  # the child's half was its own
    one, two = result["one"], result["two"]
    assert two["document"] == one["document"]
    assert two["to_check"] == one["to_check"]
    document = json.loads(one["document"])
    skipped = {entry["group"]: entry["reason"] for entry in document["skipped"]}
    assert {"CPGX3", "CPGX2500", "CPGX4001", "CPGBAD", "CPG/../X"} <= set(skipped)
    ids = [job["id"] for job in document["jobs"]]
    assert ids == sorted(ids, key=lambda job_id: int(job_id[4:]))  # plan order, across the halves
    assert document["summary"]["run"] == len(ids) == 4007 - 5 - 3  # 5 refused ids, 3 refused samples
    # outputs found at their destinations but written by no recorded run: rerun, in either half
    assert {job["id"] for job in document["jobs"] if "not adopting" in job["reason"]} == {"CPGX10", "CPGX3000"}
    assert any("no read sizes for CPGX0, CPGX7" in warning for warning in document["warnings"])
    assert document["estimate"]["jobs"] == document["summary"]["run"]


def test_a_destination_shared_across_the_halves_is_the_error_one_process_gives(tmp_path):
    result = plans(tmp_path, samples={10: "TWIN", 3500: "TWIN"}, output_path="fastqe/{{ group.sample }}.html")
    assert result["one"]["error"] == result["two"]["error"]
    assert "gives the same file for jobs CPGX10 and CPGX3500" in result["one"]["error"]


def test_a_destination_shared_within_the_second_half_is_the_error_one_process_gives(tmp_path):
    result = plans(tmp_path, samples={3000: "TWIN", 3999: "TWIN"}, output_path="fastqe/{{ group.sample }}.html")
    assert result["one"]["error"] == result["two"]["error"]
    assert "gives the same file for jobs CPGX3000 and CPGX3999" in result["one"]["error"]


def test_a_destination_shared_within_the_first_half_stops_the_child_too(tmp_path):
    result = plans(tmp_path, samples={10: "TWIN", 20: "TWIN"}, output_path="fastqe/{{ group.sample }}.html")
    assert result["one"]["error"] == result["two"]["error"]
    assert "gives the same file for jobs CPGX10 and CPGX20" in result["one"]["error"]
    assert result["forks"] == 1 and not result["children_left"]


def test_a_child_that_fails_leaves_its_half_to_the_parent(tmp_path):
    """Whatever goes wrong in the child (here: its sink cannot tally), the plan is still the whole plan."""
    setup = """
import os
parent = os.getpid()
def failing_tally(self, original=SpoolingSink.tally):
    if os.getpid() != parent:
        raise MemoryError("the child ran out")
    return original(self)
SpoolingSink.tally = failing_tally
"""
    result = plans(tmp_path, setup=setup)
    assert result["forks"] == 1 and result["shares_planned_here"] == 2
    assert result["two"] == result["one"]
    assert len(json.loads(result["one"]["document"])["jobs"]) > 4000
