"""Offline checks of the Jinja2 templates in a jobspec: syntax, and that only known slots are used.

Jinja's AST carries line numbers but no columns, so a column is recovered by finding the offending
expression on its line; when that fails the whole line is underlined.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass, field

from jinja2 import TemplateAssertionError, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment


def _parser() -> SandboxedEnvironment:
    # The renderer's own environment (its filters, tests and globals are what a template may use); it never
    # folds constants while compiling, so checking {{ 'a' * 10**9 }} builds nothing. Imported on first use:
    # the renderer builds its Jinja environments when imported (about 15 ms).
    from toolkit.render import parsing_environment

    return parsing_environment()


@dataclass(frozen=True)
class TemplateProblem:
    message: str
    line: int  # 1-based inside the template
    column: int | None = None  # 1-based inside the template line; None: the whole line
    length: int | None = None
    severity: str = "error"


@dataclass
class SlotRules:
    """What a template may name: root slot -> allowed attribute names (None: no attribute access allowed)."""

    slots: dict[str, set[str] | None]
    attribute_help: dict[str, str] = field(default_factory=dict)  # root -> how to say what is allowed
    forbidden: dict[str, str] = field(default_factory=dict)  # root -> why it cannot be used here


@dataclass
class TemplateCheck:
    problems: list[TemplateProblem]
    parsed: bool
    first_use: dict[str, tuple[int, int | None]]  # root slot -> (line, column) of its first use
    attributes_used: dict[str, set[str]]  # root slot -> attribute names used on it


_NOUNS = {"outputs": "output", "params": "param", "group": "group field", "resources": "resource"}


def _locate(lines: list[str], line: int, pattern: str) -> tuple[int | None, int | None]:
    if not 0 < line <= len(lines):
        return None, None
    match = re.search(pattern, lines[line - 1])
    if not match:
        return None, None
    group = match.lastindex or 0
    return match.start(group) + 1, match.end(group) - match.start(group)


def _constant_key(node: nodes.Node) -> str | int | None:
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return node.arg.value
    return None


def _suggest(word: str, candidates) -> str:
    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def check_template(text: str, rules: SlotRules) -> TemplateCheck:
    lines = text.split("\n")
    too_deep = nesting_problem(text)
    if too_deep is not None:
        return TemplateCheck([too_deep], False, {}, {})
    try:
        tree = _parser().parse(text)
    except TemplateSyntaxError as error:
        return TemplateCheck([TemplateProblem(f"template syntax error: {error.message}", error.lineno or 1)], False, {}, {})
    except RecursionError:  # a nesting nesting_problem does not count (it counts brackets, unary operators, blocks)
        return TemplateCheck([TemplateProblem("the template nests too deeply to be read", 1)], False, {}, {})
    too_deep = tree_depth_problem(tree)
    if too_deep is not None:
        return TemplateCheck([too_deep], False, {}, {})
    problems: list[TemplateProblem] = []
    first_use: dict[str, tuple[int, int | None]] = {}
    attributes_used: dict[str, set[str]] = {}
    try:
        free_names = meta.find_undeclared_variables(tree) - set(_parser().globals)
    except TemplateAssertionError:
        # Jinja's analysis gives up on an unknown filter or test (reported below); approximate the free names
        # as every loaded name that the template does not assign itself.
        assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
        free_names = {n.name for n in tree.find_all(nodes.Name) if n.ctx == "load"} - assigned - set(_parser().globals)
    parents: dict[int, nodes.Node] = {}
    for parent in tree.find_all(nodes.Node):
        for child in parent.iter_child_nodes():
            parents[id(child)] = parent

    for name_node in tree.find_all(nodes.Name):
        root = name_node.name
        if name_node.ctx != "load" or root not in free_names:
            continue
        line = name_node.lineno
        column, length = _locate(lines, line, rf"(?<![\w.])({re.escape(root)})\b")
        first_use.setdefault(root, (line, column))
        if root in rules.forbidden:
            problems.append(TemplateProblem(rules.forbidden[root], line, column, length))
            continue
        if root not in rules.slots:
            hint = _suggest(root, rules.slots)
            known = ", ".join(rules.slots)
            problems.append(TemplateProblem(
                f"unknown template slot '{root}' ({hint + ' ' if hint else ''}known slots: {known})",
                line, column, length))
            continue
        parent = parents.get(id(name_node))
        key = _constant_key(parent) if parent is not None and getattr(parent, "node", None) is name_node else None
        if key is None:
            continue
        allowed = rules.slots[root]
        if isinstance(key, int):
            if allowed is None:
                continue  # an index into a list slot (reads[0])
            problems.append(TemplateProblem(f"'{root}' is not a list: use {root}.NAME", line, column, length))
            continue
        attributes_used.setdefault(root, set()).add(key)
        if allowed is not None and key in allowed:
            continue
        column, length = _locate(
            lines, line, rf"\b{re.escape(root)}\s*(?:\.\s*({re.escape(key)})\b|\[\s*['\"]({re.escape(key)})['\"])"
        )
        if column is None:
            column, length = _locate(lines, line, rf"\b({re.escape(root)})\b")
        if allowed is None:
            message = f"'{root}' has no attribute '{key}': {rules.attribute_help.get(root, 'use it as is')}"
        else:
            hint = _suggest(key, allowed)
            message = f"unknown {_NOUNS.get(root, root)} '{key}' in {root}.{key}"
            message += f" ({hint + ' ' if hint else ''}{rules.attribute_help.get(root, 'known: ' + ', '.join(sorted(allowed)))})"
        problems.append(TemplateProblem(message, line, column, length))
    problems.extend(_unknown_filters_and_tests(tree, lines))
    return TemplateCheck(problems, True, first_use, attributes_used)


def _unknown_filters_and_tests(tree: nodes.Template, lines: list[str]) -> list[TemplateProblem]:
    """``{{ x | nope }}`` parses, and only fails when the plan renders it: report it here, with a position.

    The renderer (toolkit.render) uses Jinja's built-in filters and tests (its ``join`` replaces the
    built-in one), so the parser's own tables are the reference.
    """
    problems = []
    for node_type, known, what, pattern in (
        (nodes.Filter, _parser().filters, "filter", r"\|\s*({name})\b"),
        (nodes.Test, _parser().tests, "test", r"\bis\s+(?:not\s+)?({name})\b"),
    ):
        for node in tree.find_all(node_type):
            if node.name in known:
                continue
            column, length = _locate(lines, node.lineno, pattern.format(name=re.escape(node.name)))
            hint = _suggest(node.name, known)
            problems.append(TemplateProblem(
                f"unknown {what} '{node.name}'" + (f" ({hint})" if hint else ""), node.lineno, column, length))
    return problems


# ------------------------------------------------------------------------------ where command values go


@dataclass(frozen=True)
class _Piece:
    skeleton_start: int
    template_start: int
    length: int  # in the template
    marker: bool


@dataclass
class CommandSkeleton:
    """The command template as shell: each ``{{ }}`` a marker word, ``{% %}`` tags and comments removed."""

    text: str
    pieces: list[_Piece]
    has_blocks: bool
    tags: list[tuple[int, int]]  # marker number -> (template offset, length) of its ``{{ ... }}``

    def template_offset(self, skeleton_offset: int) -> int:
        for piece in reversed(self.pieces):
            if piece.skeleton_start <= skeleton_offset:
                if piece.marker:
                    return piece.template_start
                return piece.template_start + min(skeleton_offset - piece.skeleton_start, piece.length)
        return 0


def command_skeleton(text: str, tag: str) -> CommandSkeleton | None:
    """None when the template does not lex (its syntax error is reported elsewhere)."""
    from toolkit import shell

    source = re.sub(r"\r\n?", "\n", text)
    try:
        tokens = list(_lexer_environment().lexer.tokeniter(source, None))
    except TemplateSyntaxError:
        return None
    parts: list[str] = []
    pieces: list[_Piece] = []
    tags: list[tuple[int, int]] = []
    has_blocks = False
    length = 0
    cursor = 0
    tag_start = None
    in_block = False
    for _line, kind, value in tokens:
        found = source.find(value, cursor) if value else cursor
        if found < 0 or source[cursor:found].strip():
            return None  # the tokens do not map back onto the text: no positions to give
        cursor = found + len(value)
        if kind == "variable_begin":
            tag_start = found
        elif kind == "variable_end" and tag_start is not None:
            word = shell.marker(tag, len(tags))
            tags.append((tag_start, cursor - tag_start))
            pieces.append(_Piece(length, tag_start, cursor - tag_start, True))
            parts.append(word)
            length += len(word)
            tag_start = None
        elif kind == "block_begin":
            in_block = True
            has_blocks = True
        elif kind == "block_end":
            in_block = False
        elif kind == "data" and tag_start is None and not in_block:
            pieces.append(_Piece(length, found, len(value), False))
            parts.append(value)
            length += len(value)
    return CommandSkeleton("".join(parts), pieces, has_blocks, tags)


_OPENING = {"lparen": "rparen", "lbracket": "rbracket", "lbrace": "rbrace"}
_BLOCKS = {"if", "for", "macro", "call", "filter", "with", "block", "autoescape", "set"}


def nesting_problem(text: str) -> TemplateProblem | None:
    """The first place where the template nests deeper than MAX_TEMPLATE_NESTING, or None.

    Counted on the lexer's tokens (which does not recurse), before Jinja's parser (which does): brackets,
    chains of unary operators (`- - 1`, `not not x`) and blocks (`{% if %}` in `{% for %}`...). A `{% set %}`
    without `=` is a block; with `=` it is not.
    """
    from toolkit.spec.limits import MAX_TEMPLATE_NESTING as limit

    source = re.sub(r"\r\n?", "\n", text)
    try:
        for problem in _nesting(_lexer_environment().lexer.tokeniter(source, None), limit):
            return problem
    except TemplateSyntaxError:
        pass  # where the lexer stops (unbalanced brackets...): reported by the parser, with its position
    return None


def tree_depth_problem(tree: nodes.Node) -> TemplateProblem | None:
    """A template whose syntax tree is deeper than MAX_TEMPLATE_TREE_DEPTH (measured without recursing)."""
    from toolkit.spec.limits import MAX_TEMPLATE_TREE_DEPTH as limit

    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return TemplateProblem(f"the template's expressions nest more than {limit} levels deep (a long chain "
                                   "of filters, attributes, indexes or operators?): no jobspec needs that",
                                   getattr(node, "lineno", None) or 1)
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())
    return None


def _nesting(tokens, limit: int):
    """Yields a TemplateProblem where the tokens nest deeper than ``limit`` (see nesting_problem)."""
    brackets = blocks = unary = ternary = 0
    block_words: list[str] = []  # the first words of the current {% %}
    previous = None  # the last token that is not whitespace, as (kind, value)
    for line, kind, value in tokens:
        if kind == "whitespace":
            continue
        if kind in ("block_begin", "variable_begin"):
            block_words, unary, ternary = [], 0, 0
        elif kind == "block_end":
            name = block_words[0] if block_words else ""
            if name in _BLOCKS and not (name == "set" and "=" in block_words):
                blocks += 1
            elif name.startswith("end"):
                blocks = max(blocks - 1, 0)
        elif len(block_words) < 3 and kind in ("name", "operator") and previous and previous[0] != "variable_begin":
            block_words.append(value)
        if kind == "operator" and value in ("(", "[", "{"):
            brackets += 1
        elif kind == "operator" and value in (")", "]", "}"):
            brackets = max(brackets - 1, 0)
        # Unary operators in a row (`- - 1`, `not not x`) and conditional expressions inside each other
        # (`a if b else c if d else ...`) are each one more level of Jinja's recursive parser.
        in_unary_place = previous is None or previous[0] in ("variable_begin", "block_begin") or (
            previous[0] == "operator" and previous[1] not in (")", "]", "}")) or (
            previous[0] == "name" and previous[1] in ("not", "and", "or", "in", "if", "else", "is"))
        if (kind == "operator" and value in ("-", "+") and in_unary_place) or (kind == "name" and value == "not"):
            unary += 1
        else:
            unary = 0
        if kind == "name" and value == "if" and previous and previous[0] != "block_begin":
            ternary += 1
        previous = (kind, value)
        if max(brackets, blocks, unary, ternary) > limit:
            what = ("brackets" if brackets > limit else "{% %} blocks" if blocks > limit
                    else "unary operators" if unary > limit else "conditional expressions")
            yield TemplateProblem(f"the template nests {what} more than {limit} levels deep: no jobspec needs "
                                  "that", line)
            return


@functools.cache
def _lexer_environment() -> SandboxedEnvironment:
    # The renderer's lexing options: newlines kept, no line statements or block trimming.
    return SandboxedEnvironment(keep_trailing_newline=True)


def command_placement_problems(text: str) -> list[TemplateProblem]:
    """Every ``{{ }}`` of a command template that is not a plain shell word, and shell syntax errors."""
    from toolkit import shell

    tag = "v"
    skeleton = command_skeleton(text, tag)
    if skeleton is None:
        return []
    analysis = shell.analyse(skeleton.text, shell.marker_pattern(tag))
    source = re.sub(r"\r\n?", "\n", text)
    problems = []
    for placement in analysis.placements:
        if placement.problem is None or placement.number >= len(skeleton.tags):
            continue
        offset, length = skeleton.tags[placement.number]
        line, column = _line_column(source, offset)
        shown = re.sub(r"\s+", " ", source[offset : offset + length])
        shown = shown if len(shown) <= 40 else shown[:36] + " }}"
        message = placement.problem.replace("{{ ... }}", shown, 1)
        message += f": {placement.advice}" if placement.advice else ""
        problems.append(TemplateProblem(message, line, column, length))
    if analysis.syntax_error is not None:
        offset, message = analysis.syntax_error
        line, column = _line_column(source, skeleton.template_offset(offset))
        if skeleton.has_blocks:
            problems.append(TemplateProblem(
                f"cannot check where values go: the command without its {{% %}} tags is {message} "
                "(each group's command is checked when the plan is made)", line, column, 1, "warning"))
        else:
            problems.append(TemplateProblem(
                f"the command is {message}; values can only be placed in valid shell", line, column, 1))
    return problems


def _line_column(source: str, offset: int) -> tuple[int, int]:
    line = source.count("\n", 0, offset) + 1
    return line, offset - (source.rfind("\n", 0, offset) + 1) + 1


def too_deep(text: str) -> bool:
    """Does check_template refuse this template for its nesting (so nothing else should parse or render it)?"""
    if nesting_problem(text) is not None:
        return True
    try:
        return tree_depth_problem(_parser().parse(text)) is not None
    except TemplateSyntaxError:
        return False
    except RecursionError:
        return True
