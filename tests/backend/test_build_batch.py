"""build_batch: the Hail batch the toolkit builds from a plan (built, not run: running is tested in tests/cli)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO
from toolkit.plan import PlanContext, make_plan
from toolkit.query.groups import Group, GroupSet, Read


@pytest.fixture
def local_config(tmp_path, monkeypatch):
    from cpg_utils import config as cpg_config

    from toolkit.settings import activate_cpg_config, write_toml, embedded_config

    path = tmp_path / "config.toml"
    write_toml(path, embedded_config(tmp_path, "sandbox-test", "http://127.0.0.1:1/web", "http://127.0.0.1:1"))
    monkeypatch.delenv("HAIL_BATCH_EXTRA_DOCKER_RUN_FLAGS", raising=False)
    yield activate_cpg_config([str(path)])
    cpg_config._config_paths = []
    cpg_config._config = None


def plan_for(tmp_path: Path, execution: str, groups):
    from toolkit.pipeline import display_url_locator, output_locator
    from toolkit.spec import load_spec

    spec = load_spec(REPO / "jobspecs" / "fastqe.yaml")
    context = PlanContext(
        project="sandbox-test", image="registry.local/fastqe@sha256:" + "a" * 64, execution=execution,
        spec_path=str(spec.path), spec_sha256=spec.content_hash,
        output_location=output_locator(), display_url=display_url_locator(),
    )
    return spec, make_plan(spec.model, GroupSet(tuple(groups)), context)


def groups(tmp_path: Path, count: int):
    reads = []
    for number in range(count):
        pair = []
        for end in (1, 2):
            path = tmp_path / f"S{number}_R{end}.fq.gz"
            path.write_bytes(b"x")
            pair.append(Read(str(path), 1))
        reads.append(Group(id=f"CPGLCL{number}", reads=tuple(pair), fields={"sample": f"S{number}", "sequencing_type": "genome"}))
    return reads


def test_one_bash_job_per_group_with_the_plans_resources_image_and_outputs(local_config, tmp_path):
    from toolkit.backend import build_batch

    spec, plan = plan_for(tmp_path, "container", groups(tmp_path, 3))
    batch, jobs = build_batch(spec.model, plan)
    assert len(batch._jobs) == 3 and set(jobs) == {"CPGLCL0", "CPGLCL1", "CPGLCL2"}
    job = jobs["CPGLCL1"]
    assert job._image == plan.image
    assert job._memory == str(2 * 1024**3)  # bytes: Docker CLI refuses `-m 2Gi`
    assert job._storage == "2Gi" and job.attributes["sequencing_group"] == "CPGLCL1"
    written = [path for resource in job._external_outputs for path in resource._output_paths]
    assert sorted(written) == sorted(out.destination for out in plan.jobs[1].outputs.values())
    assert "fastqe-report --html ${BATCH_TMPDIR}" in job._command[0] and "-- ${BATCH_TMPDIR}" in job._command[0]
    import os

    assert os.environ["HAIL_BATCH_EXTRA_DOCKER_RUN_FLAGS"].startswith(" --rm") and "--network none" in os.environ["HAIL_BATCH_EXTRA_DOCKER_RUN_FLAGS"]


def test_batched_inputs_and_outputs_match_hails_own_read_input_and_write_output(local_config, tmp_path):
    """The single-event-loop-pass helpers record exactly what Batch.read_input / write_output would."""
    from cpg_utils.hail_batch import get_batch, reset_batch

    from toolkit.backend import _read_inputs, _write_outputs

    reset_batch()
    batch = get_batch("equivalence")
    locations = [str(tmp_path / "a.fq"), str(tmp_path / "b.fq"), str(tmp_path / "a.fq")]
    ours = _read_inputs(batch, locations)
    theirs = batch.read_input(locations[0])
    assert set(ours) == {locations[0], locations[1]}
    assert ours[locations[0]]._input_path == theirs._input_path
    assert Path(ours[locations[0]]._value).name == Path(theirs._value).name == "a.fq"

    first, second = batch.new_job("one"), batch.new_job("two")
    first.command(f"echo > {first.out}")
    second.command(f"echo > {second.out}")
    batch.write_output(first.out, "relative/out.txt")
    _write_outputs(batch, [(second.out, "relative/out.txt")])
    assert first.out._output_paths == second.out._output_paths == {str(Path("relative/out.txt").resolve())}


class BatchServiceStandIn:
    """Stands in for the Hail Batch service (unreachable here): accepts the submitted batch, numbers its
    jobs as the service does, and reports one of them failed."""

    def __init__(self, failing_group: str):
        self.failing_group = failing_group
        self.submitted = None

    def run(self, batch, **kwargs):
        from types import SimpleNamespace

        self.submitted = batch
        states = []
        for number, job in enumerate(batch._jobs, start=1):
            job._client_job = SimpleNamespace(job_id=number)
            if "sequencing_group" not in job.attributes:  # the version probe: "runs" and writes its answer
                for resource in job._external_outputs:
                    for destination in resource._output_paths:
                        Path(destination).parent.mkdir(parents=True, exist_ok=True)
                        Path(destination).write_text("fastqe, version 0.3.1\n")
                states.append({"job_id": number, "state": "Success"})
                continue
            failed = job.attributes["sequencing_group"] == self.failing_group
            states.append({"job_id": number, "state": "Failed" if failed else "Success"})
        return SimpleNamespace(id=42, jobs=lambda: iter(states))


def test_service_outcomes_are_read_per_job_from_the_service(local_config, tmp_path, monkeypatch):
    from toolkit import backend

    spec, plan = plan_for(tmp_path, "service", groups(tmp_path, 3))
    service = BatchServiceStandIn(failing_group="CPGLCL1")
    real_build = backend.build_batch

    def build_and_route_to_stand_in(*args, **kwargs):
        batch, jobs = real_build(*args, **kwargs)
        monkeypatch.setattr(batch, "run", lambda **kw: service.run(batch, **kw))
        return batch, jobs

    monkeypatch.setattr(backend, "build_batch", build_and_route_to_stand_in)
    result = backend.run_service(spec.model, plan)
    assert result.batch_id == "42"
    assert result.succeeded == ["CPGLCL0", "CPGLCL2"] and result.failed == ["CPGLCL1"]
    tool_jobs = [job for job in service.submitted._jobs if "sequencing_group" in job.attributes]
    assert len(tool_jobs) == 3 and len(service.submitted._jobs) == 4  # N tool jobs + one version probe
    assert all(job._image == plan.image and job._memory == "2Gi" for job in tool_jobs)
    assert result.tool_version == "fastqe, version 0.3.1"


def test_names_hail_sees_are_built_from_a_safe_alphabet_whatever_the_group_id(local_config, tmp_path):
    """Issue 7, item 1: Hail writes the job name into the generated script (`# N: <name>`), and cpg-utils
    puts the sequencing_group attribute into it too."""
    import re

    from toolkit.backend import build_batch

    odd = "Q'$(touch x)`y` \"; ü <b>"
    spec, plan = plan_for(tmp_path, "host", [Group(id=odd, reads=groups(tmp_path, 1)[0].reads, fields={"sample": "S", "sequencing_type": "genome"})])
    batch, jobs = build_batch(spec.model, plan)
    (job,) = jobs.values()
    assert list(jobs) == [odd]  # our own data keeps the raw id
    safe = re.compile(r"[A-Za-z0-9._ -]+")
    assert safe.fullmatch(job.name) and all(safe.fullmatch(value) for value in job.attributes.values())
    assert safe.fullmatch(batch.name)


def test_a_group_whose_command_hail_would_misread_is_left_out_not_the_batch(local_config, tmp_path):
    """A read placeholder followed by a digit from metadata would make Hail splice in another file: that
    group is refused at build time (the plan, with real paths, could not see it); the others are built."""
    from toolkit.backend import build_batch
    from toolkit.spec import load_spec

    text = (REPO / "jobspecs" / "fastqe.yaml").read_text()
    text = text.replace("-- {{ reads[0] }}", "-- {{ reads[0] }}{{ group.sample }}")
    assert "{{ reads[0] }}{{ group.sample }}" in text
    text = text.replace("../dockerfiles", str(REPO / "dockerfiles"))
    spec_path = tmp_path / "suffix.yaml"
    spec_path.write_text(text)
    spec = load_spec(spec_path)
    made = groups(tmp_path, 2)
    made[0] = Group(id=made[0].id, reads=made[0].reads, fields={**made[0].fields, "sample": "7"})
    context = PlanContext(
        project="sandbox-test", image="img", execution="host", spec_path=str(spec_path),
        spec_sha256=spec.content_hash, output_location=lambda suffix, category: str(tmp_path / "out" / suffix),
    )
    plan = make_plan(spec.model, GroupSet(tuple(made)), context)
    assert len(plan.jobs) == 2
    refused: dict[str, str] = {}
    batch, jobs = build_batch(spec.model, plan, refused=refused)
    assert list(jobs) == ["CPGLCL1"] and len(batch._jobs) == 1
    assert list(refused) == ["CPGLCL0"] and "Hail Batch would replace" in refused["CPGLCL0"]



@pytest.mark.parametrize("as_program", [True, False])
def test_the_program_freezes_what_hails_import_made_and_python_callers_keep_their_collector(as_program):
    """In the toolkit program, the ~300,000 objects of Hail's import are frozen once, so that the collector's
    passes during the jobs do not walk them again (about 1 s of the driver's CPU in a 24-job local run); code
    that imported the toolkit keeps its collector as it was. In a fresh process: this one has Hail imported."""
    import subprocess
    import sys

    script = (
        "import gc, sys\n"
        "from toolkit import process\n"
        f"process.AS_PROGRAM = {as_program}\n"
        "from toolkit.backend import _cpg_hail_batch\n"
        "assert 'cpg_utils.hail_batch' not in sys.modules and gc.get_freeze_count() == 0\n"
        "module = _cpg_hail_batch()\n"
        "after = gc.get_freeze_count()\n"
        "assert _cpg_hail_batch() is module and gc.get_freeze_count() == after  # once per process\n"
        "print(after, hasattr(module, 'get_batch'))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    frozen, has_get_batch = done.stdout.split()
    assert has_get_batch == "True"
    assert (int(frozen) > 100_000) if as_program else int(frozen) == 0
