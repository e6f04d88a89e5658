"""toolkit.plan.spool: a plan whose jobs went to a spool writes the same document as one that kept them."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.plan import make_plan
from toolkit.spec import load_spec
from toolkit.plan.model import Action
from toolkit.plan.spool import JobSpool
from toolkit.query.groups import Group, GroupSet, Read, Rejection

from tests.cli.test_emit_json import emitted
from tests.plan.test_plan import REPO, context, two_reads

GIB = 1024**3


@pytest.fixture(scope="module")
def fastqe():
    return load_spec(REPO / "jobspecs" / "fastqe.yaml")


def spooled_plan(spec, groups, ctx):
    spool = JobSpool()
    plan = make_plan(spec, groups, ctx, keep=spool.add_job)
    plan.spool = spool
    return plan


def groups_with(count: int) -> GroupSet:
    odd = Group(id="CPGODD", reads=(Read("gs://bucket/é \"quoted\" \\ R1.fq.gz", 2**70), Read("gs://bucket/R2.fq.gz", 1)),
                fields={"sample": "line\nbreak", "sequencing_type": "genome"})
    return GroupSet(tuple(two_reads(f"CPGAA{index}", None if index % 2 else GIB) for index in range(count)) + (odd,),
                    (Rejection("CPGBAD", "expected 2 reads, found 4"),))


def test_a_spooled_plan_writes_the_same_bytes_as_a_kept_one(fastqe, tmp_path):
    """Counts, estimate, jobs (with metadata that needs escaping, an integer past 64 bits), skips, warnings."""
    (tmp_path / "web" / "fastqe").mkdir(parents=True)
    (tmp_path / "web" / "fastqe" / "CPGAA3.html").write_text("an earlier run's")
    ctx = context(tmp_path, output_exists=lambda destination: destination.endswith("CPGAA3.html"))
    kept = make_plan(fastqe.model, groups_with(12), ctx)
    spooled = spooled_plan(fastqe.model, groups_with(12), ctx)
    assert spooled.jobs == [] and len(spooled.spool) == len(kept.jobs) == 13
    assert {action: spooled.count(action) for action in Action} == {action: kept.count(action) for action in Action}
    assert emitted(spooled.to_dict(lazy_jobs=True)) == emitted(kept.to_dict(lazy_jobs=True))
    assert spooled.to_dict() == json.loads(json.dumps(kept.to_dict(), default=str))
    # inside a document of several plans (`toolkit plan A.yaml B.yaml --format json`), one level deeper
    spooled_again = spooled_plan(fastqe.model, groups_with(3), ctx)
    kept_again = make_plan(fastqe.model, groups_with(3), ctx)
    assert (emitted({"plans": [spooled.to_dict(lazy_jobs=True), spooled_again.to_dict(lazy_jobs=True)]})
            == emitted({"plans": [kept.to_dict(lazy_jobs=True), kept_again.to_dict(lazy_jobs=True)]}))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(st.text(max_size=6), st.text() | st.integers(-2**70, 2**70) | st.none(), max_size=4),
                max_size=5))
def test_records_come_back_in_order_as_written(records):
    spool = JobSpool()
    for record in records:
        spool.add("run", record)
    assert list(spool.records(decoded=True)) == records
    assert emitted({"jobs": spool.records()}) == json.dumps({"jobs": records}, indent=2, ensure_ascii=False) + "\n"
    assert len(spool) == spool.counts["run"] == len(records)
    spool.close()
