""""Done" means the same output from the same inputs, command and image (the reuse key), end to end.

Each part of the key is changed in turn, and exactly the jobs it affects become due, with the reason in words;
the others stay done. Leftovers of a killed run are adopted only when the journal says this spec wrote them
with the planned key. Registered outputs keep their fingerprint (`toolkit outputs --verify`), and plans say
what they will cost. Real CLI, the embedded server over HTTP, Hail's LocalBackend on the host.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.cli.test_run import analyses_via_graphql, in_own_process
from tests.cli.test_scopes import DEMO, write_spec
from tests.conftest import REPO

pytestmark = pytest.mark.slow

SLICE = """\
params:
  bytes: {{type: int, default: 100}}
version_command: cat {version}
command: |
  head -c {{{{ params.bytes }}}} {{{{ reads[0] }}}} > {{{{ outputs.part }}}}
outputs:
  part: {{path: "slice/{{{{ group.id }}}}.bin"}}
register:
  part: {{type: qc}}
"""


@pytest.fixture
def slice_spec(tmp_path):
    version = tmp_path / "version"
    version.write_text("slicer 1.0\n")
    return write_spec(tmp_path, "slice", SLICE.format(version=version)), version


def actions(toolkit, spec, *args):
    plan = toolkit.json("plan", spec, "--format", "json", "--execution", "host", *args)
    return {job["id"]: (job["action"], job["reason"]) for job in plan["jobs"]}


def active_outputs(toolkit, suffix=".bin"):
    return [a for a in analyses_via_graphql(toolkit) if a["output"].endswith(suffix)]


def test_each_part_of_the_key_makes_exactly_the_jobs_it_affects_due(toolkit, slice_spec):
    spec, version = slice_spec
    toolkit.run("run", spec, "--execution", "host")
    assert {a for a, _ in actions(toolkit, spec).values()} == {"done"}

    # A param that is not part of the output path: every job, named as the param.
    changed = actions(toolkit, spec, "--param", "bytes=200")
    assert changed == {group: ("run", "stale: command changed: --param bytes 100 → 200") for group in DEMO}

    # The image: on the host, the tool's own version (version_command).
    version.write_text("slicer 1.1\n")
    assert actions(toolkit, spec) == {
        group: ("run", "stale: image changed: host: slicer 1.0 → host: slicer 1.1") for group in DEMO}
    version.write_text("slicer 1.0\n")

    # The command text.
    edited = open(spec).read().replace("head -c", "head --bytes")
    open(spec, "w").write(edited)
    assert {reason for _, reason in actions(toolkit, spec).values()} == {
        "stale: command changed: -c → --bytes"}
    open(spec, "w").write(edited.replace("head --bytes", "head -c"))

    # One read re-uploaded (its checksum in Metamist changes): that group only.
    in_own_process(toolkit, """
from metamist.apis import AssayApi
from metamist.api_client import ApiClient
from metamist.configuration import Configuration
from metamist.models import AssayUpsert
group = graphql_query('query { project(name: "sandbox-test") { sequencingGroups(id: {eq: "CPGLCL25"}) { assays { id meta } } } }')
assay = group['project']['sequencingGroups'][0]['assays'][0]
reads = assay['meta']['reads']
reads[0]['checksum'] = 'md5:' + '0' * 32
AssayApi(ApiClient(Configuration(host=server.url))).update_assay(AssayUpsert(id=assay['id'], meta={'reads': reads}))
""")
    now = actions(toolkit, spec)
    assert now["CPGLCL17"][0] == now["CPGLCL33"][0] == "done"
    assert now["CPGLCL25"][0] == "run" and now["CPGLCL25"][1].startswith(
        "stale: inputs changed: DEMO002_R1.fastq.gz checksum md5:") and now["CPGLCL25"][1].endswith(" → md5:" + "0" * 32)

    # --keep-stale reports it and runs nothing; a run without it reruns that job only and replaces its Analysis.
    kept = toolkit.run("run", spec, "--execution", "host", "--keep-stale")
    assert "CPGLCL25: stale, kept (--keep-stale): inputs changed" in kept.stderr and "0 succeeded" in kept.stderr
    before = {a["sequencingGroups"][0]["id"]: a["id"] for a in active_outputs(toolkit)}
    rerun = toolkit.run("run", spec, "--execution", "host")
    assert "1 succeeded" in rerun.stderr
    after = {a["sequencingGroups"][0]["id"]: a["id"] for a in active_outputs(toolkit)}
    assert after["CPGLCL17"] == before["CPGLCL17"] and after["CPGLCL33"] == before["CPGLCL33"]
    assert after["CPGLCL25"] != before["CPGLCL25"]
    assert f"replaces Analysis {before['CPGLCL25']}, now inactive" in rerun.stderr
    assert {a for a, _ in actions(toolkit, spec).values()} == {"done"}


def test_a_new_member_makes_the_aggregate_due_and_the_plan_says_why(toolkit, tmp_path, slice_spec):
    spec, _ = slice_spec
    total = write_spec(tmp_path, "total", """\
        scope: project
        inputs:
          from_jobspec: {name: slice, output: part}
        command: |
          cat {{ reads }} | wc -c > {{ outputs.total }}
        outputs:
          total: {path: "total/{{ project }}.txt"}
        register:
          total: {type: custom}
        """, query=False)
    toolkit.run("run", spec, total, "--execution", "host")
    assert actions(toolkit, total)["sandbox-test"][0] == "done"

    # A fourth sample arrives (its reads: a copy of a demo pair, in a folder local reads may come from).
    reads = tmp_path / "reads"
    reads.mkdir()
    demo = REPO / "toolkit" / "metadata_server" / "demo"
    for end in ("R1", "R2"):
        (reads / f"NEW_{end}.fastq.gz").write_bytes((demo / f"DEMO001_{end}.fastq.gz").read_bytes())
    sheet = tmp_path / "new.csv"
    sheet.write_text("project,participant,sample,sequencing_type,read1,read2\n"
                     "sandbox-test,P4,DEMO004,genome,reads/NEW_R1.fastq.gz,reads/NEW_R2.fastq.gz\n")
    toolkit.run("metadata", "load", str(sheet))
    env = {"TOOLKIT_READ_ROOTS": str(reads)}
    toolkit.run("run", spec, "--execution", "host", extra_env=env)
    new_part = max(a["id"] for a in active_outputs(toolkit))
    action, reason = actions(toolkit, total)["sandbox-test"]
    assert action == "run" and reason == f"stale: inputs changed: new input Analysis {new_part}"


def _wait_for(predicate, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_leftovers_of_a_killed_run_are_adopted_only_with_the_planned_key_and_foreign_files_never(toolkit, tmp_path):
    spec = write_spec(tmp_path, "slow", """\
        command: |
          if [ {{ group.id }} = CPGLCL25 ]; then sleep 300; fi
          cat {{ reads }} > {{ outputs.all }}
        outputs:
          all: {path: "slow/{{ group.id }}.fq.gz"}
        register:
          all: {type: qc}
        """)
    outputs = toolkit.home / "buckets" / "cpg-sandbox-test" / "toolkit" / "slow"
    journal = toolkit.home / "buckets" / "cpg-sandbox-test-tmp" / "toolkit" / "toolkit-runs" / "slow.jsonl"
    # One job at a time: CPGLCL33 waits behind CPGLCL25's sleep, so it is surely not written when the run stops.
    process = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "run", spec, "--execution", "host", "--parallel", "1"], cwd=REPO,
        env=toolkit.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert _wait_for(lambda: journal.exists() and '"written"' in journal.read_text()), "CPGLCL17 never finished"
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert (outputs / "CPGLCL17.fq.gz").exists() and active_outputs(toolkit, ".fq.gz") == []

    # A file nobody of this spec wrote, at another group's output path: never adopted.
    (outputs / "CPGLCL33.fq.gz").write_bytes(b"not from this spec")

    # The spec changed since the killed run: its leftover is rerun, with the reason.
    original = open(spec).read()
    open(spec, "w").write(original.replace("cat {{ reads }} >", "cat {{ reads }} {{ reads }} >"))
    changed = actions(toolkit, spec)
    assert changed["CPGLCL17"][0] == "run"
    assert changed["CPGLCL17"][1].startswith("all was left by an earlier run with another reuse key (command changed")
    # (CPGLCL33's job was submitted, but the run was stopped before it ran: the file is not its.)
    assert changed["CPGLCL33"][0] == "run" and "running the job" in changed["CPGLCL33"][1]

    # Unchanged: the leftover is registered without running its job again; the foreign file is not.
    open(spec, "w").write(original)
    unchanged = actions(toolkit, spec)
    assert unchanged["CPGLCL17"][0] == "register"
    assert unchanged["CPGLCL33"] == ("run", "an earlier run of this spec stopped before it recorded writing all: "
                                            "not adopting the file found there (running the job)")
    # Another spec writing to the same paths: no run of *it* wrote these files, so it adopts none.
    other = tmp_path / "other.yaml"
    other.write_text(original.replace("name: slow\n", "name: other\n"))
    foreign = actions(toolkit, str(other))
    assert foreign["CPGLCL17"] == ("run", "all exists at its destination but no run of this spec recorded writing "
                                          "it: not adopting a file it did not write (running the job)")


def test_outputs_verify_reports_missing_and_changed_outputs(toolkit, slice_spec):
    spec, _ = slice_spec
    toolkit.run("run", spec, "--execution", "host")
    verified = toolkit.json("outputs", spec, "--verify", "--format", "json")
    assert [a["verified"] for a in verified["analyses"]] == ["ok"] * 3
    files = {a["sequencing_groups"][0]: a["output"].removeprefix("file://") for a in verified["analyses"]}
    with open(files["CPGLCL17"], "ab") as handle:
        handle.write(b"!")
    os.remove(files["CPGLCL33"])
    done = toolkit.run("outputs", spec, "--verify", check=7)
    lines = {line.split()[1]: line for line in done.stdout.splitlines()[2:] if line.strip()}
    assert lines["CPGLCL17"].endswith("changed (size 100 -> 101)")
    assert lines["CPGLCL25"].endswith("ok")
    assert lines["CPGLCL33"].endswith("missing")
    assert "2 of 3 registered output(s) no longer match" in done.stderr


def test_plans_estimate_time_and_cost_from_earlier_runs_or_the_hint(toolkit, tmp_path, slice_spec):
    spec, _ = slice_spec
    first = toolkit.run("plan", spec, "--execution", "host").stdout.splitlines()[0]
    assert first == ("3 jobs to run; time and cost unknown (no earlier runs of this spec in the project, "
                     "and no `estimate:` hint)")
    hinted = open(spec).read() + "estimate: {bytes_per_second: 1000, seconds_per_job: 10}\n"
    open(spec, "w").write(hinted)
    plan = toolkit.json("plan", spec, "--format", "json", "--execution", "host")
    assert plan["estimate"]["model"] == "1000 B/s + 10 s per job, from the spec's estimate hint"
    sizes = {job["id"]: sum(read["size"] for read in job["inputs"]) for job in plan["jobs"]}
    for job in plan["jobs"]:
        assert job["estimate"]["seconds"] == pytest.approx(10 + sizes[job["id"]] / 1000, abs=0.1)
        assert job["estimate"]["billed_cores"] == 1
    assert plan["estimate"]["seconds"] == pytest.approx(sum(job["estimate"]["seconds"] for job in plan["jobs"]), abs=0.5)

    toolkit.run("run", spec, "--execution", "host")
    recorded = active_outputs(toolkit)
    for analysis in recorded:
        run = analysis["meta"]["provenance"]["run"]
        assert run["input_bytes"] == sizes[analysis["sequencingGroups"][0]["id"]]
        assert run["wall_seconds"] > 0 and run["cpu"] == 1 and run["execution"] == "host"
    learnt = toolkit.json("plan", spec, "--format", "json", "--execution", "host", "--param", "bytes=5")
    assert learnt["estimate"]["model"].endswith("learnt from 3 earlier runs")
    assert learnt["estimate"]["jobs"] == 3 and learnt["estimate"]["seconds"] > 0
    text = toolkit.run("plan", spec, "--execution", "host", "--param", "bytes=5").stdout.splitlines()[0]
    assert text.startswith("3 jobs to run, ~") and "of compute" in text and "on the Hail Batch service" in text
    json.dumps(learnt)  # the whole plan is JSON


def test_plan_force_shows_every_done_job_rerun_with_what_it_replaces_and_costs(toolkit, slice_spec):
    spec, _ = slice_spec
    toolkit.run("run", spec, "--execution", "host")
    done = toolkit.json("plan", spec, "--format", "json", "--execution", "host")
    assert done["summary"]["run"] == 0 and done["summary"]["done"] == 3
    forced = toolkit.json("plan", spec, "--format", "json", "--execution", "host", "--force")
    assert forced["summary"]["run"] == 3 and forced["summary"]["done"] == 0
    registered = {a["sequencingGroups"][0]["id"]: a["id"] for a in active_outputs(toolkit)}
    for job in forced["jobs"]:
        assert job["reason"] == f"forced: will replace Analysis {registered[job['id']]}"
        assert job["estimate"]["seconds"] > 0  # learnt from the run before
    # a plan changes nothing: the Analyses are still the active ones
    assert {a["id"] for a in active_outputs(toolkit)} == set(registered.values())
