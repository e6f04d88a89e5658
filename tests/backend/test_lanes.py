"""How many jobs a local run runs at a time (toolkit.backend.lanes): sized by the jobs' cpu and memory and
what the machine has, or as asked. Running lanes is tested end to end in tests/cli/test_parallel_lanes.py."""

from __future__ import annotations

import dataclasses

import pytest

from tests.backend.test_build_batch import groups, local_config, plan_for  # noqa: F401 - a fixture
from toolkit.backend.lanes import Capacity, choose_lanes, parse_lanes
from toolkit.errors import UsageError

GIB = 1024 ** 3


@pytest.fixture
def fastqe_plan(tmp_path, local_config):  # noqa: F811 - local_config: the cpg-utils config plans are made in
    return lambda *args, **kwargs: _fastqe_plan(tmp_path, *args, **kwargs)


def _fastqe_plan(tmp_path, jobs: int, cpu: float | None = None, memory_gib: float | None = None):
    """The FastQE spec's plan over ``jobs`` groups (1 cpu, 2 GiB per job), with other requests if given."""
    _, plan = plan_for(tmp_path, "host", groups(tmp_path, jobs))
    for index, job in enumerate(plan.jobs):
        resources = dataclasses.replace(
            job.resources,
            cpu=job.resources.cpu if cpu is None else cpu,
            memory_bytes=job.resources.memory_bytes if memory_gib is None else int(memory_gib * GIB),
        )
        plan.jobs[index] = dataclasses.replace(job, resources=resources)
    return plan


def test_auto_runs_as_many_jobs_as_the_cores_fit(fastqe_plan):
    lanes = choose_lanes(fastqe_plan(24), None, capacity=Capacity(cores=2, memory_bytes=20 * GIB))
    assert lanes.count == 2
    assert lanes.describe() == ("2 at a time (auto: 2 core(s) and 20.0 GiB available on this machine, "
                                "each job asks for 1 cpu and 2.0 GiB)")


def test_auto_runs_fewer_when_the_memory_fits_fewer(fastqe_plan):
    plan = fastqe_plan(24, memory_gib=3)
    assert choose_lanes(plan, None, capacity=Capacity(cores=16, memory_bytes=10 * GIB)).count == 3


def test_a_job_asking_for_more_than_the_machine_has_runs_alone(fastqe_plan):
    plan = fastqe_plan(4, cpu=4)
    lanes = choose_lanes(plan, None, capacity=Capacity(cores=2, memory_bytes=20 * GIB))
    assert lanes.count == 1 and lanes.describe().startswith("one at a time (auto: 2 core(s)")
    plan = fastqe_plan(4, memory_gib=64)
    assert choose_lanes(plan, None, capacity=Capacity(cores=8, memory_bytes=20 * GIB)).count == 1


def test_small_cpu_requests_share_a_core_but_never_more_lanes_than_jobs(fastqe_plan):
    plan = fastqe_plan(24, cpu=0.5, memory_gib=0.5)
    assert choose_lanes(plan, None, capacity=Capacity(cores=2, memory_bytes=20 * GIB)).count == 4
    plan = fastqe_plan(3, cpu=0.25, memory_gib=0.5)
    assert choose_lanes(plan, None, capacity=Capacity(cores=2, memory_bytes=20 * GIB)).count == 3


def test_the_largest_request_of_the_plan_sizes_every_lane(fastqe_plan):
    plan = fastqe_plan(6)
    larger = dataclasses.replace(plan.jobs[3].resources, cpu=3)
    plan.jobs[3] = dataclasses.replace(plan.jobs[3], resources=larger)
    assert choose_lanes(plan, None, capacity=Capacity(cores=6, memory_bytes=64 * GIB)).count == 2


def test_a_number_asked_for_is_used_as_asked_up_to_the_number_of_jobs(fastqe_plan):
    plan = fastqe_plan(3)
    small = Capacity(cores=1, memory_bytes=1 * GIB)
    assert choose_lanes(plan, 2, "--parallel", capacity=small).describe() == "2 at a time (--parallel 2)"
    assert choose_lanes(plan, 8, "--parallel", capacity=small).count == 3
    assert choose_lanes(plan, 1, "--parallel", capacity=small).describe() == "one at a time (--parallel 1)"


@pytest.mark.parametrize("value, expected", [
    (None, None), ("auto", None), ("AUTO", None), (" auto ", None), ("1", 1), (" 3 ", 3), (4, 4),
])
def test_the_setting_is_auto_or_a_whole_number(value, expected):
    assert parse_lanes(value, "[toolkit] local_parallel") == expected


@pytest.mark.parametrize("value", [0, "0", -1, "-2", "two", "", 1.5, "1.5", True, [2]])
def test_anything_else_is_refused_naming_where_it_came_from(value):
    with pytest.raises(UsageError) as refused:
        parse_lanes(value, "[toolkit] local_parallel")
    assert refused.value.message.startswith(f"[toolkit] local_parallel = {value!r}: ")
