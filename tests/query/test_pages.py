"""A large project is asked in pages of its sequencing groups: the plan is the one a single answer gives."""

from __future__ import annotations

import json

from tests.cli.seed import load, participant


def plan_json(toolkit, spec: str, page_size: int | None, check: int = 0):
    extra = {"TOOLKIT_QUERY_PAGE_SIZE": str(page_size)} if page_size else {}
    done = toolkit.run("plan", spec, "--format", "json", extra_env=extra, check=check)
    return json.loads(done.stdout) if check == 0 else done


def test_pages_of_one_two_and_all_groups_give_the_same_plan(toolkit):
    whole = plan_json(toolkit, "jobspecs/fastqe.yaml", None)
    assert len(whole["jobs"]) == 3  # the demo project
    for size in (1, 2):
        paged = plan_json(toolkit, "jobspecs/fastqe.yaml", size)
        assert [job["id"] for job in paged["jobs"]] == [job["id"] for job in whole["jobs"]]
        assert paged["jobs"] == whole["jobs"]
        assert paged["skipped"] == whole["skipped"]


def test_one_id_for_entries_of_two_pages_is_refused_as_within_one_answer(toolkit, tmp_path):
    """Two sequencing groups of one sample, with the sample's name as the job id: two jobs, one output."""
    twice = participant("TWINSAMPLE")
    group = twice["samples"][0]["sequencing_groups"][0]
    twice["samples"][0]["sequencing_groups"].append({**group, "type": "exome"})
    load(toolkit, tmp_path, "sandbox-test", [twice, participant("OTHER")])
    spec = tmp_path / "by-sample.yaml"
    fastqe = (toolkit_repo() / "jobspecs" / "fastqe.yaml").read_text()
    assert "\n  id: id\n" in fastqe
    spec.write_text(fastqe.replace("\n  id: id\n", "\n  id: sample.externalId\n")
                    .replace("../dockerfiles/", f"{toolkit_repo()}/dockerfiles/"))
    for size in (None, 1):
        done = toolkit.run("plan", str(spec), "--format", "json", check=None,
                           extra_env={"TOOLKIT_QUERY_PAGE_SIZE": str(size)} if size else {})
        assert done.returncode != 0
        assert "gives the same id to different entries" in done.stderr and "TWINSAMPLE" in done.stderr


def test_a_page_size_that_is_not_a_number_is_a_usage_error(toolkit):
    done = toolkit.run("plan", "jobspecs/fastqe.yaml", check=None, extra_env={"TOOLKIT_QUERY_PAGE_SIZE": "lots"})
    assert done.returncode == 2 and "TOOLKIT_QUERY_PAGE_SIZE='lots'" in done.stderr


def toolkit_repo():
    from tests.conftest import REPO

    return REPO
