"""`toolkit run jobspecs/fastqc.yaml jobspecs/multiqc.yaml` on the demo project, as the README shows it: real
FastQC and MultiQC, the real CLI, the embedded metadata server over HTTP, Hail's LocalBackend; in the images
(Docker Engine) and on the host. Every registered Analysis is read back through the metamist client."""

from __future__ import annotations

import pytest

from tests.bundled.conftest import (
    DEMO,
    DEMO_READS_PER_FILE,
    FASTQC,
    MULTIQC,
    analyses_of,
    check_fastqc_analyses,
    check_multiqc_analyses,
    load_new_sample,
    local,
    targets,
)

pytestmark = pytest.mark.slow


def plan_of(toolkit, spec, *args, env=None):
    return toolkit.json("plan", spec, "--format", "json", *args, extra_env=env)


@pytest.mark.docker
def test_in_the_images_every_group_gets_fastqc_and_the_project_one_multiqc_report(toolkit, images):
    env = {"TOOLKIT_REGISTRY": images}
    done = toolkit.run("run", FASTQC, MULTIQC, "--execution", "container", extra_env=env)
    assert f"jobs run in the image {images}/fastqc:0.11.9-1" in done.stderr
    assert f"jobs run in the image {images}/multiqc:1.35-2" in done.stderr
    assert "3 succeeded, 0 failed" in done.stderr and "6 Analyses created" in done.stderr
    assert "1 succeeded, 0 failed" in done.stderr and "2 Analyses created" in done.stderr
    assert "Loading config settings from: /opt/multiqc/multiqc_config.yaml" in done.stdout + done.stderr

    check_fastqc_analyses(toolkit, DEMO, dict.fromkeys(DEMO, DEMO_READS_PER_FILE))
    check_multiqc_analyses(toolkit, DEMO)
    for spec, image in (("fastqc", "fastqc:0.11.9-1"), ("multiqc", "multiqc:1.35-2")):
        for analysis in analyses_of(toolkit, spec):
            assert analysis["meta"]["provenance"]["image"] == f"{images}/{image}"

    again = toolkit.run("run", FASTQC, MULTIQC, "--execution", "container", extra_env=env)
    assert "3 already done" in again.stderr and "1 already done" in again.stderr
    assert "Analyses created" not in again.stderr.replace("0 Analyses created", "")


@pytest.mark.host_tools
def test_on_the_host_a_new_group_makes_the_report_due_again_and_a_named_subset_stays_apart(
        toolkit, host_tools, tmp_path):
    done = toolkit.run("run", FASTQC, MULTIQC, "--execution", "host")
    assert "jobs run on the host, as asked (--execution host)" in done.stderr
    assert "3 succeeded, 0 failed" in done.stderr and "1 succeeded, 0 failed" in done.stderr
    check_fastqc_analyses(toolkit, DEMO, dict.fromkeys(DEMO, DEMO_READS_PER_FILE))
    first = check_multiqc_analyses(toolkit, DEMO)

    # One more sample, loaded from a CSV, its reads in a folder the runs may read.
    _, env = load_new_sample(toolkit, tmp_path)
    samples = {**DEMO, "CPGLCL41": "NEW004"}
    before = plan_of(toolkit, MULTIQC, "--execution", "host", env=env)
    assert [(job["action"], job["reason"]) for job in before["jobs"]] == [("done", "already registered (Analysis "
                                                                            f"{first['web']['id']}, {first['qc']['id']})")]
    assert [s["group"] for s in before["skipped"]] == ["CPGLCL41"]
    assert "run the fastqc jobspec first" in before["skipped"][0]["reason"]

    fastqc = toolkit.run("run", FASTQC, "--execution", "host", extra_env=env)
    assert "1 succeeded, 0 failed, 0 skipped, 3 already done" in fastqc.stderr
    zips = check_fastqc_analyses(toolkit, samples, {**dict.fromkeys(DEMO, DEMO_READS_PER_FILE), "CPGLCL41": 50})

    # The new FastQC ZIP is a new input of the project's report: due, and the plan says why.
    (job,) = plan_of(toolkit, MULTIQC, "--execution", "host", env=env)["jobs"]
    assert job["action"] == "run" and job["members"] == sorted(samples)
    assert job["reason"] == f"stale: inputs changed: new input Analysis {zips['CPGLCL41']['id']}"

    rerun = toolkit.run("run", MULTIQC, "--execution", "host", extra_env=env)
    assert "registered report as Analysis" in rerun.stderr
    assert f"(replaces Analysis {first['web']['id']}, now inactive)" in rerun.stderr
    assert f"(replaces Analysis {first['qc']['id']}, now inactive)" in rerun.stderr
    second = check_multiqc_analyses(toolkit, samples)  # the active ones: the new report, over four groups
    assert {a["id"] for a in second.values()}.isdisjoint({a["id"] for a in first.values()})

    # --sgids with a name: a report of its own, next to the project's, which stays active and done.
    narrowed = ("--sgids", "CPGLCL17", "CPGLCL33", "--param", "subset=pilot")
    (job,) = plan_of(toolkit, MULTIQC, "--execution", "host", *narrowed, env=env)["jobs"]
    assert job["action"] == "run" and job["reason"] == "new"
    assert job["outputs"]["report"]["destination"].endswith("/multiqc/sandbox-test/pilot/multiqc_report.html")
    assert [r["sequencing_group_ids"] for r in job["registrations"]] == [["CPGLCL17", "CPGLCL33"]] * 2
    toolkit.run("run", MULTIQC, "--execution", "host", *narrowed, extra_env=env)
    registered = analyses_of(toolkit, "multiqc")
    pilot = [a for a in registered if "/pilot/" in a["output"]]
    assert sorted(a["type"] for a in pilot) == ["qc", "web"]
    assert all(targets(a) == ["CPGLCL17", "CPGLCL33"] for a in pilot)
    page = local(next(a for a in pilot if a["type"] == "web")).read_text(encoding="utf-8")
    assert "CPGLCL17 | DEMO001_R1" in page and "CPGLCL25" not in page
    assert {a["id"] for a in second.values()} <= {a["id"] for a in registered}
    (whole,) = plan_of(toolkit, MULTIQC, "--execution", "host", env=env)["jobs"]
    assert whole["action"] == "done"
