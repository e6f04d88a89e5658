"""`toolkit plan` / `run` / `outputs` end to end: real CLI, embedded server over HTTP, Hail LocalBackend.

Jobs run on the host here (`--execution host`); running them inside the image is tested under tests/images.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, metadata_serving

FASTQE = "jobspecs/fastqe.yaml"
CHECKSUMS = "tests/data/jobspecs/checksums.yaml"
DEMO_GROUPS = ["CPGLCL17", "CPGLCL25", "CPGLCL33"]


def in_own_process(toolkit, body: str, *args: str) -> str:
    """Run ``body`` in a new Python process against the toolkit home's store, served by the embedded server.

    (The toolkit's own server lives only while a toolkit command runs.) ``server``, ``connect`` and ``sys.argv``
    are available to ``body``; its stdout is returned.
    """
    script = (
        "import json, sys\n"
        "from toolkit.metadata_server import start_server, default_db_path\n"
        "from toolkit.metamist_connection import connect, graphql_query, analysis_api\n"
        "with start_server(db_path=default_db_path(), port=0) as server:\n"
        "    connect(server.url, local=True)\n"
        + "".join(f"    {line}\n" for line in body.strip().splitlines())
    )
    done = subprocess.run([sys.executable, "-c", script, *args], env=toolkit.env, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return done.stdout


def analyses_via_graphql(toolkit, project="sandbox-test"):
    """What another Metamist user sees: the project's analyses, through the metamist client's GraphQL."""
    return json.loads(
        in_own_process(
            toolkit,
            "data = graphql_query('query($p: String!) { project(name: $p) { analyses { id type status output "
            "meta sequencingGroups { id } } } }', {'p': sys.argv[1]})\n"
            "print(json.dumps(data['project']['analyses']))",
            project,
        )
    )


def test_plan_json_of_the_demo_lists_every_job_without_running_anything(toolkit):
    plan = toolkit.json("plan", FASTQE, "--format", "json", "--execution", "host")
    assert plan["project"] == "sandbox-test" and plan["execution"] == "host"
    assert plan["summary"] == {"run": 3, "register": 0, "done": 0, "stale": 0, "skipped": 0}
    jobs = {job["group"]["id"]: job for job in plan["jobs"]}
    assert sorted(jobs) == DEMO_GROUPS
    job = jobs["CPGLCL17"]
    assert job["group"]["fields"] == {"sample": "DEMO001", "sequencing_type": "genome"}
    assert [Path(read["location"]).name for read in job["inputs"]] == ["DEMO001_R1.fastq.gz", "DEMO001_R2.fastq.gz"]
    report = job["outputs"]["report"]
    assert report["destination"] == str(toolkit.web_bucket / "toolkit" / "fastqe" / "CPGLCL17.html")
    assert report["display_url"] == f"{toolkit.web_base_url}/cpg-sandbox-test-web/toolkit/fastqe/CPGLCL17.html"
    metrics = job["outputs"]["metrics"]
    assert job["command"] == (
        f"fastqe-report --html {report['destination']} --metrics {metrics['destination']} -- "
        f"{job['inputs'][0]['location']} {job['inputs'][1]['location']}\n"
    )
    assert job["resources"]["storage"] == "2Gi"  # auto: a few hundred kB of reads x 1.2 + the 1Gi floor
    (registration,) = job["registrations"]
    assert registration["type"] == "web" and registration["output_uri"] == "file://" + report["destination"]
    assert registration["meta"]["display_url"] == report["display_url"]
    assert registration["meta"]["provenance"]["jobspec_sha256"] == plan["spec"]["sha256"]
    assert registration["meta"]["jobspec_output"] == "report"
    # the metrics output's declared shape: checked, then recorded as meta.metrics, when registered
    assert job["metrics"] == {"metrics": {"reads": "integer", "bases": "integer", "mean_length": "number",
                                          "mean_quality": "number", "worst_position_quality": "integer"}}
    assert not toolkit.web_bucket.exists(), "plan must not write anything"


@pytest.mark.slow
def test_fastqe_demo_runs_registers_three_reports_and_a_rerun_registers_nothing(toolkit):
    first = toolkit.run("run", FASTQE, "--execution", "host")
    assert "3 succeeded, 0 failed, 0 skipped, 0 already done" in first.stderr
    reports = sorted((toolkit.web_bucket / "toolkit" / "fastqe").glob("*.html"))
    assert [p.stem for p in reports] == DEMO_GROUPS
    for report in reports:
        text = report.read_text(encoding="utf-8")
        assert "<html" in text.lower() and any(emoji in text for emoji in "😄😆😁😀😉")

    listed = toolkit.json("outputs", FASTQE, "--format", "json")["analyses"]
    assert sorted(a["sequencing_groups"][0] for a in listed) == DEMO_GROUPS
    for analysis in listed:
        assert analysis["type"] == "web" and analysis["status"] == "COMPLETED"
        assert analysis["display_url"].startswith(f"{toolkit.web_base_url}/cpg-sandbox-test-web/toolkit/fastqe/")
        assert analysis["output"].startswith("file://")

    seen = analyses_via_graphql(toolkit)
    assert len(seen) == 3 and {a["sequencingGroups"][0]["id"] for a in seen} == set(DEMO_GROUPS)
    assert seen[0]["meta"]["metrics"]["reads"] == 4000  # register.report.metrics: the job's metrics JSON
    assert 20 < seen[0]["meta"]["metrics"]["mean_quality"] < 41
    assert "pkg_resources" not in first.stderr  # FastQE's deprecation warning is silenced in fastqe-report
    provenance = seen[0]["meta"]["provenance"]
    assert provenance["jobspec"] == "fastqe" and provenance["command"].startswith("fastqe-report ")
    assert provenance["tool_version"].startswith("fastqe") and provenance["toolkit_version"]

    again = toolkit.run("run", FASTQE, "--execution", "host")
    assert "0 succeeded, 0 failed, 0 skipped, 3 already done" in again.stderr
    assert "already registered (Analysis" in again.stderr
    assert len(analyses_via_graphql(toolkit)) == 3


@pytest.mark.slow
def test_one_failed_job_is_not_registered_the_others_are_and_the_exit_code_says_so(toolkit):
    failed = toolkit.run("run", CHECKSUMS, "--execution", "host", check=6,
                         extra_env={"CHECKSUMS_FAIL_GROUP": "CPGLCL25"})
    assert "CPGLCL25: job failed" in failed.stderr
    assert "2 succeeded, 1 failed" in failed.stderr
    registered = {a["sequencingGroups"][0]["id"] for a in analyses_via_graphql(toolkit)}
    assert registered == {"CPGLCL17", "CPGLCL33"}
    md5 = toolkit.home / "buckets" / "cpg-sandbox-test-analysis" / "toolkit" / "checksums" / "CPGLCL17.md5"
    assert md5.read_text().split()[1] == "DEMO001_R1.fastq.gz"

    # Rerun with the problem gone: only the failed group runs; the others are already done.
    fixed = toolkit.run("run", CHECKSUMS, "--execution", "host")
    assert "1 succeeded, 0 failed, 0 skipped, 2 already done" in fixed.stderr
    assert len(analyses_via_graphql(toolkit)) == 3


@pytest.mark.slow
def test_an_output_whose_analysis_was_retired_runs_again_instead_of_being_adopted(toolkit):
    toolkit.run("run", CHECKSUMS, "--execution", "host", "--sgids", "CPGLCL17")
    # Someone made the Analysis inactive: the file is still there, but nothing says it is still wanted as it is.
    # (A run killed before registering is adopted from its journal: tests/cli/test_reuse.py.)
    in_own_process(
        toolkit,
        "from metamist.models import AnalysisUpdateModel, AnalysisStatus\n"
        "analysis_api().update_analysis(1, AnalysisUpdateModel(status=AnalysisStatus('completed'), active=False))",
    )
    plan = toolkit.json("plan", CHECKSUMS, "--format", "json", "--execution", "host", "--sgids", "CPGLCL17")
    assert plan["jobs"][0]["action"] == "run"
    assert "no run of this spec recorded writing it" in plan["jobs"][0]["reason"]
    rerun = toolkit.run("run", CHECKSUMS, "--execution", "host", "--sgids", "CPGLCL17")
    assert "1 succeeded, 0 failed, 0 skipped, 0 already done" in rerun.stderr


def test_sgids_that_are_not_in_the_project_are_reported_not_silently_dropped(toolkit):
    plan = toolkit.json("plan", FASTQE, "--format", "json", "--execution", "host", "--sgids", "CPGLCL17,CPGLCL9999995")
    assert [job["group"]["id"] for job in plan["jobs"]] == ["CPGLCL17"]
    assert plan["skipped"][0]["group"] == "CPGLCL9999995" and "not found" in plan["skipped"][0]["reason"]


def test_a_tool_missing_on_the_host_is_one_clear_line_before_anything_is_submitted(toolkit, tmp_path):
    spec = tmp_path / "missing-tool.yaml"
    text = (REPO / CHECKSUMS).read_text().replace('test "${CHECKSUMS_FAIL_GROUP:-}" != {{ group.id }}', "no-such-tool-anywhere {{ group.id }}")
    text = text.replace("../../../dockerfiles", str(REPO / "dockerfiles"))
    spec.write_text(text)
    done = toolkit.run("run", str(spec), "--execution", "host", check=4)
    assert "`no-such-tool-anywhere`" in done.stderr and "not on PATH" in done.stderr
    assert "submitting" not in done.stderr


def test_an_unreachable_metamist_is_one_clear_line(toolkit):
    done = toolkit.run(
        "plan", FASTQE, "--execution", "host", check=3,
        extra_env={"SM_URL": "http://127.0.0.1:9", "SM_ENVIRONMENT": "local"},
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "127.0.0.1:9" in lines[0]


def test_bad_arguments_are_usage_errors(toolkit):
    done = toolkit.run("plan", FASTQE, "--param", "nope=1", check=2)
    assert "declares no such parameter" in done.stderr


@pytest.mark.slow
def test_own_fastqs_with_hostile_names_loaded_from_a_sample_sheet_run_under_their_own_project(toolkit, tmp_path):
    demo = REPO / "toolkit" / "metadata_server" / "demo"
    reads = tmp_path / "my reads"
    reads.mkdir()
    hostile = "a b'; touch pwned #"
    for sample, source in (("S1", "DEMO001"), ("S2", "DEMO002")):
        for end in ("R1", "R2"):
            name = f"{hostile}{sample}_{end}.fastq.gz" if sample == "S1" else f"{sample}_{end}.fastq.gz"
            (reads / name).write_bytes((demo / f"{source}_{end}.fastq.gz").read_bytes())
    sheet = tmp_path / "samples.csv"
    sheet.write_text(
        "project,participant,sample,sequencing_type,read1,read2\n"
        f"mystudy-test,P1,S1,genome,\"my reads/{hostile}S1_R1.fastq.gz\",\"my reads/{hostile}S1_R2.fastq.gz\"\n"
        "mystudy-test,P2,S2,exome,my reads/S2_R1.fastq.gz,my reads/S2_R2.fastq.gz\n"
    )
    loaded = toolkit.run("metadata", "load", str(sheet))
    assert "mystudy-test" in loaded.stdout

    refused = toolkit.run("run", CHECKSUMS, "--project", "mystudy-test", "--execution", "host")
    assert "0 succeeded, 0 failed, 2 skipped" in refused.stderr and "outside the folders local reads" in refused.stderr
    run = toolkit.run(
        "run", CHECKSUMS, "--project", "mystudy-test", "--execution", "host", extra_env={"TOOLKIT_READ_ROOTS": str(reads)}
    )
    assert "2 succeeded, 0 failed" in run.stderr
    results = sorted((toolkit.home / "buckets" / "cpg-mystudy-test-analysis" / "toolkit" / "checksums").glob("*.md5"))
    assert len(results) == 2
    names = {line.split("  ", 1)[1] for result in results for line in result.read_text().splitlines()}
    assert f"{hostile}S1_R1.fastq.gz" in names and "S2_R2.fastq.gz" in names  # one argument each, intact
    assert not list(tmp_path.rglob("pwned")) and not (REPO / "pwned").exists()
    assert {a["sequencingGroups"][0]["id"] for a in analyses_via_graphql(toolkit, "mystudy-test")} == {
        r.stem for r in results
    }


@pytest.mark.slow
def test_force_reruns_and_replaces_the_analysis_keeping_one_active_per_output(toolkit):
    toolkit.run("run", CHECKSUMS, "--execution", "host", "--sgids", "CPGLCL17")
    forced = toolkit.run("run", CHECKSUMS, "--execution", "host", "--sgids", "CPGLCL17", "--force")
    assert "1 succeeded" in forced.stderr and "(replaces Analysis 1, now inactive)" in forced.stderr
    active = analyses_via_graphql(toolkit)
    assert [a["id"] for a in active] == [2]
    every = json.loads(
        in_own_process(
            toolkit,
            "data = graphql_query('{ project(name: \"sandbox-test\") { analyses(active: {in_: [true, false]}) "
            "{ id active status } } }', {})\nprint(json.dumps(data['project']['analyses']))",
        )
    )
    assert {(a["id"], a["active"], a["status"]) for a in every} == {(1, False, "COMPLETED"), (2, True, "COMPLETED")}


@pytest.mark.slow
def test_a_metadata_server_of_another_home_on_the_port_does_not_receive_this_homes_registrations(toolkit, tmp_path):
    """`toolkit metadata serve` of another home holds TOOLKIT_METADATA_PORT: this run still talks to its own store."""
    other_env = {**toolkit.env, "TOOLKIT_HOME": str(tmp_path / "other-home")}
    with metadata_serving(other_env):
        plan = toolkit.json("plan", FASTQE, "--format", "json", "--execution", "host", "--sgids", "CPGLCL17")
        assert plan["jobs"][0]["outputs"]["report"]["display_url"].startswith(f"{toolkit.web_base_url}/")
        toolkit.run("run", CHECKSUMS, "--execution", "host", "--sgids", "CPGLCL17")
    assert [a["sequencingGroups"][0]["id"] for a in analyses_via_graphql(toolkit)] == ["CPGLCL17"]
    other_toolkit = type(toolkit)(home=tmp_path / "other-home", port=toolkit.port, env=other_env)
    assert analyses_via_graphql(other_toolkit) == []
