"""Image logic that needs no engine: content keys, locks, references, tags, flags, error paths."""

from __future__ import annotations

import json
import time

import pytest

from toolkit.cli import main
from toolkit.errors import EXIT_ENVIRONMENT, EXIT_IMAGE, EXIT_SPEC, ImageError
from toolkit.images import (
    CPG_REGISTRY,
    Lock,
    build_inputs,
    content_key,
    docker_memory,
    engine_status,
    image_reference,
    local_backend_docker_flags,
    lock_path,
    next_tag,
    read_lock,
    resolve_registry,
    write_lock,
)
from toolkit.spec import load_spec


def key_of(spec_path):
    loaded = load_spec(spec_path)
    return content_key(build_inputs(loaded.path, loaded.model.image))


def test_content_key_follows_dockerfile_context_and_build_args(project):
    spec = project()
    first = key_of(spec)
    assert first == key_of(spec), "same inputs, same key"

    tool = spec.parent / "docker" / "tool.sh"
    tool.write_text(tool.read_text() + "echo changed\n")
    after_context = key_of(spec)
    assert after_context != first

    spec.write_text(spec.read_text().replace("{GREETING: hello}", "{GREETING: bonjour}"))
    after_arg = key_of(spec)
    assert after_arg not in (first, after_context)

    dockerfile = spec.parent / "docker" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "# a comment changes the bytes\n")
    assert key_of(spec) != after_arg


def test_content_key_ignores_dockerignored_files_and_sees_the_executable_bit(project):
    spec = project()
    context = spec.parent / "docker"
    (context / ".dockerignore").write_text("notes/\n")
    (context / "notes").mkdir()
    (context / "notes" / "scratch.txt").write_text("one")
    before = key_of(spec)
    (context / "notes" / "scratch.txt").write_text("two")
    assert key_of(spec) == before, "an ignored file must not change the key"

    (context / "tool.sh").chmod(0o644)
    assert key_of(spec) != before, "the executable bit reaches the image, so it is part of the key"


def test_missing_dockerfile_is_one_positioned_error(project, capsys):
    spec = project()
    (spec.parent / "docker" / "Dockerfile").unlink()
    code = main(["build", str(spec)])
    err = capsys.readouterr().err
    assert code == EXIT_SPEC
    assert "spec.yaml:6:15: error: Dockerfile 'docker/Dockerfile' does not exist" in err
    assert "Traceback" not in err


def test_dockerfile_removed_after_loading_is_an_image_error(project):
    spec = project()
    loaded = load_spec(spec)
    (spec.parent / "docker" / "Dockerfile").unlink()
    with pytest.raises(ImageError, match="image.dockerfile 'docker/Dockerfile': no such file"):
        build_inputs(loaded.path, loaded.model.image)


def test_lock_round_trip_and_reference_by_digest(project):
    spec = project()
    loaded = load_spec(spec)
    assert read_lock(spec) is None
    assert image_reference(loaded, registry="127.0.0.1:5999") == f"127.0.0.1:5999/{project.image_name}:1.0-1"

    digest = "sha256:" + "ab" * 32
    lock = Lock(image=project.image_name, tag="1.0-1", registry="127.0.0.1:5999", digest=digest,
                content_key="sha256:" + "cd" * 32, pushed_at="2025-01-01T00:00:00+00:00")
    path = write_lock(spec, lock)
    assert path == spec.parent / "spec.lock.json" == lock_path(spec)
    assert json.loads(path.read_text())["digest"] == digest
    assert read_lock(spec) == lock
    assert image_reference(loaded) == f"127.0.0.1:5999/{project.image_name}@{digest}"
    # another registry asked for explicitly: the lock does not describe it
    assert image_reference(loaded, registry="example.org/x") == f"example.org/x/{project.image_name}:1.0-1"

    spec.write_text(spec.read_text().replace("tag: 1.0-1", "tag: 1.0-2"))
    assert image_reference(load_spec(spec), registry="r.example") == f"r.example/{project.image_name}:1.0-2", \
        "a lock for another tag must not pin the new tag"


def test_a_damaged_lock_is_reported_not_ignored(project):
    spec = project()
    lock_path(spec).write_text("{\"image\": \"x\"}")
    with pytest.raises(ImageError, match="not a valid lock file"):
        read_lock(spec)


def test_next_tag_counts_only_the_same_version():
    tags = ["0.3.1-1", "0.3.1-3", "0.3.10-7", "0.3.2-9", "latest"]
    assert next_tag("0.3.1-1", tags) == "0.3.1-4"
    assert next_tag("0.4-1", tags) == "0.4-2"
    assert next_tag("0.3.10-1", tags) == "0.3.10-8"


def test_registry_precedence(monkeypatch):
    monkeypatch.delenv("TOOLKIT_REGISTRY", raising=False)
    monkeypatch.delenv("CPG_CONFIG_PATH", raising=False)
    assert resolve_registry() == CPG_REGISTRY == "australia-southeast1-docker.pkg.dev/cpg-common/images"
    monkeypatch.setenv("TOOLKIT_REGISTRY", "127.0.0.1:5000/")
    assert resolve_registry() == "127.0.0.1:5000"
    assert resolve_registry("example.org/team") == "example.org/team"


def test_registry_from_cpg_config(monkeypatch, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[toolkit]\nimage_registry = "registry.example.org/images"\n')
    monkeypatch.delenv("TOOLKIT_REGISTRY", raising=False)
    monkeypatch.setenv("CPG_CONFIG_PATH", str(config))
    import cpg_utils.config

    cpg_utils.config.set_config_paths([str(config)])
    try:
        assert resolve_registry() == "registry.example.org/images"
    finally:
        cpg_utils.config.set_config_paths([])


def test_local_backend_flags_and_memory():
    flags = local_backend_docker_flags()
    assert flags.startswith(" "), "Hail glues the flags straight after --entrypoint=''"
    assert "--rm" in flags.split() and "--network none" in flags
    assert docker_memory("1Gi") == "1073741824"
    assert docker_memory("512M") == "512000000"


def test_engine_status_is_fast_and_says_where_it_looked(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    started = time.monotonic()
    available, reason = engine_status()
    assert not available
    assert "tcp://127.0.0.1:9" in reason
    assert time.monotonic() - started < 5


def test_build_without_engine_exits_4(project, monkeypatch, capsys):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    code = main(["build", str(project())])
    err = capsys.readouterr().err
    assert code == EXIT_ENVIRONMENT
    assert "no Docker Engine at unix:///nonexistent/docker.sock" in err
    assert "Traceback" not in err


def test_publish_to_unreachable_registry_exits_5(project, capsys):
    code = main(["publish", str(project()), "--registry", "127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == EXIT_IMAGE
    assert "registry 127.0.0.1:9 unreachable: Connection refused" in err
