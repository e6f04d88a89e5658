"""register_jobs against the embedded server, through the metamist client over HTTP."""

from __future__ import annotations

import dataclasses
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


# By hand, the tests that take ``metamist`` run against a real Metamist too: set this to its URL (one running
# with SM_ENVIRONMENT=local and seeded with ../shared/metamist-golden/seed.json: ../shared/real-metamist/).
# They register outputs of their own (a fresh folder each), so the server need not be empty.
REAL_METAMIST = os.environ.get("TOOLKIT_TEST_REAL_METAMIST")


@pytest.fixture
def metamist(request, tmp_path):
    """Where the test registers: the embedded server (as ``demo``), or the real Metamist at REAL_METAMIST."""
    if not REAL_METAMIST:
        yield request.getfixturevalue("demo")
        return
    from types import SimpleNamespace

    from toolkit.metamist_connection import connect

    saved = {key: os.environ.get(key) for key in ("SM_URL", "SM_ENVIRONMENT")}
    connect(REAL_METAMIST, local=True)
    yield SimpleNamespace(url=REAL_METAMIST.rstrip("/"))
    for key, value in saved.items():
        os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def fresh(name: str) -> str:
    """A folder no earlier run registered outputs in (a real Metamist keeps them)."""
    import uuid

    return f"{name}-{uuid.uuid4().hex[:8]}"


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
from toolkit.registration import register_jobs
from tests.registration.test_register import many, plan_of
url, go, ready, folder = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
connect(url, local=True)
jobs = many(RACED_OUTPUTS, folder)
ready.touch()
while not go.exists():
    time.sleep(0.001)
# Batched and concurrent, as registration runs against a Metamist in another process: 6 requests, 3 at once.
report = register_jobs(plan_of(*jobs), jobs, per_request=5, requests_at_once=3)
answer = [[r.group_id, r.analysis_id, r.created, r.retired] for r in report.registered]
print(json.dumps(answer + [report.failed]))
"""
RACED_OUTPUTS = 30


def test_racing_registrations_without_a_lock_converge_on_the_oldest_analysis_per_output(metamist, tmp_path):
    """Issue 7, item 2, without the per-machine lock (as on two machines): several processes register the same
    30 outputs at the same instant, each in several requests at once; the re-check after creating leaves
    exactly one active Analysis per output, the oldest, and every racer reports that one."""
    import json
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    racers = 6
    folder = fresh("race")
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RACER.replace("RACED_OUTPUTS", str(RACED_OUTPUTS)), metamist.url, str(go),
             str(tmp_path / f"ready-{index}"), folder],
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

    every = analyses_of_outputs(f"file:///{folder}/")
    active = {a["output"]: a["id"] for a in every if a["active"]}
    assert len(active) == RACED_OUTPUTS and len([a for a in every if a["active"]]) == RACED_OUTPUTS
    for output, kept in active.items():
        same_output = [a["id"] for a in every if a["output"] == output]
        assert kept == min(same_output)  # the oldest is the one kept
    # Every racer reports the kept Analysis; each output was "created" by exactly one of them; every other
    # Analysis a racer created is reported by that racer as its retired duplicate.
    jobs = many(RACED_OUTPUTS, folder)
    job_of_output = {f"file:///{folder}/{n}.html": job.id for n, job in enumerate(jobs)}
    kept_by_group = {job_of_output[output]: kept for output, kept in active.items()}
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


# -- many outputs: batched, concurrent requests -------------------------------------------------------------

GROUPS = ("CPGLCL17", "CPGLCL25", "CPGLCL33")


def many(count: int, folder: str, replacing: dict[str, int] | None = None, key: str = "sha256:unit") -> list:
    jobs = []
    for number in range(count):
        output = f"file:///{folder}/{number}.html"
        replaces = (replacing[output],) if replacing else ()
        job = planned(GROUPS[number % 3], output, replaces=replaces, key=key)
        # one job per output: each is its own job id, as each group's job is in a run
        unit = dataclasses.replace(job.unit, id=f"{job.unit.id}-{number}")
        jobs.append(dataclasses.replace(job, unit=unit))
    return jobs


def analyses_of_outputs(prefix: str) -> list[dict]:
    """Every Analysis (active or not) whose output starts with ``prefix``, as `toolkit outputs` lists them."""
    from toolkit.metamist_connection import graphql_query

    query = (
        '{ project(name: "sandbox-test") { analyses(active: {in_: [true, false]}) '
        '{ id active output } } }'
    )
    every = graphql_query(query, {})["project"]["analyses"]
    return [a for a in every if (a["output"] or "").startswith(prefix)]


def test_a_thousand_outputs_are_registered_once_each_and_replaced_once_each(metamist):
    folder = fresh("thousand")
    jobs = many(1000, folder)
    report = register_jobs(plan_of(*jobs), jobs)
    assert report.failed == [] and len(report.created) == 1000
    stored = analyses_of_outputs(f"file:///{folder}/")
    assert len(stored) == 1000 and all(a["active"] for a in stored)
    assert Counter(a["output"] for a in stored) == Counter(f"file:///{folder}/{n}.html" for n in range(1000))
    assert sorted(r.analysis_id for r in report.registered) == sorted(a["id"] for a in stored)

    # A rerun with another reuse key (or --force) replaces every one: 1,000 new, the 1,000 old ones inactive.
    old = {a["output"]: a["id"] for a in stored}
    rerun = many(1000, folder, replacing=old, key="sha256:changed")
    again = register_jobs(plan_of(*rerun), rerun, requests_at_once=4)
    assert again.failed == [] and len(again.created) == 1000
    assert sorted(i for r in again.registered for i in r.replaced) == sorted(old.values())
    stored = analyses_of_outputs(f"file:///{folder}/")
    active = [a for a in stored if a["active"]]
    assert len(stored) == 2000 and len(active) == 1000 and len({a["output"] for a in active}) == 1000
    assert not {a["id"] for a in active} & set(old.values())


@pytest.mark.parametrize("at_once", [1, 4])
def test_a_create_refused_mid_request_is_reported_and_the_rest_registered_once(metamist, at_once):
    """The server refuses the 31st of 60 creates (a sequencing group it does not know): the request of the
    26th-50th fails after creating the 26th-30th. Those are found by output, not created again; the 32nd-50th
    are sent again; only the refused output is reported, with the server's reason. A rerun adds nothing
    twice."""
    folder = fresh(f"refused-{at_once}")
    jobs = many(60, folder)
    bad = jobs[30]
    refused = dataclasses.replace(bad, registrations=(dataclasses.replace(
        bad.registrations[0], sequencing_group_ids=("CPGLCL999999",)),))
    jobs[30] = refused
    report = register_jobs(plan_of(*jobs), jobs, per_request=25, requests_at_once=at_once)
    ((group, output, message),) = report.failed
    assert (group, output) == (refused.id, "report")
    assert "sequencing group" in message and "CPGLCL999999" in message
    stored = analyses_of_outputs(f"file:///{folder}/")
    assert Counter(a["output"] for a in stored) == Counter(
        f"file:///{folder}/{n}.html" for n in range(60) if n != 30)
    assert all(a["active"] for a in stored)

    jobs[30] = bad  # fixed: the rerun registers it, and only it
    rerun = register_jobs(plan_of(*jobs), jobs, per_request=25, requests_at_once=at_once)
    assert rerun.failed == [] and [r.group_id for r in rerun.created] == [bad.id]
    stored = analyses_of_outputs(f"file:///{folder}/")
    assert len(stored) == 60 and len({a["output"] for a in stored}) == 60


@pytest.mark.parametrize("at_once", [1, 4])
def test_an_answer_lost_mid_registration_is_looked_up_not_created_again(metamist, at_once):
    """The connection drops after the server created the 2nd request's Analyses: the toolkit cannot know from
    the answer, so it looks them up by output before sending anything again. Every output is registered
    once."""
    from tests.registration.cutting_proxy import CuttingProxy
    from toolkit.metamist_connection import connect

    folder = fresh(f"lost-{at_once}")
    jobs = many(100, folder)
    with CuttingProxy(metamist.url, cut_request=2, forward_cut=True) as proxy:
        connect(proxy.url, local=True)
        report = register_jobs(plan_of(*jobs), jobs, per_request=25, requests_at_once=at_once)
        assert proxy.cut.is_set()
    connect(metamist.url, local=True)
    assert report.failed == [] and len(report.created) == 100
    stored = analyses_of_outputs(f"file:///{folder}/")
    assert len(stored) == 100 and all(a["active"] for a in stored)
    assert len({a["output"] for a in stored}) == 100


@pytest.mark.parametrize("forward_cut", [True, False], ids=["applied", "never-arrived"])
def test_metamist_gone_mid_registration_then_a_rerun_registers_each_output_once(metamist, forward_cut):
    """Metamist goes away during the 2nd of 4 requests (which it applied, or never saw): the outputs of the
    1st are registered; the others are reported, each saying whether it may have been registered; the rerun
    finds those that were and registers the rest, nothing twice."""
    from tests.registration.cutting_proxy import CuttingProxy
    from toolkit.metamist_connection import connect

    folder = fresh(f"gone-{forward_cut}")
    jobs = many(100, folder)
    with CuttingProxy(metamist.url, cut_request=2, forward_cut=forward_cut, then_gone=True) as proxy:
        connect(proxy.url, local=True)
        report = register_jobs(plan_of(*jobs), jobs, per_request=25, requests_at_once=1)
    connect(metamist.url, local=True)
    assert len(report.created) == 25
    # Those 25 are registered, but the check for a concurrent run's duplicates could not be made: said too.
    unchecked = [m for _, _, m in report.failed if "the check for a duplicate made by a concurrent run" in m]
    unknown = [m for _, _, m in report.failed if "may or may not have registered it" in m]
    unsent = [m for _, _, m in report.failed if "not sent" in m]
    assert (len(unchecked), len(unknown), len(unsent)) == (25, 25, 50), report.failed[:2]
    assert len(report.failed) == 100
    assert all("next run looks it up by output" in m for m in unknown)
    assert len(analyses_of_outputs(f"file:///{folder}/")) == (50 if forward_cut else 25)

    rerun = register_jobs(plan_of(*jobs), jobs)
    assert rerun.failed == []
    assert len(rerun.created) == (50 if forward_cut else 75)
    stored = analyses_of_outputs(f"file:///{folder}/")
    assert len(stored) == 100 and all(a["active"] for a in stored)
    assert len({a["output"] for a in stored}) == 100
