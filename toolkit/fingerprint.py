"""What an output file is: its size and checksum, recorded when it is registered and checked later.

Each Analysis the toolkit registers records its output's fingerprint (``meta.provenance.output``), so
``toolkit outputs --verify`` can tell a registered output that is gone or was changed since (by a later
``--force`` run of another version, by hand...). Local files get a sha256; ``gs://`` objects the CRC32C that
GCS keeps for every object (reading a 30 GB CRAM again to hash it would cost more than the job did).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

__all__ = ["Fingerprint", "fingerprint"]

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Fingerprint:
    size: int
    checksum: str  # "sha256:<hex>" for local files, "crc32c:<base64>" for GCS objects

    def record(self) -> dict:
        return {"size": self.size, "checksum": self.checksum}


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def fingerprint(location: str, gcs_mirror: str | None = None) -> Fingerprint | None:
    """The output's fingerprint, or None when there is no such file. ``file://`` URIs and local paths are read
    here; ``gs://`` objects are asked of GCS (or read from ``gcs_mirror``, GCS's stand-in in tests)."""
    local = location[len("file://"):] if location.startswith("file://") else (location if "://" not in location else None)
    if local is None and gcs_mirror and location.startswith("gs://"):
        local = os.path.join(gcs_mirror, location[len("gs://"):])
    if local is not None:
        if not os.path.isfile(local):
            return None
        return Fingerprint(os.path.getsize(local), _sha256(local))
    if location.startswith("gs://"):
        from google.cloud import storage  # a cpg-utils dependency

        bucket, _, name = location[len("gs://"):].partition("/")
        blob = storage.Client().bucket(bucket).get_blob(name)
        if blob is None:
            return None
        return Fingerprint(int(blob.size), f"crc32c:{blob.crc32c}")
    return None
