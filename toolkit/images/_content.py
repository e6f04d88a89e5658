"""The content key: one hash of everything that goes into a build, stored on the image as a label.

Two builds with the same key produce the same image as far as the toolkit can tell, so the second is skipped.
The key covers the Dockerfile's bytes, every file the engine would receive as context (``.dockerignore``
honoured, exactly as the docker SDK applies it) with its path and executable bit, and the build args.
The base image is not part of the key: a moved ``FROM`` tag is only picked up by a content change or ``--bump``.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import ImageError

CONTENT_KEY_LABEL = "org.jobspec-toolkit.content-key"
_KEY_SCHEME = b"jobspec-toolkit content key v1\0"


@dataclass(frozen=True)
class BuildInputs:
    dockerfile: Path
    context: Path
    build_args: dict[str, str]

    @property
    def dockerfile_in_context(self) -> str | None:
        """The Dockerfile's path relative to the context, or None when it lives outside it."""
        try:
            return self.dockerfile.relative_to(self.context).as_posix()
        except ValueError:
            return None


def build_inputs(spec_path: Path, image) -> BuildInputs:
    """Resolve the spec's image section (paths relative to the spec file) and check the files exist."""
    base = spec_path.resolve().parent
    dockerfile = (base / image.dockerfile).resolve()
    context = (base / image.context).resolve() if image.context else dockerfile.parent
    if not dockerfile.is_file():
        raise ImageError(f"{spec_path}: image.dockerfile {image.dockerfile!r}: no such file ({dockerfile})")
    if not context.is_dir():
        raise ImageError(f"{spec_path}: image.context {image.context!r}: no such folder ({context})")
    return BuildInputs(dockerfile=dockerfile, context=context, build_args=dict(image.build_args))


def _ignore_patterns(context: Path) -> list[str]:
    ignore_file = context / ".dockerignore"
    if not ignore_file.is_file():
        return []
    lines = ignore_file.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def context_files(inputs: BuildInputs) -> list[str]:
    """Relative posix paths of the regular files and symlinks the engine receives, sorted."""
    from docker.utils.build import exclude_paths

    dockerfile_name = inputs.dockerfile_in_context or "Dockerfile"
    included = exclude_paths(str(inputs.context), _ignore_patterns(inputs.context), dockerfile=dockerfile_name)
    files = []
    for relative in included:
        full = inputs.context / relative
        if full.is_symlink() or full.is_file():
            files.append(Path(relative).as_posix())
    return sorted(files)


def content_key(inputs: BuildInputs) -> str:
    digest = hashlib.sha256(_KEY_SCHEME)

    def field(*parts: bytes) -> None:
        for part in parts:
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)

    field(b"dockerfile", inputs.dockerfile.read_bytes())
    for relative in context_files(inputs):
        full = inputs.context / relative
        if full.is_symlink():
            field(b"symlink", relative.encode(), os.readlink(full).encode())
            continue
        executable = b"x" if full.stat().st_mode & stat.S_IXUSR else b"-"
        field(b"file", relative.encode(), executable, full.read_bytes())
    for name in sorted(inputs.build_args):
        field(b"arg", name.encode(), inputs.build_args[name].encode())
    return "sha256:" + digest.hexdigest()
