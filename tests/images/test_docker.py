"""Build, spec-test, publish and pull real images on a real engine and registry (``.ci/services``)."""

from __future__ import annotations

import json
import subprocess

import pytest

from toolkit.cli import main
from toolkit.errors import EXIT_IMAGE
from toolkit.images import (
    CONTENT_KEY_LABEL,
    build_image,
    docker_memory,
    image_reference,
    local_backend_docker_flags,
    publish_image,
    read_lock,
)
from toolkit.images._registry import RegistryClient
from toolkit.spec import load_spec
from toolkit.spectests import image_tests, run_spec_tests

pytestmark = pytest.mark.docker

PASSING_TESTS = """\
tests:
  - name: counts-reads
    group: {id: CPGTEST1, reads: [fixtures/tiny_R1.fastq.gz, fixtures/tiny_R2.fastq.gz]}
    expect:
      report: {contains: ["tiny_R1.fastq.gz 8", "hello from the image"], lines: 3, matches: ['^tiny_R2\\.fastq\\.gz 8$']}
"""

FAILING_TESTS = """\
tests:
  - name: wrong-count
    group: {id: CPGTEST1, reads: [fixtures/tiny_R1.fastq.gz, fixtures/tiny_R2.fastq.gz]}
    expect:
      report: {contains: ["tiny_R1.fastq.gz 9"]}
"""


def test_build_then_content_key_hit(project, engine, cleanup_images):
    spec = project()
    cleanup_images.append(project.image_name)
    loaded = load_spec(spec)
    lines: list[str] = []
    first = build_image(loaded.path, loaded.model.image, "127.0.0.1:1", echo=lines.append)
    assert first.built
    assert any(line.startswith("Step 3/") and "RUN" in line for line in lines), "progress is streamed"
    image = engine.images.get(first.reference)
    assert image.labels[CONTENT_KEY_LABEL] == first.content_key

    lines.clear()
    second = build_image(loaded.path, loaded.model.image, "127.0.0.1:1", echo=lines.append)
    assert not second.built
    assert second.image_id == first.image_id
    assert lines == [f"{first.reference}: up to date (content key {first.content_key})"]

    output = engine.containers.run(first.reference, ["cat", "/greeting"], remove=True, network_mode="none")
    assert output.decode().strip() == "hello from the image", "the build arg reached the build"


def test_failing_step_shows_the_step_and_its_output(project, engine, cleanup_images, capsys):
    spec = project()
    cleanup_images.append(project.image_name)
    dockerfile = spec.parent / "docker" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "RUN echo about to fail && ls /no/such/dir\n")
    code = main(["build", str(spec), "--registry", "127.0.0.1:1"])
    err = capsys.readouterr().err
    assert code == EXIT_IMAGE
    message = err[err.index("error:"):]
    assert "build failed at Step 5/6 : RUN echo about to fail && ls /no/such/dir" in message
    assert "| about to fail" in message and "No such file or directory" in message
    assert "returned a non-zero code: 2" in message
    assert "Traceback" not in err


def test_spec_tests_run_inside_the_image(project, engine, cleanup_images):
    cleanup_images.append(project.image_name)
    spec = project(tests=PASSING_TESTS)
    loaded = load_spec(spec)
    built = build_image(loaded.path, loaded.model.image, "127.0.0.1:1", echo=lambda line: None)
    lines: list[str] = []
    assert run_spec_tests(loaded, built.reference, echo=lines.append) is True
    assert lines[-1] == "1 of 1 spec test passed"

    # on the host there is no /greeting and no tool.sh: the same test must fail there, proving where it ran
    host_lines: list[str] = []
    assert run_spec_tests(loaded, None, host=True, echo=host_lines.append) is False
    assert "  FAIL counts-reads" in host_lines


def test_publish_pins_the_registry_digest_and_pulls_back(project, engine, registry, cleanup_images):
    cleanup_images.append(f"{registry}/{project.image_name}")
    spec = project(tests=PASSING_TESTS)
    loaded = load_spec(spec)
    lock = publish_image(loaded, registry=registry, test_image=image_tests(loaded, echo=lambda line: None),
                         echo=lambda line: None)

    client = RegistryClient(registry)
    assert client.tags(project.image_name) == ["1.0-1"]
    assert lock.digest == client.manifest_digest(project.image_name, "1.0-1")
    assert read_lock(spec) == lock
    assert json.loads((spec.parent / "spec.lock.json").read_text())["digest"] == lock.digest
    reference = image_reference(load_spec(spec))
    assert reference == f"{registry}/{project.image_name}@{lock.digest}"

    for tag in engine.images.get(f"{registry}/{project.image_name}:1.0-1").tags:
        engine.images.remove(tag, force=True)
    repository, digest = reference.split("@")
    pulled = engine.images.pull(repository, tag=digest)
    assert pulled.labels[CONTENT_KEY_LABEL] == lock.content_key
    output = engine.containers.run(reference, ["/usr/local/bin/tool.sh"], remove=True, network_mode="none")
    assert output.decode().strip() == "hello from the image"

    loaded = load_spec(spec)
    again = publish_image(loaded, registry=registry, test_image=image_tests(loaded, echo=lambda line: None),
                          echo=lambda line: None)
    assert again == lock, "same content: nothing pushed, lock unchanged"


def test_taken_tag_is_refused_then_bumped(project, engine, registry, cleanup_images, capsys):
    cleanup_images.append(f"{registry}/{project.image_name}")
    spec = project()
    loaded = load_spec(spec)
    first = publish_image(loaded, registry=registry, test_image=image_tests(loaded, echo=lambda line: None),
                          echo=lambda line: None)

    tool = spec.parent / "docker" / "tool.sh"
    tool.write_text(tool.read_text() + "echo version two\n")
    code = main(["publish", str(spec), "--registry", registry])
    err = capsys.readouterr().err
    assert code == EXIT_IMAGE
    assert f"{registry}/{project.image_name}:1.0-1 already exists with other content" in err
    assert "--bump" in err
    client = RegistryClient(registry)
    assert client.tags(project.image_name) == ["1.0-1"]
    assert client.manifest_digest(project.image_name, "1.0-1") == first.digest, "the tag was not overwritten"
    assert read_lock(spec) == first

    code = main(["publish", str(spec), "--registry", registry, "--bump"])
    out = capsys.readouterr().out
    assert code == 0
    bumped = read_lock(spec)
    assert bumped.tag == "1.0-2" and bumped.digest != first.digest
    assert out.strip() == f"{registry}/{project.image_name}:1.0-2 {bumped.digest}"
    assert sorted(client.tags(project.image_name)) == ["1.0-1", "1.0-2"]
    assert client.manifest_digest(project.image_name, "1.0-2") == bumped.digest
    assert "tag: 1.0-2" in spec.read_text(), "the spec follows the published tag"
    assert image_reference(load_spec(spec)) == f"{registry}/{project.image_name}@{bumped.digest}"


def test_failing_spec_tests_block_the_push(project, engine, registry, cleanup_images, capsys):
    cleanup_images.append(f"{registry}/{project.image_name}")
    spec = project(tests=FAILING_TESTS)
    code = main(["publish", str(spec), "--registry", registry])
    captured = capsys.readouterr()
    assert code == EXIT_IMAGE
    assert "FAIL wrong-count" in captured.err
    assert "output report: does not contain 'tiny_R1.fastq.gz 9'" in captured.err
    assert "spec tests failed" in captured.err and "nothing pushed" in captured.err
    assert RegistryClient(registry).tags(project.image_name) == []
    assert read_lock(spec) is None


def test_docker_run_accepts_the_local_backend_flags(project, engine, cleanup_images):
    """What Hail's LocalBackend will execute: our flags plus -m in bytes, network really off."""
    cleanup_images.append(project.image_name)
    loaded = load_spec(project())
    built = build_image(loaded.path, loaded.model.image, "127.0.0.1:1", echo=lambda line: None)
    command = (
        "docker run --entrypoint=''" + local_backend_docker_flags()
        + f" -m {docker_memory('512Mi')} --cpus=1 {built.reference} /bin/bash -c "
        + "'cat /greeting; cat /sys/class/net/*/operstate | sort | tr \"\\n\" \" \"; ls /sys/class/net'"
    )
    result = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "hello from the image" in result.stdout
    assert result.stdout.split()[-1] == "lo", "only the loopback interface: the job has no network"
    assert not engine.containers.list(all=True, filters={"ancestor": built.reference}), "--rm left nothing"


def test_image_present_by_tag_and_digest(project, engine, registry, cleanup_images):
    from toolkit.images import image_present

    cleanup_images.append(f"{registry}/{project.image_name}")
    spec = project()
    lock = publish_image(load_spec(spec), registry=registry, test_image=None, echo=lambda line: None)
    assert image_present(f"{registry}/{project.image_name}:1.0-1")
    assert image_present(lock.reference)
    assert not image_present(f"{registry}/{project.image_name}:9.9-9")
