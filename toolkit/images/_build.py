"""``toolkit build``: build the spec's image through the docker SDK, skipping it when the content key matches."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from toolkit.errors import ImageError
from toolkit.images._content import CONTENT_KEY_LABEL, BuildInputs, build_inputs, content_key
from toolkit.images._engine import docker_client
from toolkit.images._names import tagged_reference

STEP_LINE = re.compile(r"^Step \d+/\d+ : ")
# The classic builder colours a RUN step's stderr; logs and terminals alike read better without it.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
# Keep the end of a failing step's output: enough to see the error, not a whole pip log.
FAILED_STEP_TAIL_LINES = 40

Echo = Callable[[str], None]


@dataclass(frozen=True)
class BuildResult:
    reference: str  # <registry>/<name>:<tag>
    image_id: str
    content_key: str
    built: bool  # False: an image with this content key already existed


def _existing_image(client, reference: str, key: str):
    """The image for ``reference`` if it carries ``key``; else any image with ``key`` (to re-tag); else None."""
    from docker.errors import ImageNotFound

    try:
        image = client.images.get(reference)
        if image.labels.get(CONTENT_KEY_LABEL) == key:
            return image
    except ImageNotFound:
        pass
    matches = client.images.list(filters={"label": f"{CONTENT_KEY_LABEL}={key}"})
    return matches[0] if matches else None


class _StepLog:
    """Remembers the current step and its output, so that a failure can show exactly those."""

    def __init__(self):
        self.step = "(before the first step)"
        self.output: list[str] = []

    def feed(self, line: str) -> None:
        if STEP_LINE.match(line):
            self.step = line
            self.output = []
        else:
            self.output.append(line)

    def failure_text(self, error: str) -> str:
        tail = [line for line in self.output if line.strip()][-FAILED_STEP_TAIL_LINES:]
        body = "\n".join("  | " + line for line in tail)
        return f"build failed at {self.step}\n{body}\n  {error}" if body else f"build failed at {self.step}\n  {error}"


def _stream_build(client, inputs: BuildInputs, reference: str, key: str, echo: Echo, no_cache: bool) -> str:
    from docker.errors import APIError

    dockerfile_arg = inputs.dockerfile_in_context or str(inputs.dockerfile)
    steps = _StepLog()
    image_id = None
    try:
        stream = client.api.build(
            path=str(inputs.context),
            dockerfile=dockerfile_arg,
            tag=reference,
            buildargs=inputs.build_args,
            labels={CONTENT_KEY_LABEL: key},
            # No bridge network on these engines (and none needed): without host networking RUN has no DNS.
            network_mode="host",
            rm=True,
            forcerm=True,
            nocache=no_cache,
            decode=True,
        )
        for chunk in stream:
            if "error" in chunk or "errorDetail" in chunk:
                message = chunk.get("error") or chunk.get("errorDetail", {}).get("message", "unknown error")
                raise ImageError(steps.failure_text(message.strip()))
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
            text = chunk.get("stream")
            if text:
                for line in ANSI_ESCAPE.sub("", text).rstrip("\n").split("\n"):
                    if line.strip():
                        steps.feed(line)
                        echo(line)
    except APIError as error:
        raise ImageError(f"build of {reference} refused by the engine: {error.explanation or error}") from None
    if image_id is None:
        image_id = client.images.get(reference).id
    return image_id


def build_image(
    spec_path: Path,
    image,
    registry: str,
    echo: Echo = print,
    force: bool = False,
    tag: str | None = None,
    no_cache: bool = False,
) -> BuildResult:
    """Build ``image`` (the spec's ImageSection) as ``<registry>/<name>:<tag>``; skip when the key matches.

    ``tag`` overrides the spec's tag (publish --bump builds straight under the tag it will push).
    ``force`` builds even on a content-key hit; ``no_cache`` also ignores the engine's layer cache.
    """
    inputs = build_inputs(Path(spec_path), image)
    key = content_key(inputs)
    reference = tagged_reference(registry, image.name, tag or image.tag)
    client = docker_client()
    try:
        existing = None if (force or no_cache) else _existing_image(client, reference, key)
        if existing is not None:
            if reference not in existing.tags:
                existing.tag(reference)
            echo(f"{reference}: up to date (content key {key})")
            return BuildResult(reference=reference, image_id=existing.id, content_key=key, built=False)
        echo(f"building {reference} (content key {key})")
        image_id = _stream_build(client, inputs, reference, key, echo, no_cache)
        echo(f"built {reference} ({image_id})")
        return BuildResult(reference=reference, image_id=image_id, content_key=key, built=True)
    finally:
        client.close()
