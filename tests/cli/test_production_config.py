"""Dry-run form of a production run: an analysis-runner-style cpg-utils config (Hail Batch service, gs://
buckets, the CPG web URL). The Batch service and GCS cannot be reached here, so `toolkit plan` shows what would
be submitted; Metamist is the embedded server, pointed at with `[toolkit] metamist_url`, and GCS existence
checks read a local mirror (`[toolkit] gcs_mirror`): both clearly named stand-ins.
"""

from __future__ import annotations

import json

import subprocess
import sys
import time
import urllib.request

import pytest

from tests.cli.seed import load, participant
from tests.conftest import REPO

CONFIG = """
[workflow]
dataset = "sandbox"
access_level = "test"
output_prefix = "fastqe/v1"
driver_image = "australia-southeast1-docker.pkg.dev/analysis-runner/images/driver:latest"

[hail]
backend = "batch"
billing_project = "sandbox"

[storage.default]
default = "gs://cpg-sandbox-test"
web = "gs://cpg-sandbox-test-web"
analysis = "gs://cpg-sandbox-test-analysis"
tmp = "gs://cpg-sandbox-test-tmp"
web_url = "https://test-web.populationgenomics.org.au/sandbox"

[toolkit]
metamist_url = "{metamist}"
gcs_mirror = "{mirror}"
"""


@pytest.fixture
def metamist_stand_in(toolkit):
    """The embedded server, run on its own (as `toolkit metadata serve`), standing in for Metamist."""
    server = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "metadata", "serve", "--port", str(toolkit.port)],
        env=toolkit.env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{toolkit.url}/api/v1/project/", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    else:
        server.kill()
        raise AssertionError(server.stdout.read())
    yield toolkit.url
    server.terminate()
    server.wait(timeout=30)


def test_plan_under_an_analysis_runner_config_targets_the_service_and_the_buckets(toolkit, metamist_stand_in, tmp_path):
    # Samples whose reads are in GCS, next to the demo's (local files, which the Batch service cannot read).
    reads = [f"gs://cpg-sandbox-test-upload/{sample}_R{end}.fastq.gz" for sample in ("PROD1", "PROD2") for end in (1, 2)]
    load(toolkit, tmp_path, "sandbox-test", [participant("PROD1", reads=reads[:2]), participant("PROD2", reads=reads[2:])])
    mirror = tmp_path / "gcs"
    mirror.mkdir()
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(metamist=metamist_stand_in, mirror=mirror))

    def plan_jobs():
        plan = toolkit.json("plan", "jobspecs/fastqe.yaml", "--format", "json", extra_env={"CPG_CONFIG_PATH": str(config)})
        assert plan["execution"] == "service" and plan["project"] == "sandbox-test"
        assert plan["image"].startswith("australia-southeast1-docker.pkg.dev/cpg-common/images/fastqe")
        return plan, {job["group"]["fields"]["sample"]: job for job in plan["jobs"]}

    plan, jobs = plan_jobs()
    assert sorted(jobs) == ["PROD1", "PROD2"]
    assert {entry["group"] for entry in plan["skipped"]} == {"CPGLCL17", "CPGLCL25", "CPGLCL33"}
    assert all("the Hail Batch service cannot read" in entry["reason"] for entry in plan["skipped"])
    first, second = jobs["PROD1"]["group"]["id"], jobs["PROD2"]["group"]["id"]

    # One report (and its metrics) already exists in the buckets, written by an earlier run whose driver died
    # before registering (its journal, in the tmp bucket, says so): that group is register-only.
    existing = mirror / "cpg-sandbox-test-web" / "fastqe" / "v1" / "fastqe" / f"{second}.html"
    existing.parent.mkdir(parents=True)
    existing.write_text("<html>earlier run</html>")
    metrics = mirror / "cpg-sandbox-test-analysis" / "fastqe" / "v1" / "fastqe" / f"{second}.json"
    metrics.parent.mkdir(parents=True)
    metrics.write_text('{"reads": 4000}')
    from toolkit.fingerprint import fingerprint

    journal = mirror / "cpg-sandbox-test-tmp" / "fastqe" / "v1" / "toolkit-runs" / "fastqe.jsonl"
    journal.parent.mkdir(parents=True)
    journal.write_text("".join(
        json.dumps({"event": "written", "destination": out["destination"], "job": second,
                    "key": jobs["PROD2"]["reuse_key"], **fingerprint(out["destination"], str(mirror)).record()}) + "\n"
        for out in jobs["PROD2"]["outputs"].values()))
    plan, jobs = plan_jobs()
    report = jobs["PROD1"]["outputs"]["report"]
    assert report["destination"] == f"gs://cpg-sandbox-test-web/fastqe/v1/fastqe/{first}.html"
    assert report["uri"] == report["destination"]
    assert report["display_url"] == f"https://test-web.populationgenomics.org.au/sandbox/fastqe/v1/fastqe/{first}.html"
    assert jobs["PROD1"]["action"] == "run" and jobs["PROD2"]["action"] == "register"
    assert jobs["PROD1"]["registrations"][0]["meta"]["display_url"] == report["display_url"]
