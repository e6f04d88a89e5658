"""The lock file: what was published for a spec, committed next to it (``<spec stem>.lock.json``)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from toolkit.errors import ImageError

LOCK_KEYS = ("image", "tag", "registry", "digest", "content_key", "pushed_at")


@dataclass(frozen=True)
class Lock:
    image: str
    tag: str
    registry: str
    digest: str  # manifest digest as served by the registry, sha256:...
    content_key: str
    pushed_at: str  # ISO 8601, UTC

    @property
    def reference(self) -> str:
        return f"{self.registry}/{self.image}@{self.digest}"


def lock_path(spec_path: str | os.PathLike) -> Path:
    spec_path = Path(spec_path)
    return spec_path.with_name(f"{spec_path.stem}.lock.json")


def read_lock(spec_path: str | os.PathLike) -> Lock | None:
    """The spec's lock, or None when it has none. A lock that cannot be read is an ImageError."""
    path = lock_path(spec_path)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        return Lock(**{key: str(data[key]) for key in LOCK_KEYS})
    except (ValueError, KeyError, TypeError) as error:
        raise ImageError(
            f"{path}: not a valid lock file ({type(error).__name__}: {error})",
            hint="delete it and run `toolkit publish` again",
        ) from None


def write_lock(spec_path: str | os.PathLike, lock: Lock) -> Path:
    path = lock_path(spec_path)
    text = json.dumps(asdict(lock), indent=2) + "\n"
    # Atomic: a reader never sees half a lock.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as stream:
        stream.write(text)
    os.replace(temporary, path)
    return path
