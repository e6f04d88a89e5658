"""Reading a jobspec's YAML while keeping the position of every key and value.

ruamel.yaml's round-trip loader builds the data; its composer gives the node tree, whose marks (start *and*
end, plus the scalar style) let later checks point at a key, a value, or a character inside a multi-line
string such as the GraphQL query or the command template.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import ConstructorError, DuplicateKeyError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import CollectionNode, MappingNode, Node, ScalarNode, SequenceNode

from toolkit.spec.diagnostics import Diagnostic, Severity, guess_span_end, split_lines
from toolkit.spec.limits import MAX_DEPTH, MAX_NUMBER_CHARS, MAX_VALUES

Path_ = tuple[str | int, ...]  # a location in the data: keys and list indexes from the top

_STANDARD_TAG_PREFIX = "tag:yaml.org,2002:"
_BLOCK_HEADER = re.compile(r"[|>](?:[1-9][-+]?|[-+][1-9]?)?")


@dataclass
class NodeEntry:
    key: ScalarNode | None  # None for list items and for the document itself
    value: Node


class ScalarLocator:
    """Maps a position inside a string value (line/column in the text, or an offset) to the file.

    Exact for literal block scalars (``|``) and single-line plain or quoted scalars; approximate (but on the
    right line) for folded and multi-line flow scalars, whose text YAML rewrites.
    """

    def __init__(self, node: ScalarNode, lines: list[str], text: str):
        self.text = text
        self.start_line = node.start_mark.line  # 0-based
        self.start_column = node.start_mark.column
        # Literal blocks keep the text's lines; folded blocks and flow scalars join source lines into one
        # text line, so those are mapped by walking the source segments.
        self.block = node.style == "|"
        if node.style in ("|", ">"):
            header_line = lines[self.start_line]
            header = _BLOCK_HEADER.match(header_line, self.start_column)
            digit = re.search(r"[1-9]", header.group(0)) if header else None
            self.indent = self._detect_indent(lines, node) if digit is None else self._parent_indent(lines) + int(digit.group(0))
            if node.style == ">":
                self.segments = self._folded_segments(lines, node)
        else:
            quote = 1 if node.style in ("'", '"') else 0
            self.segments = self._flow_segments(lines, node, quote)

    def _parent_indent(self, lines: list[str]) -> int:
        line = lines[self.start_line]
        return len(line) - len(line.lstrip(" "))

    def _detect_indent(self, lines: list[str], node: ScalarNode) -> int:
        last = min(node.end_mark.line, len(lines) - 1)
        for index in range(self.start_line + 1, last + 1):
            if lines[index].strip():
                return len(lines[index]) - len(lines[index].lstrip(" "))
        return self._parent_indent(lines) + 2

    def _folded_segments(self, lines: list[str], node: ScalarNode) -> list[tuple[int, int, int]]:
        last = min(node.end_mark.line, len(lines) - 1)
        segments = [
            (index, self.indent, len(lines[index].rstrip()) - self.indent)
            for index in range(self.start_line + 1, last + 1)
            if lines[index].strip()
        ]
        return segments or [(self.start_line + 1, self.indent, 0)]

    def _flow_segments(self, lines: list[str], node: ScalarNode, quote: int) -> list[tuple[int, int, int]]:
        """(0-based line, 0-based start column, length) of each source line the scalar spans."""
        segments = []
        last = min(node.end_mark.line, len(lines) - 1)
        for index in range(self.start_line, last + 1):
            line = lines[index]
            start = self.start_column + quote if index == self.start_line else len(line) - len(line.lstrip())
            end = node.end_mark.column - quote if index == node.end_mark.line else len(line.rstrip())
            segments.append((index, start, max(end - start, 0)))
        return segments or [(self.start_line, self.start_column + quote, 0)]

    def at(self, text_line: int, text_column: int) -> tuple[int, int]:
        """1-based (line, column) in the text -> 1-based (line, column) in the file."""
        if self.block:
            return self.start_line + 1 + text_line, self.indent + text_column
        text_lines = self.text.split("\n")
        offset = sum(len(line) + 1 for line in text_lines[: max(text_line - 1, 0)]) + text_column - 1
        return self.at_offset(offset)

    def at_offset(self, offset: int) -> tuple[int, int]:
        """0-based character offset in the text -> 1-based (line, column) in the file."""
        if self.block:
            before = self.text[:offset]
            text_line = before.count("\n") + 1
            text_column = offset - (before.rfind("\n") + 1) + 1
            return self.at(text_line, text_column)
        remaining = max(offset, 0)
        for line, start, length in self.segments:
            if remaining <= length:
                return line + 1, start + remaining + 1
            remaining -= length + 1  # the space YAML folds a line break into
        line, start, length = self.segments[-1]
        return line + 1, start + length + 1

    def text_line_end(self, text_line: int) -> int:
        """Exclusive 1-based end column, in the file, of a whole line of the text (to underline it)."""
        lines = self.text.split("\n")
        content = lines[text_line - 1] if 0 < text_line <= len(lines) else ""
        return self.at(text_line, len(content.rstrip()) + 1)[1]


@dataclass
class SourceDocument:
    """A parsed jobspec: plain Python data plus the node of every key and value, by data path."""

    file: str
    text: str
    data: Any
    root: Node
    lines: list[str] = field(default_factory=list)
    nodes: dict[Path_, NodeEntry] = field(default_factory=dict)

    def __post_init__(self):
        self.lines = split_lines(self.text)
        self._index(self.root, (), None)

    def _index(self, node: Node, path: Path_, key: ScalarNode | None) -> None:
        self.nodes[path] = NodeEntry(key, node)
        if isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, ScalarNode) and key_node.value != "<<":
                    self._index(value_node, path + (key_node.value,), key_node)
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                self._index(item, path + (index,), None)

    def get(self, path: Path_, default: Any = None) -> Any:
        value = self.data
        for part in path:
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
                value = value[part]
            else:
                return default
        return value

    def _nearest(self, path: Path_) -> tuple[Path_, NodeEntry]:
        while path not in self.nodes and path:
            path = path[:-1]
        return path, self.nodes[path]

    def _diagnostic(self, line0: int, column0: int, message: str, severity: Severity, end0: int | None) -> Diagnostic:
        line_text = self.lines[line0] if 0 <= line0 < len(self.lines) else ""
        end = end0 + 1 if end0 is not None and end0 > column0 else guess_span_end(line_text, column0 + 1)
        return Diagnostic(self.file, line0 + 1, column0 + 1, message, end, severity)

    def _node_diagnostic(self, node: Node, message: str, severity: Severity) -> Diagnostic:
        start, end = node.start_mark, node.end_mark
        same_line = isinstance(node, ScalarNode) and node.style not in ("|", ">") and end.line == start.line
        if isinstance(node, (MappingNode, SequenceNode)) and node.flow_style and end.line == start.line:
            same_line = True
        return self._diagnostic(start.line, start.column, message, severity, end.column if same_line else None)

    def at_key(self, path: Path_, message: str, severity: Severity = "error") -> Diagnostic:
        """At the key of ``path`` (list items and missing keys: the nearest enclosing key or value)."""
        found, entry = self._nearest(path)
        if entry.key is not None:
            return self._node_diagnostic(entry.key, message, severity)
        return self._node_diagnostic(entry.value, message, severity)

    def at_value(self, path: Path_, message: str, severity: Severity = "error") -> Diagnostic:
        """At the value of ``path``; for a path that does not exist, at the key of its nearest ancestor."""
        found, entry = self._nearest(path)
        if found != path:
            return self.at_key(found, message, severity)
        node = entry.value
        if isinstance(node, ScalarNode) and node.style in ("|", ">") and node.value:
            # Point at the first line of the block's content rather than its `|` header.
            locator = ScalarLocator(node, self.lines, str(self.get(path, "")))
            line, column = locator.at(1, 1)
            return self._diagnostic(line - 1, column - 1, message, severity, None)
        if isinstance(node, MappingNode) and not node.flow_style and entry.key is not None:
            return self._node_diagnostic(entry.key, message, severity)
        return self._node_diagnostic(node, message, severity)

    def at_text(
        self, path: Path_, message: str, *, line: int | None = None, column: int | None = None,
        offset: int | None = None, length: int | None = None, severity: Severity = "error",
    ) -> Diagnostic:
        """At a character inside the string value of ``path`` (by 1-based text line/column, or by offset)."""
        entry = self.nodes.get(path)
        text = self.get(path)
        if entry is None or not isinstance(entry.value, ScalarNode) or not isinstance(text, str) or not text:
            return self.at_value(path, message, severity)  # an empty block has no line of its own to point at
        locator = ScalarLocator(entry.value, self.lines, text)
        if offset is not None:
            file_line, file_column = locator.at_offset(offset)
            end = file_column + length if length else None
        elif line is not None and column is not None:
            file_line, file_column = locator.at(line, column)
            end = file_column + length if length else None
        elif line is not None:
            file_line, file_column = locator.at(line, 1)
            end = locator.text_line_end(line)
        else:
            return self.at_value(path, message, severity)
        return self._diagnostic(file_line - 1, file_column - 1, message, severity, end - 1 if end else None)


class YamlProblem(Exception):
    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class _Unusable(Exception):
    pass


class _TooMuch(Exception):
    """A bound of toolkit.spec.limits was crossed while composing; ``mark`` is where."""

    def __init__(self, message: str, mark: Any, length: int = 1):
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.length = length  # characters to underline from the mark


_NUMBER_TAGS = {_STANDARD_TAG_PREFIX + "int", _STANDARD_TAG_PREFIX + "float"}


class _BoundedComposer(Composer):
    """ruamel's composer, stopped with a positioned error before a hostile document costs anything.

    ruamel recurses once per nesting level and would follow an alias to a value that contains it; its
    constructor then expands aliases. Here, before any of that: nesting deeper than MAX_DEPTH, more than
    MAX_VALUES values counting every alias as the values it stands for (an alias bomb is measured, never
    expanded), an alias inside the value it names, and numbers longer than MAX_NUMBER_CHARS.
    """

    def __init__(self, loader: Any = None):
        super().__init__(loader)
        self.warn_double_anchors = False  # ruamel prints those as Python warnings; they become diagnostics
        self.reused_anchors: list[tuple[str, Any, Any]] = []  # (anchor, where again, where first)
        self._values = 0
        self._nesting = 0
        self._expanded_size: dict[int, int] = {}  # id(anchored node) -> values it stands for

    def _count(self, values: int, mark: Any, alias: str | None = None) -> None:
        self._values += values
        if self._values > MAX_VALUES:
            through = f" (alias *{alias} stands for {values:,} values)" if alias and values > 1 else ""
            raise _TooMuch(f"the jobspec has more than {MAX_VALUES:,} keys and values{through}: "
                           "no jobspec needs that many", mark, len(alias) + 1 if alias else 1)

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            target = self.anchors.get(event.anchor)
            # A collection gets its end mark when it is complete: without one, the alias is inside it.
            if isinstance(target, CollectionNode) and target.end_mark is None:
                raise _TooMuch(f"alias *{event.anchor} is inside the value &{event.anchor} it names: "
                               "a value that contains itself has no end", event.start_mark, len(event.anchor) + 1)
            if target is not None:
                self._count(self._expanded_size.get(id(target), 1), event.start_mark, event.anchor)
            return super().compose_node(parent, index)
        if self._nesting >= MAX_DEPTH:
            raise _TooMuch(f"the YAML nests deeper than {MAX_DEPTH} levels: no jobspec needs that", event.start_mark)
        if event.anchor is not None and event.anchor in self.anchors:
            self.reused_anchors.append((event.anchor, event.start_mark, self.anchors[event.anchor].start_mark))
        before = self._values
        self._count(1, event.start_mark)
        self._nesting += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._nesting -= 1
        if event.anchor is not None:
            self._expanded_size[id(node)] = self._values - before
        return node

    def compose_scalar_node(self, anchor: Any) -> Any:
        node = super().compose_scalar_node(anchor)
        tag = str(getattr(node.tag, "value", node.tag))
        if tag in _NUMBER_TAGS and len(node.value) > MAX_NUMBER_CHARS:
            raise _TooMuch(f"a number of {len(node.value):,} characters: numbers in a jobspec have at most "
                           f"{MAX_NUMBER_CHARS} (quote it to make it text)", node.start_mark, len(node.value))
        return node


class _CheckedConstructor(RoundTripConstructor):
    """A value that YAML recognises by its look or its tag but Python cannot build becomes a positioned YAML
    error. ruamel raises whatever Python raises for those: ValueError for ``2020-13-45`` (month 13), IndexError
    for ``!!int ''``; every node is built here, so nothing else is caught."""

    def construct_non_recursive_object(self, node: Any, tag: str | None = None) -> Any:
        try:
            return super().construct_non_recursive_object(node, tag)
        except YAMLError:
            raise
        except Exception as error:  # noqa: BLE001 - see the class comment
            shown = repr(node.value) if isinstance(node, ScalarNode) else "this value"
            kind = str(getattr(node.tag, "value", node.tag)).replace(_STANDARD_TAG_PREFIX, "!!")
            raise ConstructorError(
                None, None, f"cannot read {shown} as {kind} ({error}); quote it to make it text", node.start_mark
            ) from None


def _plain(value: Any, active: set[int] | None = None) -> Any:
    """ruamel's round-trip types -> plain dict/list/str/int/float/bool, so validation sees ordinary data."""
    active = set() if active is None else active
    if isinstance(value, (dict, list, tuple)):
        if id(value) in active:
            raise _Unusable("a YAML alias refers to a value that contains it (a recursive structure)")
        active.add(id(value))
        try:
            if isinstance(value, dict):
                # A complex key (`? [a, b]`) is no valid jobspec key; as text it is still reported as unknown.
                return {
                    (k if isinstance(k, (str, int, float)) or k is None else str(k)): _plain(v, active)
                    for k, v in value.items()
                }
            return [_plain(v, active) for v in value]
        finally:
            active.discard(id(value))
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (datetime.date, datetime.datetime)) or value is None:
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    tagged = getattr(value, "value", None)  # ruamel TaggedScalar; its tag is reported separately
    return _plain(tagged, active) if tagged is not None else str(value)


def _yaml_problem(file: str, error: YAMLError) -> Diagnostic:
    if isinstance(error, MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        kind = "YAML error" if isinstance(error, (ConstructorError, DuplicateKeyError)) else "YAML syntax error"
        message = f"{kind}: {error.problem}"
        if error.context and error.context_mark is not None:
            message += f" ({error.context} started at line {error.context_mark.line + 1})"
        return Diagnostic(file, mark.line + 1, mark.column + 1, message, mark.column + 2)
    return Diagnostic(file, 0, 0, f"YAML syntax error: {error}")


def _custom_tags(node: Node, found: list[Node], seen: set[int]) -> None:
    if id(node) in seen:
        return
    seen.add(id(node))
    tag = getattr(node.tag, "value", node.tag) if node.tag is not None else None
    if tag and not str(tag).startswith(_STANDARD_TAG_PREFIX):
        found.append(node)
    if isinstance(node, MappingNode):
        for key, value in node.value:
            _custom_tags(key, found, seen)
            _custom_tags(value, found, seen)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            _custom_tags(item, found, seen)


def parse_yaml(file: str, text: str) -> tuple[SourceDocument, list[Diagnostic]]:
    """Parse ``text``; raises YamlProblem when there is no usable document at all.

    Returns the document and the diagnostics found while reading it (custom tags).
    """
    yaml = YAML(typ="rt")
    yaml.Composer = _BoundedComposer
    yaml.Constructor = _CheckedConstructor
    try:
        # One parse: the composed node tree gives positions, the round-trip constructor builds the data
        # from that same tree (what YAML.load does internally).
        root = yaml.compose(text)
        loaded = yaml.constructor.construct_document(root) if root is not None else None
    except YAMLError as error:
        raise YamlProblem(_yaml_problem(file, error)) from None
    except _TooMuch as problem:
        mark = problem.mark
        column = mark.column + 1
        raise YamlProblem(Diagnostic(file, mark.line + 1, column, problem.message, column + problem.length)) from None
    if root is None:
        raise YamlProblem(Diagnostic(file, 1, 1, "the jobspec is empty: expected a mapping with version, name, image..."))
    try:
        data = _plain(loaded)
    except _Unusable as reason:
        raise YamlProblem(Diagnostic(file, root.start_mark.line + 1, root.start_mark.column + 1, str(reason))) from None
    document = SourceDocument(file=file, text=text, data=data, root=root)
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a single value ({data!r})"
        raise YamlProblem(document.at_value((), f"a jobspec must be a mapping of keys (version, name, ...), not {kind}"))
    tagged: list[Node] = []
    _custom_tags(root, tagged, set())
    diagnostics = [
        Diagnostic(file, again.line + 1, again.column + 1,
                   f"anchor &{anchor} is defined again (first at line {first.line + 1}): the aliases *{anchor} after "
                   "this line stand for this value", again.column + 2 + len(anchor), "warning")
        for anchor, again, first in yaml.composer.reused_anchors
    ]
    for node in tagged:
        tag = getattr(node.tag, "value", node.tag)
        diagnostics.append(
            document._node_diagnostic(node, f"unsupported YAML tag '{tag}': jobspecs use plain YAML values", "error")
        )
    return document, diagnostics
