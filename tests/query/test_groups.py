"""Group extraction on real Metamist answers (from the golden recordings) and on odd metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolkit.errors import MetadataError
from toolkit.query.groups import extract_groups
from toolkit.spec.models import InputsSection

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "metamist-golden" / "graphql.json"


def fastqe_inputs(**overrides) -> InputsSection:
    base = {
        "query": "query { x }",
        "groups": "project.sequencingGroups",
        "id": "id",
        "reads": {"path": "assays[].meta.reads[]", "location": "location", "size": "size"},
        "fields": {"sample": "sample.externalId", "sequencing_type": "type"},
        "expect": {"reads": 2, "on_mismatch": "skip"},
    }
    base.update(overrides)
    return InputsSection.model_validate(base)


def golden_answer(name: str) -> dict:
    for exchange in json.loads(GOLDEN.read_text()):
        if exchange["name"] == name:
            return exchange["response"]["data"]
    raise KeyError(name)


def test_full_project_answer_gives_one_group_per_sequencing_group_with_read_problems_explained():
    data = golden_answer("project_full_sequencing_groups")
    groups = extract_groups(fastqe_inputs(), data)
    by_id = {g.id: g for g in groups.groups}
    rejected = {r.group_id: r.reason for r in groups.rejections}
    # SBX002 has two lanes (4 files) and SBX003 a CRAM without reads: both do not fit "exactly 2 reads".
    assert "expected 2 reads" in rejected["CPGLCL33"] and "found 4" in rejected["CPGLCL33"]
    assert "found 0" in rejected["CPGLCL41"]
    assert set(by_id) | set(rejected) >= {"CPGLCL17", "CPGLCL25", "CPGLCL33", "CPGLCL41", "CPGLCL58"}
    hostile = by_id["CPGLCL58"]
    assert len(hostile.reads) == 2
    assert any("'" in read.location for read in hostile.reads)  # names with quotes arrive unchanged
    assert all(read.size and read.size > 2**31 for read in by_id["CPGLCL17"].reads)
    assert by_id["CPGLCL17"].fields == {"sample": "SBX001", "sequencing_type": "genome"}


def test_range_expectation_and_fail_policy_mark_rejections_fatal():
    data = {"project": {"sequencingGroups": [{"id": "CPGLCL17", "assays": [{"meta": {"reads": []}}]}]}}
    groups = extract_groups(fastqe_inputs(expect={"reads": {"min": 1, "max": 4}, "on_mismatch": "fail"}), data)
    assert groups.groups == ()
    assert groups.fatal_rejections[0].reason.startswith("expected 1-4 reads")


def test_odd_metadata_is_normalised_or_explained():
    data = {
        "project": {
            "sequencingGroups": [
                # a single read stored as an object, size as a string
                {"id": "A", "assays": [{"meta": {"reads": {"location": "gs://b/a.fq", "size": "12"}}}]},
                # a read without a location
                {"id": "B", "assays": [{"meta": {"reads": [{"basename": "x.fq"}]}}]},
                # listed twice (reached through two paths): processed once
                {"id": "A", "assays": [{"meta": {"reads": {"location": "gs://b/a.fq", "size": "12"}}}]},
                # no id at all
                {"assays": []},
                # assays null
                {"id": "C", "assays": None},
            ]
        }
    }
    groups = extract_groups(fastqe_inputs(expect={"reads": None}), data)
    assert [g.id for g in groups.groups] == ["A", "C"]
    assert groups.groups[0].reads[0].location == "gs://b/a.fq" and groups.groups[0].reads[0].size == 12
    assert groups.groups[1].reads == () and groups.groups[1].total_read_bytes == 0
    reasons = {r.group_id: r.reason for r in groups.rejections}
    assert "read 1 has no location" in reasons["B"]
    assert "no usable id" in reasons["#4"]


def test_two_different_entries_with_one_id_are_an_error_naming_the_id():
    data = {"project": {"sequencingGroups": [{"id": "A", "assays": []}, {"id": "B", "assays": []},
                                             {"id": "A", "assays": [{"meta": {"reads": []}}]}]}}
    with pytest.raises(MetadataError, match=r"gives the same id to different entries of `project.sequencingGroups` \(A\)"):
        extract_groups(fastqe_inputs(expect={"reads": None}), data)


def test_groups_expression_that_finds_nothing_is_a_metadata_error():
    with pytest.raises(MetadataError, match="found nothing"):
        extract_groups(fastqe_inputs(groups="sequencingGroups"), {"project": {"sequencingGroups": []}})


def test_local_reads_missing_on_this_machine_reject_their_group(tmp_path):
    from toolkit.pipeline import check_read_locations
    from toolkit.query.groups import Group, GroupSet, Read

    present = tmp_path / "a.fq.gz"
    present.write_bytes(b"x")
    groups = GroupSet((
        Group("OK1", (Read(str(present)), Read("gs://bucket/remote.fq.gz"))),
        Group("GONE", (Read(str(tmp_path / "moved.fq.gz")), Read(f"file://{tmp_path}/also-moved.fq.gz"))),
    ))
    checked = check_read_locations(groups, fatal=False, roots=(tmp_path,))
    assert [g.id for g in checked.groups] == ["OK1"]
    (rejection,) = checked.rejections
    assert rejection.group_id == "GONE" and "moved.fq.gz (and 1 more)" in rejection.reason and not rejection.fatal


def test_read_locations_a_job_could_not_or_must_not_read_are_refused_per_group(tmp_path):
    from toolkit.pipeline import read_location_problem

    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "r.fq").write_bytes(b"x")
    (allowed / "sub").mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (allowed / "link.fq").symlink_to(secret)  # inside the folder, pointing out of it
    roots = (allowed,)

    def problem(location, local_backend=True):
        return read_location_problem(location, local_backend=local_backend, roots=roots)

    assert problem(str(allowed / "r.fq")) is None and problem(f"file://{allowed}/r.fq") is None
    assert problem("gs://bucket/r.fq") is None and problem("gs://bucket/r.fq", local_backend=False) is None
    assert "http:// locations are not supported" in problem("http://example.org/r.fq")
    assert "https:// locations are not supported" in problem("https://example.org/r.fq")
    assert "s3:// locations are not supported" in problem("s3://bucket/r.fq")
    assert "outside the folders" in problem("file:///etc/passwd")
    assert "outside the folders" in problem(str(secret))
    assert "outside the folders" in problem(str(allowed / "link.fq"))
    assert "outside the folders" in problem(f"{allowed}/../secret.txt")
    assert "not an absolute path" in problem("~/.ssh/id_rsa") and "not an absolute path" in problem("r.fq")
    assert "not a regular file" in problem(str(allowed / "sub"))
    assert "not found" in problem(str(allowed / "gone.fq"))
    assert "control character" in problem(str(allowed / "r.fq\nx")) and "control character" in problem("gs://b/\x00")
    assert "Hail Batch service cannot read" in problem(str(allowed / "r.fq"), local_backend=False)
    # gs:// reads name one object of a real bucket
    for location in ("gs://bkt/x/..", "gs://bucket/dir/", "gs://bucket/a//b.fq", "gs://bucket/./r.fq", "gs://bucket"):
        assert "does not name one GCS object" in problem(location), location
    for location in ("gs:///x.fq", "gs://Bucket/x.fq", "gs://b/x.fq", "gs://-b-/x.fq"):
        assert "does not name a GCS bucket" in problem(location), location


from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(["gs://", "GS://", "gs:/", "a", "b1", ".", "..", "/", "//", "-", "_", "\x00", "\n",
                                 "\x7f", "\x85", "\u2028", "\u00e9", "x" * 220, "A", " ", "file://", "/tmp/"]),
                max_size=7).map("".join),
       st.booleans())
@example("gs://cpg-bucket/reads/R1.fastq.gz", True)
@example("gs://cpg-bucket/reads/../R1.fastq.gz", True)
@example("gs://Bucket/R1.fastq.gz", False)
def test_plain_gcs_read_shortcut_says_what_the_rules_say(location, local_backend):
    """The one-regex check of ordinary gs:// reads accepts exactly what the full rules accept."""
    from toolkit import pipeline

    roots = (Path("/tmp"),)
    full_rules = pipeline._read_location_rules(location, local_backend=local_backend, roots=roots)
    assert pipeline.read_location_problem(location, local_backend=local_backend, roots=roots) == full_rules
    if pipeline._PLAIN_GCS_READ.fullmatch(location):
        assert full_rules is None
