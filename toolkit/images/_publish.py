"""``toolkit publish``: build, test, refuse to overwrite a tag with other content, push, lock the digest."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from toolkit.errors import ImageError
from toolkit.images._build import build_image
from toolkit.images._content import CONTENT_KEY_LABEL, build_inputs, content_key
from toolkit.images._engine import docker_client
from toolkit.images._lock import Lock, lock_path, read_lock, write_lock
from toolkit.images._names import resolve_registry, tagged_reference
from toolkit.images._registry import RegistryClient

Echo = Callable[[str], None]
_TAG_NUMBER = re.compile(r"^(?P<version>.+)-(?P<number>[0-9]+)$")


def split_tag(tag: str) -> tuple[str, int]:
    """'0.3.1-2' -> ('0.3.1', 2). The spec schema guarantees the -N suffix."""
    match = _TAG_NUMBER.match(tag)
    if not match:
        raise ImageError(f"tag {tag!r} does not follow <VERSION>-<N>")
    return match["version"], int(match["number"])


def next_tag(tag: str, existing: list[str]) -> str:
    """The next free <VERSION>-<N> after every tag of the same VERSION in ``existing`` (and after ``tag``)."""
    version, number = split_tag(tag)
    numbers = [number]
    for other in existing:
        match = _TAG_NUMBER.match(other)
        if match and match["version"] == version:
            numbers.append(int(match["number"]))
    return f"{version}-{max(numbers) + 1}"


def _same_version_tags(tag: str, existing: list[str]) -> list[str]:
    version, _ = split_tag(tag)
    found = [t for t in existing if (m := _TAG_NUMBER.match(t)) and m["version"] == version]
    return sorted(found, key=lambda t: split_tag(t)[1])


def _choose_tag(registry: RegistryClient, name: str, tag: str, key: str, bump: bool, echo: Echo) -> tuple[str, bool]:
    """(tag to publish, already published with this content?)"""
    existing = registry.tags(name)
    if tag not in existing:
        return tag, False
    remote_key = (registry.labels(name, tag) or {}).get(CONTENT_KEY_LABEL)
    if remote_key == key:
        return tag, True
    described = f"content key {remote_key}" if remote_key else "no content key (pushed by something else)"
    if not bump:
        raise ImageError(
            f"{registry.registry}/{name}:{tag} already exists with other content ({described}; ours is {key})",
            hint="tags are never overwritten: rerun with --bump to publish as the next <VERSION>-<N>",
        )
    for candidate in _same_version_tags(tag, existing):
        if (registry.labels(name, candidate) or {}).get(CONTENT_KEY_LABEL) == key:
            echo(f"{name}:{candidate} already holds this content (content key {key})")
            return candidate, True
    bumped = next_tag(tag, existing)
    echo(f"{name}:{tag} is taken by other content; publishing as {name}:{bumped}")
    return bumped, False


def _push(reference_repository: str, tag: str, echo: Echo) -> str:
    from docker.errors import APIError

    client = docker_client()
    digest = None
    try:
        stream = client.api.push(reference_repository, tag=tag, stream=True, decode=True)
        for chunk in stream:
            if "error" in chunk or "errorDetail" in chunk:
                message = chunk.get("error") or chunk.get("errorDetail", {}).get("message", "unknown error")
                raise ImageError(f"push of {reference_repository}:{tag} failed: {message.strip()}")
            if "aux" in chunk and "Digest" in chunk["aux"]:
                digest = chunk["aux"]["Digest"]
            status = chunk.get("status")
            # Byte-count progress is noise in a log: print each layer's state changes only.
            if status and not chunk.get("progressDetail"):
                layer = chunk.get("id")
                echo(f"  {layer}: {status}" if layer else f"  {status}")
    except APIError as error:
        raise ImageError(f"push of {reference_repository}:{tag} refused: {error.explanation or error}") from None
    finally:
        client.close()
    if not digest:
        raise ImageError(f"push of {reference_repository}:{tag} ended without a digest from the engine")
    return digest


def _retag_spec(spec_path: Path, old: str, new: str) -> bool:
    """Rewrite ``tag: old`` to ``tag: new`` in the spec, only when that line is unambiguous."""
    text = spec_path.read_text()
    pattern = re.compile(rf"^(\s*tag:\s*)(['\"]?){re.escape(old)}\2(\s*(?:#.*)?)$", re.MULTILINE)
    if len(pattern.findall(text)) != 1:
        return False
    spec_path.write_text(pattern.sub(lambda m: f"{m[1]}{m[2]}{new}{m[2]}{m[3]}", text))
    return True


def _same_pin(a: Lock, b: Lock) -> bool:
    return (a.image, a.tag, a.registry, a.digest, a.content_key) == (b.image, b.tag, b.registry, b.digest, b.content_key)


def publish_image(
    loaded_spec,
    *,
    test_image: Callable[[str], bool] | None,
    registry: str | None = None,
    bump: bool = False,
    echo: Echo = print,
) -> Lock:
    """Build, test, push and lock the spec's image. Nothing is pushed unless every earlier step succeeded.

    ``test_image(reference)`` runs the spec's tests in the built image and says whether they passed
    (``toolkit.spectests.image_tests``: the spec tests run the pipeline, which sits above this package);
    ``None`` skips them (``--skip-tests``). It has no default, so that no caller skips them by omission.
    """
    spec_path = Path(loaded_spec.path)
    image = loaded_spec.model.image
    registry_name = resolve_registry(registry)
    client = RegistryClient(registry_name)
    client.ping()  # before a long build: an unreachable registry is reported first

    key = content_key(build_inputs(spec_path, image))
    tag, published = _choose_tag(client, image.name, image.tag, key, bump, echo)
    if published:
        digest = client.manifest_digest(image.name, tag)
        echo(f"{registry_name}/{image.name}:{tag} is already published with this content ({digest})")
    else:
        built = build_image(spec_path, image, registry_name, echo=echo, tag=tag)
        if test_image is None:
            echo("spec tests skipped (--skip-tests)")
        elif not test_image(built.reference):
            raise ImageError(f"spec tests failed in {built.reference}; nothing pushed")
        repository = f"{registry_name}/{image.name}"
        echo(f"pushing {tagged_reference(registry_name, image.name, tag)}")
        pushed_digest = _push(repository, tag, echo)
        digest = client.manifest_digest(image.name, tag)
        if digest != pushed_digest:
            raise ImageError(
                f"the registry serves {digest} for {repository}:{tag}, but the engine pushed {pushed_digest}"
            )
    previous = read_lock(spec_path)
    lock = Lock(
        image=image.name,
        tag=tag,
        registry=registry_name,
        digest=digest,
        content_key=key,
        pushed_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    if previous is not None and _same_pin(previous, lock):
        lock = previous  # unchanged: keep the file (and its pushed_at) as committed
        echo(f"lock {lock_path(spec_path)} already pins {lock.reference}")
    else:
        path = write_lock(spec_path, lock)
        echo(f"locked {lock.reference} in {path}")
    if tag != image.tag:
        if _retag_spec(spec_path, image.tag, tag):
            echo(f"updated image.tag in {spec_path.name}: {image.tag} -> {tag}")
        else:
            echo(f"warning: set image.tag to {tag} in {spec_path} (could not update it unambiguously)")
    return lock


__all__ = ["publish_image", "next_tag", "split_tag", "lock_path"]
