"""make_plan on the bundled FastQE spec: commands, outputs, resources, registrations and actions."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.errors import SpecError
from toolkit.plan import PlanContext, make_plan, resolve_resources
from toolkit.plan.model import Action
from toolkit.query.groups import Group, GroupSet, Read, Rejection
from toolkit.spec import load_spec
from toolkit.spec.models import ResourcesSection

REPO = Path(__file__).resolve().parents[2]
GIB = 1024**3


@pytest.fixture(scope="module")
def fastqe():
    return load_spec(REPO / "jobspecs" / "fastqe.yaml")


def context(tmp_path: Path, **overrides) -> PlanContext:
    values = dict(
        project="sandbox-test",
        image="registry.local/fastqe:0.3.1-1",
        execution="host",
        spec_path="jobspecs/fastqe.yaml",
        spec_sha256="abc",
        output_location=lambda suffix, category: str(tmp_path / category / suffix),
        display_url=lambda suffix: f"http://127.0.0.1:20000/hkey/cpg-sandbox-test-web/{suffix}",
    )
    values.update(overrides)
    return PlanContext(**values)


def two_reads(gid: str, size: int | None = 10 * GIB) -> Group:
    return Group(
        id=gid,
        reads=(Read(f"gs://bucket/{gid}_R1.fq.gz", size), Read(f"gs://bucket/{gid}_R2.fq.gz", size)),
        fields={"sample": f"S-{gid}", "sequencing_type": "genome"},
    )


def test_each_group_gets_its_command_output_and_registration(fastqe, tmp_path):
    groups = GroupSet((two_reads("CPGLCL17"), two_reads("CPGLCL25")), (Rejection("CPGLCL33", "expected 2 reads, found 4"),))
    plan = make_plan(fastqe.model, groups, context(tmp_path))
    assert [job.group.id for job in plan.jobs] == ["CPGLCL17", "CPGLCL25"]
    job = plan.jobs[0]
    destination = str(tmp_path / "web" / "fastqe" / "CPGLCL17.html")
    metrics = str(tmp_path / "analysis" / "fastqe" / "CPGLCL17.json")
    assert job.command.strip() == (
        f"fastqe-report --html {destination} --metrics {metrics} -- gs://bucket/CPGLCL17_R1.fq.gz gs://bucket/CPGLCL17_R2.fq.gz"
    )
    assert job.action is Action.RUN
    (registration,) = job.registrations
    assert registration.type == "web" and registration.status == "completed"
    assert registration.output_uri == "file://" + destination  # Metamist refuses outputs without a scheme
    assert registration.sequencing_group_ids == ("CPGLCL17",)
    assert registration.meta["display_url"].endswith("/cpg-sandbox-test-web/fastqe/CPGLCL17.html")
    assert registration.meta["sequencing_type"] == "genome" and registration.meta["stage"] == "FastQE"
    provenance = registration.meta["provenance"]
    assert provenance["image"] == "registry.local/fastqe:0.3.1-1" and provenance["command"] == job.command
    assert provenance["jobspec"] == "fastqe" and provenance["jobspec_sha256"] == "abc"
    assert plan.to_dict()["summary"] == {"run": 2, "register": 0, "done": 0, "stale": 0, "skipped": 1}


def test_storage_auto_holds_two_21_gb_fastqs():
    group = Group("G", (Read("a", 21_488_775_743), Read("b", 21_476_047_743)))
    resources = resolve_resources(ResourcesSection(storage="auto", storage_floor="1Gi", storage_margin=1.2), group)
    assert resources.storage_bytes >= (21_488_775_743 + 21_476_047_743) * 1.2
    assert resources.storage == "50Gi"
    unknown = resolve_resources(ResourcesSection(storage="auto", storage_floor="5Gi"), Group("G", (Read("a"),)))
    assert unknown.storage == "5Gi" and "unknown" in unknown.storage_reason
    fixed = resolve_resources(ResourcesSection(storage="30Gi"), group)
    assert fixed.storage == "30Gi"


def test_registered_outputs_are_done_and_existing_unregistered_outputs_are_registered_only(fastqe, tmp_path):
    from toolkit.fingerprint import Fingerprint
    from toolkit.journal import JournalState
    from toolkit.plan import Existing

    groups = GroupSet((two_reads("CPGLCL17"), two_reads("CPGLCL25"), two_reads("CPGLCL58")))
    fresh = {job.id: job for job in make_plan(fastqe.model, groups, context(tmp_path)).jobs}
    done_uri = "file://" + str(tmp_path / "web" / "fastqe" / "CPGLCL17.html")
    leftover = fresh["CPGLCL25"]
    journal = JournalState(outputs={
        out.destination: {"event": "written", "destination": out.destination, "key": leftover.reuse.digest,
                          "checksum": "sha256:same"}
        for out in leftover.outputs.values()
    })
    ctx = context(
        tmp_path,
        existing_analyses={("web", done_uri): [
            Existing(42, "completed", {"key": fresh["CPGLCL17"].reuse.digest}, fresh["CPGLCL17"].command)]},
        output_exists=lambda destination: destination in journal.outputs,
        journal=journal,
        output_fingerprint=lambda destination: Fingerprint(1, "sha256:same"),
    )
    plan = make_plan(fastqe.model, groups, ctx)
    actions = {job.id: (job.action, job.reason) for job in plan.jobs}
    assert actions["CPGLCL17"] == (Action.DONE, "already registered (Analysis 42)")
    assert actions["CPGLCL25"][0] is Action.REGISTER
    assert actions["CPGLCL58"] == (Action.RUN, "new")


def test_two_groups_writing_one_file_is_refused(fastqe, tmp_path):
    spec = fastqe.model.model_copy(
        update={"outputs": {
            **fastqe.model.outputs, "report": fastqe.model.outputs["report"].model_copy(update={"path": "fastqe/report.html"})
        }}
    )
    with pytest.raises(SpecError) as raised:
        make_plan(spec, GroupSet((two_reads("A1"), two_reads("B2"))), context(tmp_path))
    assert "same file for jobs A1 and B2" in raised.value.render()


def test_unknown_read_sizes_are_warned_about_once_per_plan(fastqe, tmp_path):
    groups = GroupSet((two_reads("CPGLCL17", size=None), two_reads("CPGLCL25")))
    plan = make_plan(fastqe.model, groups, context(tmp_path))
    assert plan.warnings == [
        "storage: auto, but Metamist records no read sizes for CPGLCL17: those jobs get only "
        "resources.storage_floor (1Gi)"
    ]
