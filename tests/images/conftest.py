"""Fixtures for the image tests.

Tests marked ``docker`` need a Docker Engine ($DOCKER_HOST), the local registry ($REGISTRY, from
``.ci/services/docker-up.sh``) and the base image (``.ci/services/base-image.sh``). Without them they are
skipped with the reason, never passed.
"""

from __future__ import annotations

import os
import shutil
import textwrap
import uuid
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
BASE_IMAGE = os.environ.get("TOOLKIT_TEST_BASE_IMAGE", "python:3.10-slim")

SPEC_TEMPLATE = """\
version: 1
name: imagetest
image:
  name: {name}
  tag: 1.0-1
  dockerfile: docker/Dockerfile
  build_args: {{GREETING: hello}}
inputs:
  query: |
    query Reads($project: String!) {{
      project(name: $project) {{
        sequencingGroups {{ id assays {{ meta }} }}
      }}
    }}
  variables:
    project: {{from: project}}
  groups: project.sequencingGroups
  reads:
    path: assays[].meta.reads[]
    location: location
command: |
  {command}
outputs:
  report:
    path: reports/{{{{ group.id }}}}.txt
{tests}"""

DOCKERFILE = """\
# {name}: a unique line, so that each test's content key (and image) is its own
FROM {base}
ARG GREETING=hi
RUN echo "$GREETING from the image" > /greeting
COPY tool.sh /usr/local/bin/tool.sh
"""

TOOL = """\
#!/bin/bash
# counts FASTQ records of each gzipped file given, then prints the image's greeting
for f in "$@"; do echo "$(basename "$f") $(( $(zcat "$f" | wc -l) / 4 ))"; done
cat /greeting
"""


def write_project(root: Path, name: str, command: str, tests: str = "") -> Path:
    """A spec + Dockerfile + context under ``root``; returns the spec path."""
    (root / "docker").mkdir(parents=True, exist_ok=True)
    (root / "docker" / "Dockerfile").write_text(DOCKERFILE.format(base=BASE_IMAGE, name=name))
    tool = root / "docker" / "tool.sh"
    tool.write_text(TOOL)
    tool.chmod(0o755)
    (root / "fixtures").mkdir(exist_ok=True)
    for fixture in FIXTURES.glob("*.fastq.gz"):
        shutil.copyfile(fixture, root / "fixtures" / fixture.name)
    spec = root / "spec.yaml"
    spec.write_text(SPEC_TEMPLATE.format(name=name, command=command, tests=textwrap.dedent(tests)))
    return spec


@pytest.fixture
def project(tmp_path):
    """Factory: project(command=..., tests=...) -> spec path; the image name is unique per test."""
    name = f"toolkit-test/img-{uuid.uuid4().hex[:10]}"

    def make(command: str = "tool.sh {{ reads }} > {{ outputs.report }}", tests: str = "") -> Path:
        return write_project(tmp_path, name, command, tests)

    make.image_name = name
    return make


@pytest.fixture(scope="session")
def engine():
    from toolkit.images import engine_status

    available, reason = engine_status()
    if not available:
        pytest.skip(f"Docker Engine not reachable: {reason}")
    import docker

    client = docker.from_env()
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.skip(f"base image {BASE_IMAGE} missing in the engine: run .ci/services/base-image.sh CACHE_DIR")
    yield client
    client.close()


@pytest.fixture(scope="session")
def registry(engine):
    address = os.environ.get("REGISTRY")
    if not address:
        pytest.skip("REGISTRY not set: eval \"$(.ci/services/docker-up.sh)\" starts a local registry")
    from toolkit.errors import ImageError
    from toolkit.images._registry import RegistryClient

    try:
        RegistryClient(address).ping()
    except ImageError as error:
        pytest.skip(f"registry {address} not reachable: {error.message}")
    return address


@pytest.fixture
def cleanup_images(engine):
    """Images a test names here are removed afterwards, so runs do not pile up."""
    names: list[str] = []
    yield names
    for image in engine.images.list():
        references = image.tags + image.attrs.get("RepoDigests", [])
        if any(name in reference for reference in references for name in names):
            try:
                engine.images.remove(image.id, force=True)
            except Exception:  # shared with another test's image, or already gone
                pass
