"""Analysis outputs: which output objects exist, and how Metamist expands ``output``/``outputs`` in answers.

Real Metamist looks every output path up in GCS when an analysis is created: an existing object becomes an
output-file record (size, checksum, path parts), a missing one is kept as a bare path string. Answers are then
built from those records, with the quirks the golden recording shows (see ``render_outputs``).

Here an :class:`ObjectInspector` plays GCS:

* ``file://`` URIs are looked up on the local disk;
* ``gs://bucket/path`` is looked up as ``<gcs_mirror>/bucket/path`` when a mirror folder is configured
  (absent otherwise: there is no network access to GCS from the embedded server);
* anything else (``http(s)://`` URLs...) stays a plain path, as in Metamist, which only looks objects up in GCS.

``file_checksum`` is GCS's format, the base64 of the big-endian CRC32C, when ``google_crc32c`` is installed (it is,
through cpg-utils); otherwise the base64 of the MD5 digest.
"""

from __future__ import annotations

import base64
import hashlib
import posixpath
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

NO_SCHEME_MESSAGE = "Output file path must contain a protocol prefix"


@dataclass
class ObjectInspector:
    gcs_mirror: Path | None = None

    def local_path(self, uri: str) -> Path | None:
        """The local file standing for ``uri``, or None when the embedded server cannot see that object."""
        parts = urlsplit(uri)
        if parts.scheme == "file":
            return Path(unquote(parts.path))
        if parts.scheme == "gs" and self.gcs_mirror is not None:
            return self.gcs_mirror / parts.netloc / unquote(parts.path.lstrip("/"))
        return None

    def inspect(self, uri: str) -> dict | None:
        """Output-file fields for an existing object, None when it does not exist (or cannot be seen)."""
        path = self.local_path(uri)
        if path is None or not path.is_file():
            return None
        dirname, basename = posixpath.split(uri)
        nameroot, nameext = posixpath.splitext(basename)
        return {
            "path": uri,
            "basename": basename,
            "dirname": dirname,
            "nameroot": nameroot,
            "nameext": nameext,
            "file_checksum": file_checksum(path),
            "size": path.stat().st_size,
        }


def file_checksum(path: Path) -> str:
    try:
        import google_crc32c
    except ImportError:  # pragma: no cover - google_crc32c comes with cpg-utils
        digest = hashlib.md5()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return base64.b64encode(digest.digest()).decode()
    checksum = google_crc32c.Checksum()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            checksum.update(block)
    return base64.b64encode(checksum.digest()).decode()


def collect_entries(output: str | None, outputs) -> list[dict]:
    """The output paths of an analysis, in the order Metamist processes them.

    ``outputs`` wins over ``output``. Each entry is ``{path, key, parent}``: ``key`` is the name under which a
    file sits in an ``outputs`` dict (None for a plain path), ``parent`` the index of the entry whose
    ``secondary_files`` hold it.
    """
    spec = outputs if outputs not in (None, {}) else output
    entries: list[dict] = []
    if spec is None:
        return entries
    if isinstance(spec, str):
        return [{"path": spec, "key": None, "parent": None}]
    if not isinstance(spec, dict):
        raise ValueError("outputs must be a string or an object")
    for key, value in spec.items():
        if isinstance(value, str):
            # A plain string under a key is stored like a lone path: it loses its key (as in Metamist).
            entries.append({"path": value, "key": None, "parent": None})
        elif isinstance(value, dict) and isinstance(value.get("basename"), str):
            parent_index = len(entries)
            entries.append({"path": value["basename"], "key": str(key), "parent": None})
            for secondary_key, secondary in (value.get("secondary_files") or {}).items():
                path = secondary.get("basename") if isinstance(secondary, dict) else secondary
                if isinstance(path, str):
                    entries.append({"path": path, "key": str(secondary_key), "parent": parent_index})
        else:
            raise ValueError(f"outputs[{key!r}] must be a path or an object with a 'basename'")
    return entries


def check_schemes(entries: list[dict]) -> None:
    for entry in entries:
        if "://" not in entry["path"]:
            raise ValueError(NO_SCHEME_MESSAGE)


def inspect_entries(entries: list[dict], inspector: ObjectInspector) -> list[dict]:
    return [{**entry, "file": inspector.inspect(entry["path"])} for entry in entries]


def _file_object(row: dict) -> dict:
    return {
        "id": row["file_id"],
        "parent_id": row["parent_id"],
        "path": row["path"],
        "basename": row["basename"],
        "dirname": row["dirname"],
        "nameroot": row["nameroot"],
        "nameext": row["nameext"],
        "file_checksum": row["file_checksum"],
        "size": row["size"],
        "meta": None,
        "valid": True,
        "secondary_files": {},
    }


def render_outputs(rows: list[dict], *, graphql: bool):
    """``(output, outputs)`` of one analysis from its stored output rows, as Metamist answers them.

    Observed rules: files under keys form a dict (``output`` is then ``""``); a lone file is one flat object
    (``output`` is its path); paths whose object did not exist stay strings. When strings and files are mixed,
    REST adds the strings under ``"output"`` next to the file fields, while GraphQL answers the last string only.
    """
    if not rows:
        return None, {}
    strings = [row["output"] for row in rows if row["file_id"] is None]
    objects: dict[int, dict] = {}
    keyed: dict[str, dict] = {}
    flat: dict | None = None
    for row in rows:
        if row["file_id"] is None:
            continue
        obj = _file_object(row)
        objects[row["seq"]] = obj
        if row["parent_seq"] is not None and row["parent_seq"] in objects:
            objects[row["parent_seq"]]["secondary_files"][row["json_key"]] = obj
        elif row["json_key"] is not None:
            keyed[row["json_key"]] = obj
        else:
            flat = obj
    if strings and (graphql or not (keyed or flat)):
        return strings[-1], strings[-1]
    outputs: dict = keyed if keyed else dict(flat or {})
    if strings:
        outputs = {"output": strings, **outputs}
    output = "" if keyed else (flat or {}).get("path")
    return output, outputs
