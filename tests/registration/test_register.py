"""register_jobs against the embedded server, through the metamist client over HTTP."""

from __future__ import annotations

import os

import pytest

from toolkit.metadata_server import load_demo, start_server
from toolkit.plan.model import Action, Plan, PlannedJob, PlannedOutput, PlannedRegistration, Resources
from toolkit.query.groups import Group
from toolkit.registration import existing_analyses, register_jobs, spec_analyses


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


def planned(group_id: str, output_uri: str, existing_id: int | None = None) -> PlannedJob:
    registration = PlannedRegistration(
        output="report", type="web", status="completed", output_uri=output_uri, sequencing_group_ids=(group_id,),
        meta={"jobspec": "unit", "provenance": {"jobspec": "unit"}}, existing_id=existing_id,
    )
    return PlannedJob(
        group=Group(group_id), action=Action.RUN, reason="new", name=f"unit {group_id}", image="img", command="true",
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
    assert analysis["meta"]["provenance"] == {"jobspec": "unit", "tool_version": "unit 1.0"}
    assert existing_analyses("sandbox-test", {("web", "completed")}) == {("web", "file:///tmp/r17.html"): analysis["id"]}

    # Registered meanwhile (another run, or a rerun of a crashed one): found again, not duplicated.
    again = register_jobs(plan_of(job), [job])
    assert [(r.analysis_id, r.created) for r in again.registered] == [(analysis["id"], False)]
    assert len(spec_analyses("sandbox-test", "unit")) == 1


def test_replace_keeps_exactly_one_active_analysis_per_output(demo):
    job = planned("CPGLCL25", "file:///tmp/r25.html")
    (first,) = register_jobs(plan_of(job), [job]).registered
    forced = planned("CPGLCL25", "file:///tmp/r25.html", existing_id=first.analysis_id)
    (second,) = register_jobs(plan_of(forced), [forced], replace=True).registered
    assert second.created and second.replaced == first.analysis_id
    assert [a["id"] for a in spec_analyses("sandbox-test", "unit")] == [second.analysis_id]


def test_a_refused_registration_is_reported_and_the_others_still_happen(demo):
    good = planned("CPGLCL33", "file:///tmp/r33.html")
    bad = planned("CPGLCL33", "no-scheme/r.html")  # Metamist refuses outputs without a URI scheme
    report = register_jobs(plan_of(good, bad), [good, bad])
    assert [r.output for r in report.registered] == ["report"]
    ((group, output, message),) = report.failed
    assert group == "CPGLCL33" and "protocol prefix" in message
