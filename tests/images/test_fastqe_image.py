"""The FastQE image for real: build, spec tests inside it, publish, digest check, pull back, demo in containers.

Also the driver image: built from dockerfiles/toolkit/Dockerfile and smoke-tested (`toolkit --version`,
`toolkit plan` against its own embedded server, network off). Needs the engine, the local registry and the
base images (scripts/test.sh starts them); without them these tests skip, and in CI they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture
def fastqe_checkout(tmp_path):
    """A copy of the FastQE spec with its Dockerfile and fixtures, so publishing writes its lock there."""
    root = tmp_path / "checkout"
    shutil.copytree(REPO / "jobspecs", root / "jobspecs")
    shutil.copytree(REPO / "dockerfiles" / "fastqe", root / "dockerfiles" / "fastqe")
    (root / "jobspecs" / "fastqe.lock.json").unlink(missing_ok=True)
    spec = root / "jobspecs" / "fastqe.yaml"
    # An image name of its own: the registry outlives a test run, and "already published" would skip the push.
    name = f"fastqe-test-{uuid.uuid4().hex[:8]}"
    spec.write_text(spec.read_text().replace("  name: fastqe\n", f"  name: {name}\n", 1))
    return spec, name


def test_fastqe_image_published_pulled_back_and_used_by_the_demo_run(toolkit, engine, registry, fastqe_checkout):
    fastqe_checkout, name = fastqe_checkout
    env = {"TOOLKIT_REGISTRY": registry}
    published = toolkit.run("publish", str(fastqe_checkout), extra_env=env)
    assert "PASS tiny-pair" in published.stdout + published.stderr  # spec tests ran inside the image first

    lock = json.loads(fastqe_checkout.with_name("fastqe.lock.json").read_text())
    from toolkit.images import RegistryClient

    assert RegistryClient(registry).manifest_digest(name, lock["tag"]) == lock["digest"]
    by_digest = f"{registry}/{name}@{lock['digest']}"

    # Remove every local copy, then pull it back by digest: the run must use exactly that image.
    for image in engine.images.list(name=f"{registry}/{name}"):
        engine.images.remove(image.id, force=True)
    assert not engine.images.list(name=f"{registry}/{name}")
    engine.images.pull(f"{registry}/{name}", tag=lock["digest"])

    run = toolkit.run("run", str(fastqe_checkout), "--execution", "container", extra_env=env)
    assert f"in the image {by_digest}" in run.stderr
    assert "3 succeeded, 0 failed" in run.stderr
    reports = sorted((toolkit.web_bucket / "toolkit" / "fastqe").glob("*.html"))
    assert len(reports) == 3 and all("😄" in r.read_text(encoding="utf-8") or "😆" in r.read_text(encoding="utf-8") for r in reports)

    listed = toolkit.json("outputs", str(fastqe_checkout), "--format", "json", extra_env=env)["analyses"]
    assert len(listed) == 3 and {a["image"] for a in listed} == {by_digest}

    again = toolkit.run("run", str(fastqe_checkout), "--execution", "container", extra_env=env)
    assert "3 already done" in again.stderr
    for image in engine.images.list(name=f"{registry}/{name}"):
        engine.images.remove(image.id, force=True)


def test_driver_image_runs_the_toolkit_against_its_embedded_server(engine):
    built = subprocess.run(
        [str(REPO / ".ci" / "services" / "driver-image.sh"), "jobspec-toolkit:test"],
        capture_output=True, text=True, timeout=1200, env=os.environ,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    plan = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "-v", f"{REPO}:/repo:ro", "-w", "/repo", "-e", "HOME=/tmp",
         "jobspec-toolkit:test", "toolkit", "plan", "jobspecs/fastqe.yaml", "--execution", "host", "--format", "json"],
        capture_output=True, text=True, timeout=300,
    )
    assert plan.returncode == 0, plan.stderr[-3000:]
    data = json.loads(plan.stdout)
    assert data["project"] == "sandbox-test" and data["summary"]["run"] == 3
