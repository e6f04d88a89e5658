"""register_jobs against the embedded server, through the metamist client over HTTP."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from toolkit.metadata_server import load_demo, start_server
from toolkit.plan.model import Action, Plan, PlannedJob, PlannedOutput, PlannedRegistration, Resources, WorkUnit
from toolkit.query.groups import Group
from toolkit.registration import existing_for_spec, register_jobs, spec_analyses


@pytest.fixture
def demo(tmp_path):
    from toolkit.metamist_connection import connect

    saved = {key: os.environ.get(key) for key in ("SM_URL", "SM_ENVIRONMENT")}
    load_demo(tmp_path / "metadata.sqlite")
    with start_server(db_path=tmp_path / "metadata.sqlite") as server:
        connect(server.url, local=True)
        yield server
    for key, value in saved.items():
        os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def planned(group_id: str, output_uri: str, replaces: tuple[int, ...] = (), key: str = "sha256:unit") -> PlannedJob:
    registration = PlannedRegistration(
        output="report", type="web", status="completed", output_uri=output_uri, sequencing_group_ids=(group_id,),
        meta={"jobspec": "unit", "provenance": {"jobspec": "unit", "reuse": {"key": key}}}, replaces=replaces,
        reuse_key=key,
    )
    return PlannedJob(
        unit=WorkUnit(group_id, "sequencing-group", Group(group_id), (Group(group_id),), ()), action=Action.RUN, reason="new", name=f"unit {group_id}", image="img", command="true",
        outputs={"report": PlannedOutput("report", "web", "r.html", output_uri, output_uri)},
        resources=Resources(1, "1Gi", "1Gi", 2**30, 2**30), registrations=(registration,),
    )


def plan_of(*jobs: PlannedJob) -> Plan:
    return Plan("unit", "unit.yaml", "0" * 64, "sandbox-test", "img", "host", jobs=list(jobs))


def test_registers_once_with_what_was_learnt_while_running(demo):
    job = planned("CPGLCL17", "file:///tmp/r17.html")
    first = register_jobs(plan_of(job), [job], extra_provenance={"tool_version": "unit 1.0"})
    assert [(r.group_id, r.created) for r in first.registered] == [("CPGLCL17", True)]
    (analysis,) = spec_analyses("sandbox-test", "unit")
    assert analysis["meta"]["provenance"] == {"jobspec": "unit", "reuse": {"key": "sha256:unit"}, "tool_version": "unit 1.0"}
    ((kind, output), (existing,)), = existing_for_spec("sandbox-test", "unit").items()
    assert (kind, output, existing.id, existing.reuse) == ("web", "file:///tmp/r17.html", analysis["id"], {"key": "sha256:unit"})

    # Registered meanwhile (another run, or a rerun of a crashed one): found again, not duplicated.
    again = register_jobs(plan_of(job), [job])
    assert [(r.analysis_id, r.created) for r in again.registered] == [(analysis["id"], False)]
    assert len(spec_analyses("sandbox-test", "unit")) == 1


def test_replace_keeps_exactly_one_active_analysis_per_output(demo):
    job = planned("CPGLCL25", "file:///tmp/r25.html")
    (first,) = register_jobs(plan_of(job), [job]).registered
    # --force (same key), then a stale output rerun (another key): each new Analysis replaces the active one.
    forced = planned("CPGLCL25", "file:///tmp/r25.html", replaces=(first.analysis_id,))
    (second,) = register_jobs(plan_of(forced), [forced]).registered
    assert second.created and second.replaced == (first.analysis_id,)
    assert [a["id"] for a in spec_analyses("sandbox-test", "unit")] == [second.analysis_id]
    rerun = planned("CPGLCL25", "file:///tmp/r25.html", replaces=(second.analysis_id,), key="sha256:other")
    (third,) = register_jobs(plan_of(rerun), [rerun]).registered
    assert third.created and third.replaced == (second.analysis_id,)
    assert [a["id"] for a in spec_analyses("sandbox-test", "unit")] == [third.analysis_id]


def test_a_refused_registration_is_reported_and_the_others_still_happen(demo):
    good = planned("CPGLCL33", "file:///tmp/r33.html")
    bad = planned("CPGLCL33", "no-scheme/r.html")  # Metamist refuses outputs without a URI scheme
    report = register_jobs(plan_of(good, bad), [good, bad])
    assert [r.output for r in report.registered] == ["report"]
    ((group, output, message),) = report.failed
    assert group == "CPGLCL33" and "protocol prefix" in message


RACER = """
import json, sys, time
from pathlib import Path
from toolkit.metamist_connection import connect
from tests.registration.test_register import plan_of, planned
url, go, ready = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
connect(url, local=True)
jobs = [planned(group, f"file:///race/{group}.html") for group in ("CPGLCL17", "CPGLCL25", "CPGLCL33")]
ready.touch()
while not go.exists():
    time.sleep(0.001)
report = register_jobs(plan_of(*jobs), jobs)
print(json.dumps([[r.group_id, r.analysis_id, r.created, getattr(r, "retired", None)] for r in report.registered] + [report.failed]))
""".replace("from toolkit.metamist_connection", "from toolkit.registration import register_jobs\nfrom toolkit.metamist_connection")


def test_racing_registrations_without_a_lock_converge_on_the_oldest_analysis_per_output(demo, tmp_path):
    """Issue 7, item 2, without the per-machine lock (as on two machines): several processes register the same
    three outputs at the same instant; the re-check after creating leaves exactly one active Analysis per
    output, the oldest, and every racer reports that one."""
    import json
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    racers = 6
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, demo.url, str(go), str(tmp_path / f"ready-{index}")],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for index in range(racers)
    ]
    deadline = time.time() + 120
    while len(list(tmp_path.glob("ready-*"))) < racers:
        assert time.time() < deadline and all(p.poll() is None for p in processes)
        time.sleep(0.05)
    go.touch()
    reports = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        *registered, failed = json.loads(stdout)
        assert failed == []
        reports.append(registered)

    from toolkit.metamist_connection import graphql_query

    every = graphql_query(
        '{ project(name: "sandbox-test") { analyses(active: {in_: [true, false]}) { id active output } } }', {}
    )["project"]["analyses"]
    active = {a["output"]: a["id"] for a in every if a["active"]}
    assert len(active) == 3 and len([a for a in every if a["active"]]) == 3
    for output, kept in active.items():
        same_output = [a["id"] for a in every if a["output"] == output]
        assert kept == min(same_output)  # the oldest is the one kept
    # Every racer reports the kept Analysis; each output was "created" by exactly one of them; every other
    # Analysis a racer created is reported by that racer as its retired duplicate.
    kept_by_group = {f"CPGLCL{output.rsplit('CPGLCL', 1)[1][:-5]}": kept for output, kept in active.items()}
    retired = set()
    for registered in reports:
        for group, analysis_id, _created, retired_id in registered:
            assert analysis_id == kept_by_group[group]
            if retired_id is not None:
                retired.add(retired_id)
    created = Counter(group for registered in reports for group, _, was_created, _ in registered if was_created)
    assert created == Counter({group: 1 for group in kept_by_group})
    assert retired == {a["id"] for a in every if not a["active"]}
    print(f"\n{len(retired)} duplicate(s) made by {racers} racers, all retired")
