"""Ids from metadata, and the names the toolkit gives Hail Batch, made safe by construction.

Two rules, so that metadata never becomes code or a path outside the output folders:

* **Ids are checked when the plan is made.** A group id names files (``fastqe/{{ group.id }}.html``), Hail
  jobs and Metamist links. An id with a control character (newline, NUL, escape...), an invisible format
  character, a path separator, or that is ``.``/``..``, empty or too long for a file name rejects its group
  with a reason (:func:`id_problem`), instead of crashing the plan or the batch.
* **Names handed to Hail are built from a fixed alphabet** (:func:`hail_label`): letters, digits, ``.``, ``_``
  and ``-`` (anything else becomes ``_``). Hail's LocalBackend writes a job's name into the generated shell
  script as ``# N: <name>`` and cpg-utils prefixes it with the ``sequencing_group`` attribute, so a raw id
  there is one newline away from a command. The raw id stays in the toolkit's own data (the plan), which is
  what outcomes and registrations are keyed by.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MAX_ID_BYTES", "hail_label", "id_problem", "job_name", "job_name_prefix"]

# Longest file name most filesystems and object stores accept, in bytes.
MAX_ID_BYTES = 255

# Control (Cc: NUL, newline, escape, DEL, C1), format (Cf: bidi overrides, zero-width), line and paragraph
# separators, surrogates, private-use and unassigned code points: none belongs in an id, all can hide or
# rewrite what a terminal, a shell or a file name shows.
_FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}
_PATH_SEPARATORS = ("/", "\\")
_UNSAFE_LABEL = re.compile(r"[^A-Za-z0-9._-]")


def _describe(char: str) -> str:
    if char == "\x00":
        return "a NUL character"
    name = unicodedata.name(char, "")
    code = f"U+{ord(char):04X}"
    return f"a control or invisible character ({code}{' ' + name if name else ''})"


def id_problem(value: str, what: str = "the group id") -> str | None:
    """Why ``value`` cannot be used as an id in names and paths, or None when it can."""
    if value == "" or value.strip() == "":
        return f"{what} is empty"
    if value in (".", ".."):
        return f"{what} is {value!r}, which names a folder, not a file"
    for char in value:
        if char in _PATH_SEPARATORS:
            return f"{what} contains a path separator ({char!r})"
        if not char.isprintable() and unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            return f"{what} contains {_describe(char)}"
    if len(value.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        return f"{what} is longer than {MAX_ID_BYTES} bytes, too long for a file name"
    return None


def hail_label(text: str, limit: int = 100) -> str:
    """``text`` reduced to ``[A-Za-z0-9._-]`` (anything else becomes ``_``), at most ``limit`` characters."""
    return _UNSAFE_LABEL.sub("_", text)[:limit] or "_"


def job_name(spec_name: str, group_id: str) -> str:
    """The Hail job name of a group: readable, and nothing a shell, a log or a UI could interpret."""
    return job_name_prefix(spec_name) + hail_label(group_id)


def job_name_prefix(spec_name: str) -> str:
    """What every job name of a spec starts with (a plan works it out once)."""
    return f"{hail_label(spec_name, 40)} "
