"""pydantic validation errors -> positioned diagnostics with messages written for a spec author.

pydantic locates an error by a path of keys, with union members spliced in as extra components
(``('inputs', 'expect', 'reads', 'int')``); those are recognised by not existing in the data, so every
message lands on the key or value the author wrote.
"""

from __future__ import annotations

import datetime
import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from toolkit.spec._source import Path_, SourceDocument
from toolkit.spec.diagnostics import Diagnostic
from toolkit.spec.limits import MAX_UNKNOWN_KEYS_SHOWN
from toolkit.spec.models import JobSpec

_BRANCH_WORDS = {"str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean", "none": "null"}

_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "none_required": "null",
}

_PATTERN_MESSAGES = {
    ("name",): "invalid name {value!r}: use lower-case letters, digits, '-' and '_', starting with a letter or digit",
    ("image", "name"): "invalid image name {value!r}: use lower-case letters, digits, '.', '_', '-' and '/'",
    ("image", "tag"): "image tag {value!r} does not follow the CPG convention <VERSION>-<N> (e.g. 0.3.1-1)",
}


def describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return f"the date {value}"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def dotted(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _strip_optional(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    return [annotation]


def model_at(path: Path_) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at ``path`` (for suggesting key names)."""
    current: Any = JobSpec
    for part in path:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next(
                (f for name, f in current.model_fields.items() if (f.alias or name) == part), None
            )
            if field is None:
                return None
            current = field.annotation
        elif typing.get_origin(current) in (dict, list):
            current = typing.get_args(current)[-1]
        else:
            return None
        models = [a for a in _strip_optional(current) if isinstance(a, type) and issubclass(a, BaseModel)]
        if models:
            current = models[0]
        else:
            others = _strip_optional(current)
            current = others[0] if len(others) == 1 else None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def allowed_keys(path: Path_) -> list[str]:
    model = model_at(path)
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _split_location(document: SourceDocument, location: tuple, error_type: str) -> tuple[Path_, list[str]]:
    """(path that exists in the data (plus a missing key), union member tags pydantic spliced in)."""
    path: list[str | int] = []
    tags: list[str] = []
    value: Any = document.data
    for index, part in enumerate(location):
        last = index == len(location) - 1
        if isinstance(value, dict) and part in value:
            value = value[part]
            path.append(part)
        elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
            value = value[part]
            path.append(part)
        elif last and error_type == "missing":
            path.append(part)
        else:
            tags.append(str(part))
    return tuple(path), tags


def _branch_word(tag: str) -> str:
    if tag in _BRANCH_WORDS:
        return _BRANCH_WORDS[tag]
    if tag.startswith("list["):
        return "a list"
    if tag.startswith("dict[") or tag[:1].isupper():
        return "a mapping"
    return tag


def _join_alternatives(words: list[str]) -> str:
    unique = list(dict.fromkeys(words))
    if len(unique) == 1:
        return unique[0]
    return ", ".join(unique[:-1]) + " or " + unique[-1]


def _message(document: SourceDocument, path: Path_, error: dict) -> tuple[str, str]:
    """(message, where) with where one of 'key', 'value', 'parent'."""
    kind = error["type"]
    value = document.get(path)
    name = dotted(path)
    if kind == "missing":
        parent = dotted(path[:-1])
        where = f" in {parent}" if parent else ""
        return f"missing required key '{path[-1]}'{where}", "parent"
    if kind == "extra_forbidden":
        key = path[-1]
        allowed = allowed_keys(path[:-1])
        close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
        if close:
            hint = f" (did you mean '{close[0]}'?)"
        elif allowed:
            hint = f" (expected one of: {', '.join(allowed)})"
        else:
            hint = ""
        where = f" in {dotted(path[:-1])}" if path[:-1] else ""
        return f"unknown key '{key}'{where}{hint}", "key"
    if path == ("version",) and kind == "literal_error":
        shown = repr(value) if isinstance(value, str) else describe(value).removeprefix("the number ")
        return f"unsupported jobspec version {shown}: only version 1 exists", "value"
    if kind == "string_pattern_mismatch" and path in _PATTERN_MESSAGES:
        return _PATTERN_MESSAGES[path].format(value=value), "value"
    if kind == "too_short" and path == ("outputs",):
        return "outputs: declare at least one output", "key"
    if kind in _TYPE_WORDS:
        message = f"{name}: expected {_TYPE_WORDS[kind]}, got {describe(value)}"
        if kind == "string_type" and isinstance(value, (int, float, bool, datetime.date)):
            message += " (quote it to make it text)"
        return message, "value"
    if kind == "literal_error":
        return f"{name}: expected {error['ctx']['expected']}, got {describe(value)}", "value"
    if kind == "string_pattern_mismatch":
        return f"{name}: {value!r} does not match the pattern {error['ctx']['pattern']}", "value"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {"greater_than": "greater than", "greater_than_equal": "at least",
                 "less_than": "less than", "less_than_equal": "at most"}[kind]
        bound = next(iter(error["ctx"].values()))
        return f"{name}: must be {words} {bound:g}, got {describe(value)}", "value"
    if kind == "value_error":
        text = str(error["ctx"]["error"]) if error.get("ctx") else error["msg"]
        return f"{name}: {text}", "value"
    message = error["msg"]
    return f"{name}: {message[:1].lower()}{message[1:]}", "value"


def _position(document: SourceDocument, path: Path_, where: str, message: str, error: dict) -> Diagnostic:
    if where == "key":
        return document.at_key(path, message)
    if where == "parent":
        return document.at_key(path[:-1], message) if path[:-1] else document.at_value((), message)
    if error["type"] == "value_error" and "unknown source" in message:
        return document.at_value(path + ("from",), message)
    return document.at_value(path, message)


def shape_diagnostics(document: SourceDocument, error: ValidationError) -> list[Diagnostic]:
    diagnostics: list[Diagnostic] = []
    union_failures: dict[Path_, list[tuple[list[str], dict, Path_]]] = {}
    unknown_keys: list[Path_] = []
    for item in error.errors(include_url=False):
        path, tags = _split_location(document, item["loc"], item["type"])
        if item["type"] == "extra_forbidden" and not tags:
            unknown_keys.append(path)
            if len(unknown_keys) > MAX_UNKNOWN_KEYS_SHOWN:
                continue  # counted, not described: thousands of "unknown key" lines help nobody
        if tags:
            # The union's own path is where the first spliced tag sits.
            first_tag_index = next(i for i, part in enumerate(item["loc"]) if str(part) == tags[0])
            union_path, _ = _split_location(document, item["loc"][:first_tag_index], "")
            union_failures.setdefault(union_path, []).append((tags, item, path))
            continue
        message, where = _message(document, path, item)
        diagnostics.append(_position(document, path, where, message, item))
    for union_path, failures in union_failures.items():
        value = document.get(union_path)
        mapping_branches = [f for f in failures if _branch_word(f[0][0]) == "a mapping" and f[1]["type"] != "model_type"]
        if isinstance(value, dict) and mapping_branches:
            for _tags, item, path in mapping_branches:
                message, where = _message(document, path, item)
                diagnostics.append(_position(document, path, where, message, item))
            continue
        expected = _join_alternatives([_branch_word(f[0][0]) for f in failures])
        message = f"{dotted(union_path)}: expected {expected}, got {describe(value)}"
        diagnostics.append(document.at_value(union_path, message))
    hidden = unknown_keys[MAX_UNKNOWN_KEYS_SHOWN:]
    if hidden:
        diagnostics.append(document.at_key(
            hidden[0], f"{len(hidden):,} more unknown keys from here on (only the first {MAX_UNKNOWN_KEYS_SHOWN} "
                       f"are described; {len(unknown_keys):,} in all)"))
    return diagnostics
