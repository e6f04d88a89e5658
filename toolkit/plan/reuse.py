"""The reuse key: "done" means the same output from the same inputs, command and image.

cpg-flow calls a stage done when its outputs exist; the toolkit used to call a group done when Metamist had
an active Analysis for the output path. Both say "done" after the command, an image, a parameter or the reads
changed. Snakemake reruns on changed code and params, Nextflow resumes on a task hash; the toolkit records
its key in every Analysis it registers (``meta.provenance.reuse``), so it can do as well and say *why*:

* the **command** as the plan renders it: real input locations and output destinations, never Hail's scratch
  paths (those change every run);
* each **input** by location, size and checksum (re-sequenced or re-uploaded reads change the key);
* the **image** by digest when it is locked, else by its build content key; on the host, the tool's version;
* the spec's **params** and the **shell** options the command runs under;
* for aggregates (and chained specs), the **upstream** Analyses the job was made from.

The key is the sha256 of the canonical JSON of those parts. The parts themselves are stored too (the command
already is, in ``meta.provenance.command``), so a changed key can be explained in words.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

__all__ = ["InputIdentity", "ReuseKey", "canonical_json", "describe_changes", "short_digest"]


@dataclass
class InputIdentity:
    location: str
    size: int | None = None
    checksum: str | None = None

    def record(self) -> dict[str, Any]:
        return {"location": self.location, "size": self.size, "checksum": self.checksum}


@dataclass
class ReuseKey:
    command: str
    image: str
    params: Mapping[str, Any] = field(default_factory=dict)
    inputs: tuple[InputIdentity, ...] = ()
    shell: str = ""
    upstream: tuple[int, ...] = ()

    # The digest, once computed (see digest).
    _digest: str | None = field(default=None, init=False, repr=False, compare=False)

    def record(self) -> dict[str, Any]:
        """What an Analysis stores under ``meta.provenance.reuse`` (the command is stored beside it)."""
        inputs = [identity.record() for identity in self.inputs]
        record: dict[str, Any] = {
            "key": self._digest or self._digest_of(inputs),
            "image": self.image,
            "params": dict(self.params),
            "inputs": inputs,
            "shell": self.shell,
        }
        if self.upstream:
            record["upstream"] = list(self.upstream)
        return record

    @property
    def digest(self) -> str:
        """Asked for by every registration of the job and by the decision: computed once."""
        return self._digest or self._digest_of([identity.record() for identity in self.inputs])

    def _digest_of(self, inputs: list[dict[str, Any]]) -> str:
        """The digest, from the input records (a job's record makes them anyway: not made twice)."""
        parts = {
            "command": self.command,
            "image": self.image,
            "params": dict(self.params),
            "inputs": inputs,
            "shell": self.shell,
            "upstream": sorted(self.upstream),
        }
        self._digest = "sha256:" + hashlib.sha256(canonical_json(parts)).hexdigest()
        return self._digest


_INT_MIN, _INT_END = -(2**63), 2**64  # the integers orjson writes


def _plain(value: Any) -> bool:
    """Strings, booleans, None, integers orjson writes, and lists, tuples and str-keyed dicts of them: exact types
    only (a subclass may encode differently, and takes the standard library: the definition of the bytes)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return _INT_MIN <= value < _INT_END
    # Loops, and strings (most of the values) answered without a call: this runs for every job of a plan.
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or (type(item) is not str and not _plain(item)):
                return False
        return True
    if kind is list or kind is tuple:
        for item in value:
            if type(item) is not str and not _plain(item):
                return False
        return True
    return False


def canonical_json(parts: dict[str, Any]) -> bytes:
    """The key's canonical JSON: ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    default=str)`` in UTF-8, the text every key ever stored was hashed from.

    orjson writes the same bytes for plain data (tested against json on arbitrary text), several times faster
    (a fifth of planning at 100,000 groups went to json here); it writes floats, dates and other types
    differently, so anything else (a float param, say) takes the standard library.
    """
    if _plain(parts):
        import orjson

        try:
            return orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # a lone surrogate: the standard library says what it says about it
            pass
    return json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def short_digest(value: str | None, length: int = 12) -> str:
    """``sha256:0123456789abcdef…`` -> ``sha256:0123456789ab…`` (readable in one line)."""
    if not value:
        return "none"
    algorithm, sep, hexdigits = value.partition(":")
    if not sep:
        return value if len(value) <= length + 10 else value[: length + 10] + "…"
    return f"{algorithm}:{hexdigits[:length]}…" if len(hexdigits) > length else value


def _name_of(location: str) -> str:
    return location.rstrip("/").rsplit("/", 1)[-1] or location


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value


def _input_changes(old: Iterable[Mapping[str, Any]], new: tuple[InputIdentity, ...]) -> list[str]:
    before = {entry.get("location"): entry for entry in old if isinstance(entry, Mapping)}
    after = {identity.location: identity for identity in new}
    changes = []
    for location, identity in after.items():
        previous = before.get(location)
        if previous is None:
            changes.append(f"inputs changed: {_name_of(location)} is new")
            continue
        for part in ("checksum", "size"):
            was, now = previous.get(part), getattr(identity, part)
            if was != now:
                changes.append(f"inputs changed: {_name_of(location)} {part} {_show(was)} → {_show(now)}")
    for location in before:
        if location not in after:
            changes.append(f"inputs changed: {_name_of(str(location))} is no longer an input")
    return changes


def _command_change(old: str, new: str) -> str:
    """The first place two commands differ, as a few words on each side."""
    old_words, new_words = old.split(), new.split()
    matcher = difflib.SequenceMatcher(a=old_words, b=new_words, autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            continue
        was = " ".join(old_words[a0:a1][:6]) or "(nothing)"
        now = " ".join(new_words[b0:b1][:6]) or "(nothing)"
        return f"command changed: {was} → {now}"
    return "command changed (whitespace)"


def describe_changes(previous: Mapping[str, Any] | None, previous_command: str | None, current: ReuseKey) -> list[str]:
    """Why an output registered with ``previous`` (its ``meta.provenance.reuse``) is not the one planned now.

    An empty list means the keys are equal. The reasons are in words, most specific first: a changed param is
    reported as such rather than as the command text it changed.
    """
    if not isinstance(previous, Mapping) or "key" not in previous:
        return ["registered without a reuse key (by an older toolkit): cannot tell what it was made from"]
    if previous.get("key") == current.digest:
        return []
    reasons: list[str] = []
    old_params = previous.get("params") if isinstance(previous.get("params"), Mapping) else {}
    for name in sorted(set(old_params) | set(current.params)):
        was, now = old_params.get(name), current.params.get(name)
        if was != now:
            reasons.append(f"command changed: --param {name} {_show(was)} → {_show(now)}")
    if previous.get("image") != current.image:
        reasons.append(f"image changed: {short_digest(previous.get('image'))} → {short_digest(current.image)}")
    old_upstream = {int(x) for x in previous.get("upstream") or [] if isinstance(x, int)}
    new_upstream = set(current.upstream)
    if old_upstream == new_upstream:
        # With upstream Analyses (a chained spec) the inputs are their outputs: named by Analysis below.
        reasons += _input_changes(previous.get("inputs") or [], current.inputs)
    else:
        added, removed = sorted(new_upstream - old_upstream), sorted(old_upstream - new_upstream)
        parts = []
        if added:
            parts.append("new input Analysis " + ", ".join(map(str, added)))
        if removed:
            parts.append("input Analysis " + ", ".join(map(str, removed)) + " no longer active")
        reasons.append("inputs changed: " + "; ".join(parts))
    if (previous.get("shell") or "") != current.shell:
        reasons.append(f"shell options changed: {previous.get('shell') or 'none'} → {current.shell or 'none'}")
    if not reasons:
        # Params, image, inputs and shell are equal, so the template itself (or the output paths) changed.
        if previous_command is not None and previous_command != current.command:
            reasons.append(_command_change(previous_command, current.command))
        else:
            reasons.append("reuse key changed")
    return reasons
