"""The Batch-service path at cohort scale: a 100,000-group plan built into a ServiceBackend batch, nothing
submitted (tests/backend/service_stand_in.py says what stands in for GCS and the service). How long the build
takes is measured by benchmarks/service_batch.py, not here."""

from __future__ import annotations

import re

import pytest

from tests.backend.service_stand_in import IMAGE, READS_BUCKET, SubmittedToTheService, service_dry_run, service_groups, service_plan
from tests.conftest import REPO

GROUPS = 100_000


@pytest.fixture
def dry_run(tmp_path):
    with service_dry_run(tmp_path) as asked:
        yield asked


def test_a_100000_group_service_batch_has_one_job_two_inputs_and_its_outputs_per_group(dry_run):
    from hailtop.batch.backend import ServiceBackend

    from toolkit.backend import build_batch
    from toolkit.spec import load_spec

    spec = load_spec(REPO / "jobspecs" / "fastqe.yaml")
    plan = service_plan(spec, service_groups(GROUPS))
    assert len(plan.jobs) == GROUPS and all(job.action.name == "RUN" for job in plan.jobs)

    batch, jobs = build_batch(spec.model, plan)

    assert isinstance(batch._backend, ServiceBackend)
    assert len(batch._jobs) == len(jobs) == GROUPS
    # Inputs: one per read, each the read's own gs:// location.
    reads = {read.location for job in plan.jobs for read in job.group.reads}
    assert len(reads) == 2 * GROUPS
    assert len(batch._input_resources) == 2 * GROUPS
    assert {resource._input_path for resource in batch._input_resources} == reads
    # Outputs: every destination of the plan, each written by its own group's job, in the config's buckets.
    wanted = {(job.group.id, out.destination) for job in plan.jobs for out in job.outputs.values()}
    written = {
        (group_id, path)
        for group_id, job in jobs.items()
        for resource in job._external_outputs
        for path in resource._output_paths
    }
    assert len(wanted) == GROUPS * len(spec.model.outputs)
    assert written == wanted
    assert all(path.startswith(("gs://cpg-sandbox-test-web/", "gs://cpg-sandbox-test-analysis/")) for _, path in written)
    # Every job as the service would run it: the image by digest, the plan's resources, both reads in the
    # command as Hail's localised paths, one job's files never another's.
    placed_input = re.compile(r"\$\{BATCH_TMPDIR\}/inputs/[A-Za-z0-9]+/")
    for planned in plan.jobs:
        job = jobs[planned.group.id]
        assert job._image == IMAGE
        assert (job._cpu, job._memory, job._storage) == (
            str(planned.resources.cpu), planned.resources.memory, planned.resources.storage)  # Hail keeps text
        (command,) = job._command
        assert len(placed_input.findall(command)) == 2, command
        assert {resource._input_path for resource in job._inputs} == {read.location for read in planned.group.reads}
    # GCS was asked about each bucket once (the scratch bucket, the reads' and the two outputs'), not per file.
    assert dict(dry_run) == {
        "cpg-sandbox-test-tmp": 1, READS_BUCKET: 1, "cpg-sandbox-test-web": 1, "cpg-sandbox-test-analysis": 1,
    }


def test_the_dry_run_cannot_submit(dry_run, tmp_path):
    """The stand-in is only as good as its refusal: a batch that would reach the service fails instead."""
    from toolkit.backend import build_batch
    from toolkit.spec import load_spec

    spec = load_spec(REPO / "jobspecs" / "fastqe.yaml")
    batch, _ = build_batch(spec.model, service_plan(spec, service_groups(2)))
    with pytest.raises(SubmittedToTheService):
        batch.run(wait=False)
