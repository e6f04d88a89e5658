"""Images: build the spec's image, test inside it, publish it, and name it by digest for runs.

Public surface (docker, requests and hail are imported inside the functions, never at import time)::

    engine_status() -> (available, reason)                 fast ping of the engine at $DOCKER_HOST
    image_present(reference) -> bool                       the engine holds it (tag or digest), no pull
    resolve_registry(explicit=None) -> str                 --registry > $TOOLKIT_REGISTRY > config > CPG's
    build_image(spec_path, image_section, registry, echo=print, force=False) -> BuildResult
    publish_image(loaded_spec, test_image=..., registry=None, bump=False, echo=print) -> Lock
                                                           test_image: toolkit.spectests.image_tests(spec), or None
    read_lock(spec_path) -> Lock | None;  lock_path(spec_path) -> Path
    image_reference(loaded_spec, registry=None) -> str     <registry>/<name>@<digest> when locked, else :<tag>
    local_backend_docker_flags() -> str;  docker_memory(size) -> str     for Hail's LocalBackend
    content_key(build_inputs(spec_path, image_section)) -> "sha256:..."
    RegistryClient(registry).tags(name) / .manifest_digest(name, tag) / .labels(name, ref)   Registry API v2
"""

from __future__ import annotations

from toolkit.images._build import BuildResult, build_image
from toolkit.images._content import CONTENT_KEY_LABEL, build_inputs, content_key
from toolkit.images._docker_run import docker_memory, local_backend_docker_flags
from toolkit.images._engine import docker_client, engine_status, image_present
from toolkit.images._lock import Lock, lock_path, read_lock, write_lock
from toolkit.images._names import CPG_REGISTRY, digest_reference, resolve_registry, tagged_reference
from toolkit.images._publish import next_tag, publish_image
from toolkit.images._registry import RegistryClient


def image_reference(loaded_spec, registry: str | None = None) -> str:
    """How a run names the spec's image: by digest when the lock matches the spec's name and tag."""
    image = loaded_spec.model.image
    lock = read_lock(loaded_spec.path)
    if lock is not None and lock.image == image.name and lock.tag == image.tag:
        if registry is None or registry.rstrip("/") == lock.registry:
            return digest_reference(lock.registry, lock.image, lock.digest)
    return tagged_reference(resolve_registry(registry), image.name, image.tag)


__all__ = [
    "BuildResult",
    "CONTENT_KEY_LABEL",
    "CPG_REGISTRY",
    "Lock",
    "RegistryClient",
    "build_image",
    "build_inputs",
    "content_key",
    "docker_client",
    "docker_memory",
    "engine_status",
    "image_present",
    "image_reference",
    "local_backend_docker_flags",
    "lock_path",
    "next_tag",
    "publish_image",
    "read_lock",
    "resolve_registry",
    "write_lock",
]
