"""Render a jobspec's templates for one group.

Two renderers share one sandbox and one set of slots (``reads``, ``outputs``, ``group``, ``params``,
``resources``; see docs/jobspec.md, "Template slots"):

* :func:`render_command` renders the shell command. Every value that reaches the output is shell-quoted,
  so a read called ``a b'; touch ~/pwned #.fq`` reaches the tool as one argument and runs nothing. The
  literal text of the template (pipes, redirections) is the spec author's shell code and is left alone.
* :func:`render_text` renders plain text (register meta values); :func:`render_output_path` renders an
  output's path template and refuses paths that climb out of their storage root.

Both use ``StrictUndefined``: a template that names an unknown slot, or a field that is null for this group,
fails with a :class:`RenderError` naming the template, the group and the template line.

Hail Batch placeholders
-----------------------
In the real pipeline ``reads`` (and possibly ``outputs``) are Hail resource files, whose ``str()`` is a
placeholder such as ``__RESOURCE_FILE__3``. ``BashJob.command()`` then replaces every placeholder in the
command with ``${BATCH_TMPDIR}`` followed by ``shlex.quote(local path)``; for an input the local path is
``/inputs/<random>/<basename of the URI>``. Hail's replacement therefore assumes the placeholder sits
*outside* any shell quotes: bare, it becomes one correctly quoted word (checked on LocalBackend with a read
named ``a b'; touch pwned #.fq``); inside our single quotes Hail's own quotes would close ours and the
basename would be split and executed. Hail also substitutes placeholders wherever they appear, including in
text that came from metadata. Hence :func:`render_command`:

* renders with a random stand-in (unguessable, shell-safe) for each read or output whose value is a Hail
  placeholder, quotes the text around stand-ins, and only then puts the placeholders back, bare: so
  ``{{ reads[0] ~ '.bai' }}`` still works, and metadata cannot produce a bare placeholder;
* breaks up placeholder-shaped text in every value (``__''RESOURCE_FILE__3``: the same string for the shell,
  invisible to Hail's pattern), so metadata cannot make Hail splice in another file;
* refuses a rendered command in which Hail would still find a placeholder that is not one of this context's
  (written literally in the template, or formed by two adjacent values), or in which a filter altered a
  stand-in.

``${BATCH_TMPDIR}`` itself is inserted unquoted by Hail, so the backend must use a scratch directory without
whitespace or glob characters.

Where values land, and limits
-----------------------------
Quoting makes a value one plain shell word, which is safe only where the shell reads plain words. So a
command's values are first rendered as marker words (``toolkit value`` filter, added to every ``{{ }}`` by
_Bounding), the rendered text is parsed as bash (toolkit/shell.py), and a group whose value lands inside
quotes, a heredoc, arithmetic, ``[[ ]]``, backticks... or that would start an argument with '-' from
metadata is refused with a RenderError; only then are the quoted values put in. Simple templates get the
same analysis once per template. Every render is bounded (MAX_STEPS, MAX_SECONDS, MAX_TEXT, MAX_RANGE):
_BoundedSandbox checks operators and calls, every filter is wrapped, loops and ``~`` are rewritten to count
and check sizes before anything large is built. See docs/jobspec.md, "Where values can go".

Simple templates
----------------
Planning renders a few templates per group for thousands of groups, and most are "simple": literal text and
``{{ slot }}``, ``{{ slot.name }}``, ``{{ slot['name'] }}``, ``{{ reads[0] }}``, with no filter, test or
block (register meta values often have no template syntax at all). Such a template is parsed once by the same
environment and kept as literal segments and slot lookups, then rendered without Jinja's per-render machinery
(context, generated code, sandbox calls where they cannot matter). The lookups and the quoting are the same
code, so output, ``RenderError`` messages and line numbers are identical; tests/plan/test_render.py checks
this against the Jinja path with generated templates and hostile values. Anything else goes through Jinja.
What it saves is measured by benchmarks/render_fast_path.py against the Jinja-only renderer in the same run
(at 10,000 groups about a second of CPU: two thirds of planning's rendering, a quarter of building the batch).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import os
import re
import secrets
import shlex
import time
import types
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jinja2
from jinja2 import StrictUndefined, nodes, pass_context, pass_environment
from jinja2.filters import make_attrgetter
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.visitor import NodeTransformer

from toolkit.errors import EXIT_SPEC, ToolkitError

__all__ = [
    "ALLOW_LEADING_DASH",
    "MAX_STEPS",
    "MAX_TEXT",
    "parsing_environment",
    "CommandContext",
    "RenderError",
    "ShellWords",
    "constant_text",
    "render_command",
    "render_output_path",
    "render_text",
    "render_value",
    "SLOT_NAMES",
]

# The uid patterns of hailtop.batch (ResourceFile, ResourceGroup, PythonResult, Job, Batch), which
# BashJob.command() substitutes or rejects; kept here so that importing this module does not import hail.
HAIL_PLACEHOLDER = re.compile(r"__(?:RESOURCE_FILE|RESOURCE_GROUP|PYTHON_RESULT|JOB|BATCH)__\d+")

SLOT_NAMES = ("reads", "outputs", "group", "params", "resources", "read", "groups", "project")
# Slots whose values the spec author and the person running the toolkit choose, not metadata: a value from them
# may start with '-' (a negative number param), see "Values that start with -" in docs/jobspec.md. The project
# name is checked when the command line or the config gives it (toolkit.settings).
TRUSTED_SLOTS = frozenset({"params", "resources", "project"})

# Only blanks split words; any other separator (a newline would start a new command) is quoted.
_WORD_SEPARATOR = re.compile(r"[ \t]+")


class RenderError(ToolkitError):
    """A template could not be rendered for a group (unknown slot, null value, sandbox violation...).

    ``limit`` is true when the render needed more than a group's render may take (MAX_STEPS...).
    """

    exit_code = EXIT_SPEC

    def __init__(self, problem: str, *, template_name: str, group_id: str | None, lineno: int | None = None,
                 limit: bool = False):
        self.limit = limit
        where = f"{template_name} template"
        if lineno is not None:
            where += f", line {lineno}"
        if group_id is not None:
            where += f", group {group_id if group_id.isprintable() else repr(group_id)}"
        super().__init__(f"{where}: {problem}")
        self.problem = problem
        self.template_name = template_name
        self.group_id = group_id
        self.lineno = lineno


class ShellWords(str):
    """Text that is already shell syntax (quoted words): the command renderer inserts it as it is.

    Only this module creates it; templates get it from ``{{ reads }}`` and the ``join`` filter, never from
    metadata, and there is deliberately no filter that turns an arbitrary value into it.
    """


@dataclass
class CommandContext:
    """The values one group's templates can use.

    ``reads`` are the localised input paths (or Hail placeholders), ``outputs`` map output names to the
    paths the job writes, ``group`` holds ``id`` and every ``inputs.fields`` value, ``params`` the resolved
    params and ``resources`` the resolved ``cpu``, ``memory`` and ``storage``.
    """

    reads: Sequence[str] = ()
    outputs: Mapping[str, str] = field(default_factory=dict)
    group: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    resources: Mapping[str, Any] = field(default_factory=dict)
    # `scope: read`: the job's read file: path (localised, as in `reads`), location, basename, size, checksum, position.
    read: Mapping[str, Any] | None = None
    # `scope: project`: every member group: id, its fields, and `reads` (localised paths, as in `reads`).
    groups: Sequence[Mapping[str, Any]] | None = None
    project: str | None = None
    job_id: str | None = None  # what errors name: the group, "<group>/<read>", or the project

    @property
    def group_id(self) -> str | None:
        if self.job_id is not None:
            return self.job_id
        group_id = self.group.get("id")
        return None if group_id is None else str(group_id)


def render_command(template: str, context: CommandContext, *, name: str = "command") -> str:
    """The shell command for one group: every value shell-quoted, literal template text untouched."""
    stand_in_of = _stand_ins_for(context)
    placeholder_of = {stand_in: placeholder for placeholder, stand_in in stand_in_of.items()}
    token = _STAND_INS.set(placeholder_of)
    try:
        command = _render(_shell_environment(), template, context, name, substitute=stand_in_of)
    finally:
        _STAND_INS.reset(token)
    if placeholder_of:
        # Plain replacement finds exactly the stand-ins _STAND_IN would: none can start inside another match.
        for stand_in, placeholder in placeholder_of.items():
            command = command.replace(stand_in, placeholder)
        # For ASCII text the case-insensitive pattern needs "toolkitfile" in the lower-cased text (only some
        # non-ASCII letters, such as the Kelvin sign, also match ASCII ones).
        maybe_altered = not command.isascii() or "toolkitfile" in command.lower()
        if maybe_altered and _ALTERED_STAND_IN.search(command):
            raise RenderError(
                "a read or output that is a Hail Batch file was changed by a filter; use it as it is",
                template_name=name,
                group_id=context.group_id,
            )
    for placeholder in HAIL_PLACEHOLDER.findall(command) if "__" in command else ():
        if placeholder not in stand_in_of:
            raise RenderError(
                f"the rendered command contains {placeholder!r}, which Hail Batch would replace with a "
                "file path; do not write Hail placeholders in the template, and separate a slot from a "
                "following slot or digit",
                template_name=name,
                group_id=context.group_id,
            )
    return command


def _stand_ins_for(context: CommandContext) -> dict[str, str]:
    """Hail placeholder -> a stand-in that metadata cannot guess, for each read or output that is one."""
    nonce = ""
    stand_in_of: dict[str, str] = {}
    for value in (*context.reads, *context.outputs.values()):
        text = str(value)
        # Every placeholder starts with "__"; the check spares the regex for ordinary paths.
        if text.startswith("__") and text not in stand_in_of and HAIL_PLACEHOLDER.fullmatch(text):
            nonce = nonce or secrets.token_hex(8)
            stand_in_of[text] = f"toolkitfile{nonce}_{len(stand_in_of)}_"
    return stand_in_of


def render_text(template: str, context: CommandContext, *, name: str) -> str:
    """A plain-text template (a register meta value...): same slots and strictness, no quoting."""
    return _render(_text_environment(), template, context, name)


# A template that is one `{{ expression }}` and nothing else (blanks aside).
_LONE_EXPRESSION = re.compile(r"\s*\{\{(?:(?!\}\}|\{\{|\{%|\{#).)*\}\}\s*", re.DOTALL)
# The values it inserts, while render_value renders it (None otherwise).
_RAW_VALUES: contextvars.ContextVar[list | None] = contextvars.ContextVar("toolkit_raw_values", default=None)


def render_value(template: str, context: CommandContext, *, name: str) -> Any:
    """``render_text``, except that a template that is a lone expression giving a number or a boolean keeps
    that JSON type (``{{ reads | length }}`` is 2, not "2"): what a register meta value records."""
    if "{{" not in template or not _LONE_EXPRESSION.fullmatch(template):
        return render_text(template, context, name=name)
    inserted: list = []
    token = _RAW_VALUES.set(inserted)
    try:
        text = render_text(template, context, name=name)
    finally:
        _RAW_VALUES.reset(token)
    if len(inserted) == 1 and _is_json_scalar(inserted[0]):
        return inserted[0]
    return text


def constant_text(template: str) -> str | None:
    """What ``render_text`` and ``render_value`` give for ``template`` in every context when it inserts no value
    (plain text, comments, raw blocks), else None: a plan works such a register meta value out once, not once
    for each of its jobs."""
    if not _simple_path_enabled:
        return None
    try:
        simple = _simple_template(_TEXT_ENVIRONMENT, template)
    except (RecursionError, SyntaxError):  # rendered (and reported) as any other template
        return None
    return simple.literal if simple is not None else None


def _is_json_scalar(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return abs(value) < 2**63  # what Metamist's JSON columns hold exactly
    return isinstance(value, float) and math.isfinite(value)


def render_output_path(template: str, context: CommandContext, *, name: str) -> str:
    """An output's path, relative to its storage root; refuses paths that would leave that root."""
    path = render_text(template, context, name=name)
    problem = _output_path_problem(path)
    if problem:
        raise RenderError(
            f"{problem} (rendered path: {path!r})", template_name=name, group_id=context.group_id
        )
    return path


# An ASCII path every rule below accepts: segments of 1-255 characters (= bytes), no control character, none
# "." or "..". Its first segment is not empty, so it is not absolute; no segment is empty, so it holds no "//",
# so it is no URL. Checked first because nearly every path is one (a plan of 100,000 groups renders 200,000).
_PLAIN_SEGMENT = r"(?!\.\.?(?:/|\Z))[^/\x00-\x1f\x7f]{1,255}"
_PLAIN_RELATIVE_PATH = re.compile(f"{_PLAIN_SEGMENT}(?:/{_PLAIN_SEGMENT})*")


def _output_path_problem(path: str) -> str | None:
    if path.isascii() and _PLAIN_RELATIVE_PATH.fullmatch(path):
        return None
    return _output_path_rules(path)


def _output_path_rules(path: str) -> str | None:
    if not path:
        return "the output path is empty"
    if path.startswith("/") or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", path):
        return "the output path must be relative to its storage root, not absolute or a URL"
    if re.search(r"[\x00-\x1f\x7f]", path):
        return "the output path contains a control character (newline, NUL...), which object stores reject"
    segments = path.split("/")
    if any(segment in (".", "..") for segment in segments):
        return "the output path may not contain '.' or '..' segments"
    if any(segment == "" for segment in segments):
        return "the output path has an empty segment (a doubled or trailing '/', or an empty value)"
    if any(len(segment.encode("utf-8", "surrogatepass")) > MAX_PATH_SEGMENT_BYTES for segment in segments):
        # Local storage cannot hold it (ENAMETOOLONG): refused now, not as a failed job after the run.
        return f"a folder or file name in the output path is longer than {MAX_PATH_SEGMENT_BYTES} bytes"
    return None


MAX_PATH_SEGMENT_BYTES = 255  # NAME_MAX of Linux filesystems


# ---------------------------------------------------------------------------------------------- rendering

_STAND_IN = re.compile(r"toolkitfile[0-9a-f]{16}_\d+_")
_ALTERED_STAND_IN = re.compile(r"toolkitfile[0-9a-f]{16}", re.IGNORECASE)
# Stand-in -> Hail placeholder, for the render in progress.
# (The default is an immutable, empty mapping: never mutated, only replaced per render.)
_STAND_INS: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "toolkit_stand_ins", default=types.MappingProxyType({})
)


def _render(
    environment: jinja2.Environment,
    template: str,
    context: CommandContext,
    name: str,
    substitute: Mapping[str, str] | None = None,
) -> str:
    try:
        simple = _simple_template(environment, template) if _simple_path_enabled else None
        if simple is None:
            compiled = _compile(environment, template)
    except jinja2.TemplateSyntaxError as error:
        problem = error.message or "syntax error"
        raise RenderError(problem, template_name=name, group_id=context.group_id, lineno=error.lineno) from None
    except (RecursionError, SyntaxError) as error:
        # Jinja's parser and code generator recurse per level of nesting, and Python's compiler refuses code
        # nested too deeply (SyntaxError, IndentationError): `{{ x|f|f|f... }}` a thousand times, 300 nested
        # blocks. toolkit validate refuses the usual cases first (toolkit.spec._templates.nesting_problem).
        raise RenderError(
            f"the template nests too deeply to be compiled ({type(error).__name__})", template_name=name,
            group_id=context.group_id, limit=True,
        ) from None
    if simple is not None:
        return _render_simple(simple, environment, context, name, substitute or {})
    placed = _PlacedValues(compiled.expressions) if compiled.expressions is not None else None
    budget_token = _BUDGET.set(_Budget())
    placed_token = _PLACED.set(placed)
    try:
        text = _generate(compiled.template, _slots(context, substitute or {}))
        if placed is not None:
            text = _put_values_in(text, placed, name, context)
        return text
    except _TEMPLATE_FAILURES as error:
        raise RenderError(
            _problem_of(error), template_name=name, group_id=context.group_id, lineno=_template_line(error),
            limit=isinstance(error, _LimitExceeded),
        ) from None
    except RecursionError as error:
        raise RenderError(
            "the template nests calls too deeply (a macro that calls itself?)",
            template_name=name, group_id=context.group_id, lineno=_template_line(error), limit=True,
        ) from None
    finally:
        _PLACED.reset(placed_token)
        _BUDGET.reset(budget_token)


def _generate(template: jinja2.Template, slots: dict[str, Any]) -> str:
    """Render, refusing output larger than MAX_TEXT while it is generated (not after it filled memory)."""
    parts = []
    size = 0
    for part in template.generate(slots):
        size += len(part)
        if size > MAX_TEXT:
            raise _LimitExceeded(f"the rendered text is longer than {MAX_TEXT:,} characters")
        parts.append(part)
    return "".join(parts)


class _ValueProblem(Exception):
    """A value that cannot be rendered; turned into a RenderError with the template's name."""


class _LimitExceeded(_ValueProblem):
    """The template needs more time, steps or memory than one group's render may take."""


# What a template can raise while rendering (filters fail with the ordinary Python exceptions).
_TEMPLATE_FAILURES = (
    jinja2.TemplateError, _ValueProblem, TypeError, ValueError, ArithmeticError, LookupError, AttributeError
)


def _problem_of(error: Exception) -> str:
    if isinstance(error, jinja2.UndefinedError):
        if re.fullmatch(r"'\w+' is undefined", str(error)):
            return f"{error} (the slots are: {', '.join(SLOT_NAMES)})"
        return str(error)
    if isinstance(error, SecurityError):
        return f"not allowed in a jobspec template: {error}"
    if isinstance(error, _ValueProblem):
        return str(error)
    return f"{type(error).__name__}: {error}"


@dataclass(frozen=True)
class _Compiled:
    template: jinja2.Template
    # Per {{ }} of a command template (None for text templates): its line, and whether a leading '-' is
    # allowed because the expression uses only params, resources and constants (values the spec author
    # and the person running the toolkit choose, not metadata).
    expressions: tuple[tuple[int, bool], ...] | None


@functools.lru_cache(maxsize=512)
def _compile(environment: jinja2.Environment, template: str) -> _Compiled:
    # Compiling is far slower than rendering and a run renders the same few templates for every group.
    tree = environment.parse(template)
    marking = environment.finalize is _finalize_shell
    # Names the template binds itself ({% set %}, {% for %}, {% with %}, macro and call arguments): if `params` or
    # `resources` is one of them it may hold metadata (`{% set params = group %}`), so it is not trusted.
    bound = {name.name for name in tree.find_all(nodes.Name) if name.ctx in ("store", "param")}
    bounding = _Bounding(marking, trusted_slots=TRUSTED_SLOTS - bound)
    tree = bounding.visit(tree)
    expressions = tuple(bounding.expressions) if marking else None
    return _Compiled(environment.from_string(tree), expressions)


class _Bounding(NodeTransformer):
    """Rewrites a parsed template so that rendering it is bounded, and (commands) its values are placed.

    * every ``{% for %}`` iterates through ``toolkit iterate`` (a step budget);
    * every ``~`` joins through ``toolkit concat`` (a size check before the text is built);
    * in a command, every ``{{ expr }}`` becomes ``{{ expr | toolkit value(N) }}``, which quotes the value
      and leaves a marker word in its place (see _put_values_in).

    The filter names contain a space, so no template can name them.
    """

    def __init__(self, marking: bool, trusted_slots: frozenset[str] | set[str] = frozenset()):
        self.marking = marking
        self.trusted_slots = trusted_slots
        self.expressions: list[tuple[int, bool]] = []

    def visit_For(self, node: nodes.For) -> nodes.Node:
        node = self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "toolkit iterate", [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        node = self.generic_visit(node)
        operands = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(operands, "toolkit concat", [], [], None, None, lineno=node.lineno)

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        node = self.generic_visit(node)
        if self.marking:
            node.nodes = [child if isinstance(child, nodes.TemplateData) else self._mark(child)
                          for child in node.nodes]
        return node

    def _mark(self, expression: nodes.Expr) -> nodes.Expr:
        names = {name.name for name in expression.find_all(nodes.Name) if name.ctx == "load"}
        if isinstance(expression, nodes.Name) and expression.ctx == "load":
            names.add(expression.name)
        trusted = names <= self.trusted_slots
        self.expressions.append((expression.lineno, trusted))
        number = nodes.Const(len(self.expressions) - 1, lineno=expression.lineno)
        return nodes.Filter(expression, "toolkit value", [number], [], None, None, lineno=expression.lineno)


def _template_line(error: BaseException) -> int | None:
    # Jinja rewrites tracebacks so that frames of template code carry the template's line numbers.
    lineno = None
    traceback = error.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == "<template>":
            lineno = traceback.tb_lineno
        traceback = traceback.tb_next
    return lineno


# ------------------------------------------------------------------------------------------------- slots


class _Slots:
    """A read-only namespace reachable as ``slots.name`` and ``slots['name']``.

    A dict would do, except that its methods shadow fields (``group.items`` would be ``dict.items``) and its
    missing-key errors do not say which slot was meant.
    """

    __slots__ = ("_label", "_values")

    def __init__(self, label: str, values: Mapping[str, Any]):
        self._label = label
        self._values = values

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._lookup(name)

    def __getitem__(self, name: Any) -> Any:
        return self._lookup(name)

    def _lookup(self, name: Any) -> Any:
        if isinstance(name, str) and name.isidentifier():
            label = f"{self._label}.{name}"
        else:
            label = f"{self._label}[{name!r}]"
        try:
            value = self._values[name]
        except (KeyError, TypeError):
            known = ", ".join(sorted(map(str, self._values))) or "none"
            return StrictUndefined(hint=f"unknown slot {label} (known: {known})", name=str(name))
        if value is None:
            return StrictUndefined(hint=f"{label} has no value (null) for this group", name=str(name))
        return _wrap(label, value)

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __repr__(self) -> str:
        return f"<{self._label}>"


class _Items(tuple):
    """A read-only list whose out-of-range index names the slot instead of failing silently or vaguely."""

    _label: str = "list"

    def __getitem__(self, index: Any) -> Any:
        try:
            return super().__getitem__(index)
        except IndexError:
            return StrictUndefined(hint=f"{self._label}[{index}] does not exist: it has {len(self)} entries")


def _items(label: str, values: Iterable[Any]) -> _Items:
    items = _Items(values)
    items._label = label
    return items


def _wrap(label: str, value: Any) -> Any:
    if isinstance(value, Mapping):
        return _Slots(label, value)
    if isinstance(value, (list, tuple)):
        return _items(label, (_wrap(f"{label}[{i}]", item) for i, item in enumerate(value)))
    return value


def _slots(context: CommandContext, substitute: Mapping[str, str]) -> dict[str, Any]:
    return {slot: build(context, substitute) for slot, build in _SLOT_BUILDERS.items()}


def _path_of(value: Any, substitute: Mapping[str, str]) -> str:
    # Hail resource files are str subclasses whose str() is the placeholder; keep only that.
    text = str(value)
    return substitute.get(text, text) if substitute else text


def _reads_slot(context: CommandContext, substitute: Mapping[str, str]) -> _Items:
    return _items("reads", [_path_of(value, substitute) for value in context.reads])


def _outputs_slot(context: CommandContext, substitute: Mapping[str, str]) -> _Slots:
    return _Slots("outputs", {key: _path_of(value, substitute) for key, value in context.outputs.items()})


class ReadFile(str):
    """``{{ read }}``: the read's localised path, with its ``location``, ``basename``, ``size``, ``checksum`` and
    ``position`` as attributes (``{{ read.basename }}``). A ``str``, so it is quoted and placed like a path."""

    __slots__ = ("_fields",)

    def __new__(cls, path: str, fields: Mapping[str, Any]):
        value = super().__new__(cls, path)
        value._fields = _Slots("read", {**fields, "path": path})
        return value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._fields._lookup(name)


def _read_slot(context: CommandContext, substitute: Mapping[str, str]) -> Any:
    if context.read is None:
        return StrictUndefined(hint="read is only defined with `scope: read` (one job per read file)", name="read")
    path = _path_of(context.read.get("path", ""), substitute)
    return ReadFile(path, {key: value for key, value in context.read.items() if key != "path"})


def _groups_slot(context: CommandContext, substitute: Mapping[str, str]) -> Any:
    if context.groups is None:
        return StrictUndefined(hint="groups is only defined with `scope: project` (one job over every group)",
                               name="groups")
    members = []
    for member in context.groups:
        fields = dict(member)
        fields["reads"] = [_path_of(value, substitute) for value in member.get("reads", ())]
        members.append(fields)
    return _wrap("groups", members)


def _project_slot(context: CommandContext, substitute: Mapping[str, str]) -> Any:
    if context.project is None:
        return StrictUndefined(hint="project has no value here", name="project")
    return context.project


_SLOT_BUILDERS = {
    "reads": _reads_slot,
    "outputs": _outputs_slot,
    "group": lambda context, substitute: _Slots("group", context.group),
    "params": lambda context, substitute: _Slots("params", context.params),
    "resources": lambda context, substitute: _Slots("resources", context.resources),
    "read": _read_slot,
    "groups": _groups_slot,
    "project": _project_slot,
}
assert tuple(_SLOT_BUILDERS) == SLOT_NAMES


# --------------------------------------------------------------------------------------------- quoting


def _as_text(value: Any) -> str:
    if value is None:
        raise _ValueProblem("a value in the template is null")
    if isinstance(value, (_Slots, Mapping)):
        raise _ValueProblem(f"{value!r} is a set of named values; use one of them, e.g. {{{{ group.id }}}}")
    if isinstance(value, bytes):
        raise _ValueProblem("a value in the template is bytes, not text")
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    if "tkv" in text:
        placed = _PLACED.get()
        if placed is not None:
            # Text that holds values placed earlier in this render (a macro's or a {% set %} block's
            # output): those values are already quoted, as the text that holds them shows them.
            text = placed.expand(text)
    if "\x00" in text:
        raise _ValueProblem(f"a value contains a NUL character, which no argument or path can hold: {text!r}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _ValueProblem(f"a value is not valid Unicode text: {text!r}") from None
    return text


def _is_word_list(value: Any) -> bool:
    return isinstance(value, Iterable) and not isinstance(value, (str, bytes, Mapping, _Slots))


def _quote_word(value: Any) -> str:
    """One value as one shell word (see the module docstring for Hail placeholders)."""
    if isinstance(value, ShellWords):
        return value
    text = _as_text(value)
    stand_ins = _STAND_INS.get()
    if not stand_ins:
        return _quote_plain(text)
    pieces: list[str] = []
    position = 0
    for match in _STAND_IN.finditer(text):
        if match.group() not in stand_ins:
            continue
        if match.start() > position:
            pieces.append(_quote_plain(text[position : match.start()]))
        pieces.append(match.group())
        position = match.end()
    if position < len(text) or not pieces:
        pieces.append(_quote_plain(text[position:]))
    return "".join(pieces)


def _quote_plain(text: str) -> str:
    # The inserted '' is an empty word part for the shell, quoted region or not (placeholders hold no quote),
    # but it hides the placeholder from Hail's substitution.
    quoted = shlex.quote(text)
    if "__" not in quoted:  # every placeholder starts with "__", and quoting never joins two "_"
        return quoted
    return HAIL_PLACEHOLDER.sub(lambda match: match.group()[:2] + "''" + match.group()[2:], quoted)


def _finalize_shell(value: Any) -> str:
    if type(value) is _Sentinel:
        return value
    if isinstance(value, _DashAllowed):
        value = value.value
    if _is_word_list(value):
        return ShellWords(" ".join(_quote_word(item) for item in value))
    return _quote_word(value)


def _finalize_text(value: Any) -> str:
    if isinstance(value, _DashAllowed):
        value = value.value
    recorder = _RAW_VALUES.get()
    if recorder is not None:
        recorder.append(value)
    if _is_word_list(value):
        return " ".join(_as_text(item) for item in value)
    return _as_text(value)


@pass_environment
def _shell_join(
    environment: jinja2.Environment, value: Any, separator: Any = "", attribute: Any = None
) -> ShellWords:
    """``join`` for commands: each item is quoted; a blank separator keeps the items separate words, any
    other separator (quoted too) joins them into one word."""
    if not _is_word_list(value):
        raise _ValueProblem("join needs a list, e.g. {{ reads | join(' ') }}")
    items = list(value)
    if attribute is not None:
        items = list(map(make_attrgetter(environment, attribute), items))
    separator = _as_text(separator)
    if _WORD_SEPARATOR.fullmatch(separator):
        words = ShellWords(separator.join(_quote_word(item) for item in items))
        words.words = tuple(_as_text(item) for item in items)
        return words
    # Any other separator makes one word, as in Jinja's join: an empty list gives one empty argument.
    if not items:
        words = ShellWords("''")
    else:
        words = ShellWords(
            (_quote_word(separator) if separator else "").join(_quote_word(item) for item in items)
        )
    words.words = (separator.join(_as_text(item) for item in items),)
    return words


def parsing_environment() -> ImmutableSandboxedEnvironment:
    """The environment whose parser, filters, tests and globals templates are checked against (validate)."""
    return _SHELL_ENVIRONMENT


def _shell_environment() -> ImmutableSandboxedEnvironment:
    return _SHELL_ENVIRONMENT


def _text_environment() -> ImmutableSandboxedEnvironment:
    return _TEXT_ENVIRONMENT


# ---------------------------------------------------------------------------------- where values go

ALLOW_LEADING_DASH = "allow_leading_dash"


class _DashAllowed:
    """A value the template marked with ``| allow_leading_dash``: it may start an argument with '-'."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __str__(self) -> str:
        return str(self.value)


def _allow_leading_dash(value: Any) -> Any:
    return _DashAllowed(value)


class _Sentinel(str):
    """The marker word a command's value leaves in the rendered text until its placement is checked."""


@dataclass
class _PlacedValue:
    quoted: str
    words: tuple[str, ...]  # the value's words as the program receives them
    dash_allowed: bool
    lineno: int


class _PlacedValues:
    """The values of one command render, each behind a marker word (toolkit.shell.marker)."""

    def __init__(self, expressions: tuple[tuple[int, bool], ...]):

        self.expressions = expressions
        self.nonce = _MARKER_NONCE
        self.pattern = _MARKER
        self.values: list[_PlacedValue] = []

    def add(self, value: _PlacedValue) -> _Sentinel:
        from toolkit import shell

        self.values.append(value)
        return _Sentinel(shell.marker(self.nonce, len(self.values) - 1))

    def expand(self, text: str) -> str:
        """Text that already holds placed values (a macro's output): the quoted values put back in."""
        return self.pattern.sub(lambda match: self.values[int(match.group(1))].quoted, text)


# Markers are unguessable for metadata (a random tag per process), and the pattern is compiled once.
_MARKER_NONCE = secrets.token_hex(6)
_MARKER = re.compile(rf"tkv{_MARKER_NONCE}n(\d+)x")
_PLACED: contextvars.ContextVar[_PlacedValues | None] = contextvars.ContextVar("toolkit_placed", default=None)


@pass_context
def _place_value(context: Any, value: Any, expression: int) -> _Sentinel:
    placed = _PLACED.get()
    if placed is None:  # cannot happen: only command templates are compiled with this filter
        raise _ValueProblem("internal: a command value outside a command render")
    lineno, trusted = placed.expressions[expression]
    dash_allowed = trusted
    if isinstance(value, _DashAllowed):
        value, dash_allowed = value.value, True
    _check_size(value, "a value")
    quoted = _finalize_shell(value)
    if isinstance(quoted, ShellWords) and getattr(quoted, "words", None) is not None:
        words = quoted.words
    elif _is_word_list(value):
        words = tuple(_as_text(item) for item in value)
    else:
        words = (_as_text(value),)
    return placed.add(_PlacedValue(quoted, words, dash_allowed, lineno))


def _put_values_in(text: str, placed: _PlacedValues, name: str, context: CommandContext) -> str:
    """Check where each value landed in the rendered command, then put the quoted values in."""
    if placed.values:
        analysis = _analyse_command(text)
        for placement in analysis.placements:
            if placement.number >= len(placed.values):
                raise RenderError("a value's marker was changed by the template", template_name=name,
                                  group_id=context.group_id)
            value = placed.values[placement.number]
            problem = _placement_problem(placement, value.words, value.dash_allowed)
            if problem is None and analysis.syntax_error is not None:
                problem = (f"the command is {analysis.syntax_error[1]} (as the toolkit's shell parser reads it), "
                           "so where its values land cannot be checked")
            if problem:
                raise RenderError(problem, template_name=name, group_id=context.group_id, lineno=value.lineno)
        text = placed.pattern.sub(lambda match: placed.values[int(match.group(1))].quoted, text)
    if "tkv" in text.lower() and re.search(f"tkv{placed.nonce}", text, re.IGNORECASE):
        raise RenderError(
            "a filter changed a value after it was quoted (a {% filter %} block, or a macro's output passed "
            "through a filter): apply filters to the value itself", template_name=name, group_id=context.group_id,
        )
    return text


@functools.lru_cache(maxsize=256)
def _analyse_command(skeleton: str) -> Any:
    # Groups of a run mostly render the same skeleton (the same text around numbered markers): parse it once.
    from toolkit import shell

    return shell.analyse(skeleton, _MARKER)


def _placement_problem(placement: Any, words: Sequence[str], dash_allowed: bool) -> str | None:
    """Why these words cannot go at this placement (toolkit.shell.Placement), or None."""
    if placement.problem:
        return placement.problem + (f": {placement.advice}" if placement.advice else "")
    if placement.one_word and len(words) != 1:
        return (f"{{{{ ... }}}} gives {len(words)} words where the shell takes exactly one (an assignment, a "
                "redirection, a case subject): join them into one value, e.g. | join(',')")
    if dash_allowed:
        return None
    for index, word in enumerate(words):
        starts_argument = placement.argument_start if index == 0 else not placement.one_word
        if starts_argument and not placement.after_end_of_options and word.startswith("-"):
            shown = word if len(word) <= 40 else word[:37] + "..."
            return (f"the value {shown!r} starts with '-', so the program would read it as an option: place it "
                    f"after a -- argument (tool -- {{{{ ... }}}}), or mark it with | {ALLOW_LEADING_DASH} if "
                    "the program must read it as an option")
    return None


# ------------------------------------------------------------------------------------------- limits
# One group's render may not take more than these; a template (or metadata) that needs more is refused for
# that group with a RenderError. `toolkit validate` renders each template once with stand-in values under
# the same limits, so a template that exceeds them whatever the metadata is an error before any plan.

MAX_TEXT = 1_000_000  # characters of any value the template builds, and of the rendered text
MAX_RANGE = 100_000  # items of range()
MAX_STEPS = 200_000  # loop iterations + calls + filters + operators + output values
MAX_SECONDS = 2.0  # wall clock, checked every few steps
MAX_INT_BITS = 100_000  # an integer result of * or ** (10**30000)


class _Budget:
    __slots__ = ("steps", "deadline")

    def __init__(self) -> None:
        self.steps = MAX_STEPS
        self.deadline = time.monotonic() + MAX_SECONDS


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("toolkit_budget", default=None)


def _tick() -> None:
    budget = _BUDGET.get()
    if budget is None:
        return
    budget.steps -= 1
    if budget.steps < 0:
        raise _LimitExceeded(f"rendering takes more than {MAX_STEPS:,} steps (loops over large ranges?)")
    if not budget.steps & 255 and time.monotonic() > budget.deadline:
        raise _LimitExceeded(f"rendering takes longer than {MAX_SECONDS:g} s")


def _weight(value: Any, limit: int = MAX_TEXT, depth: int = 0) -> int:
    """About how many characters ``value`` becomes as text; stops counting once past ``limit``."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 5
    if isinstance(value, int):
        return value.bit_length() // 3 + 2
    if isinstance(value, float):
        return 24
    if isinstance(value, range):
        return len(value) * 8
    if isinstance(value, _DashAllowed):
        return _weight(value.value, limit, depth)
    if depth > 20:
        return limit + 1
    if isinstance(value, (_Slots, Mapping)):
        items: Iterable[Any] = (part for key in value for part in (key, _get_quietly(value, key)))
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = value
    else:
        return 64
    total = 2
    for item in items:
        total += _weight(item, limit - total, depth + 1) + 2
        if total > limit:
            break
    return total


def _get_quietly(mapping: Any, key: Any) -> Any:
    try:
        return mapping._values[key] if isinstance(mapping, _Slots) else mapping[key]
    except Exception:
        return None


def _check_size(value: Any, what: str) -> None:
    if not isinstance(value, str) or len(value) > 4096:
        if _weight(value) > MAX_TEXT:
            raise _LimitExceeded(f"{what} would be longer than {MAX_TEXT:,} characters")


def _check_arguments(args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    total = 0
    for argument in (*args, *kwargs.values()):
        if isinstance(argument, int) and not isinstance(argument, bool) and abs(argument) > MAX_TEXT:
            raise _LimitExceeded(f"a number argument larger than {MAX_TEXT:,} ({argument:.3g})")
        total += _weight(argument, MAX_TEXT - total)
        if total > MAX_TEXT:
            raise _LimitExceeded(f"the arguments of a call are longer than {MAX_TEXT:,} characters")


def _format_estimate(template: Any, arguments: Sequence[Any]) -> None:
    """``'%s'|format``, ``'...' % x``, ``'{}'.format``: refuse what would build a text over MAX_TEXT."""
    if not isinstance(template, str):
        return
    widths = [int(digits) for digits in re.findall(r"\d+", template) if len(digits) < 12] or [0]
    if max(widths) > MAX_TEXT or any(len(digits) >= 12 for digits in re.findall(r"\d+", template)):
        raise _LimitExceeded(f"a format width larger than {MAX_TEXT:,}")
    fields = template.count("%") + template.count("{")
    largest = max((_weight(argument) for argument in arguments), default=0)
    if len(template) + fields * (largest + max(widths)) > MAX_TEXT:
        raise _LimitExceeded(f"formatting would build a text longer than {MAX_TEXT:,} characters")


def _estimate_method(owner: str, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """String methods whose result can be far longer than their inputs."""
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        count = owner.count(args[0]) if args[0] else len(owner) + 1
        if len(owner) + count * max(len(args[1]) - len(args[0]), 0) > MAX_TEXT:
            raise _LimitExceeded(f"replace would build a text longer than {MAX_TEXT:,} characters")
    elif name == "join" and args:
        items = list(args[0]) if not isinstance(args[0], (str, list, tuple)) else args[0]
        if _weight(items) + len(owner) * len(items) > MAX_TEXT:
            raise _LimitExceeded(f"join would build a text longer than {MAX_TEXT:,} characters")
    elif name in ("format", "format_map"):
        _format_estimate(owner, [*args, *kwargs.values()])
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(size, int) and owner.count("\t") * size > MAX_TEXT:
            raise _LimitExceeded(f"expandtabs would build a text longer than {MAX_TEXT:,} characters")
    elif name in ("translate", "maketrans"):
        raise _LimitExceeded(f"str.{name} is not available in templates")


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, with every operator that can build large values, every call and every filter bounded."""

    intercepted_binops = frozenset({"*", "**", "%", "+", "//"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "**" and type(left) in (int, bool) and type(right) in (int, bool) and right > 0:
            if max(abs(left).bit_length() - 1, 0) * right > MAX_INT_BITS:
                raise _LimitExceeded(f"the power would have more than {MAX_INT_BITS:,} bits")
        elif operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if isinstance(sequence, (str, list, tuple)) and isinstance(times, int) and times > 0:
                    if _weight(sequence) * times > MAX_TEXT or len(sequence) * times > MAX_TEXT:
                        raise _LimitExceeded(f"the repetition would be longer than {MAX_TEXT:,}")
            if type(left) is int and type(right) is int and left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise _LimitExceeded(f"the product would have more than {MAX_INT_BITS:,} bits")
        elif operator == "+" and not (isinstance(left, (int, float)) and isinstance(right, (int, float))):
            if _weight(left) + _weight(right) > MAX_TEXT:
                raise _LimitExceeded(f"the sum would be longer than {MAX_TEXT:,} characters")
        elif operator == "%" and isinstance(left, str):
            _format_estimate(left, right if isinstance(right, tuple) else [right])
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _tick()
        _check_arguments(args, kwargs)
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            _estimate_method(owner, getattr(__obj, "__name__", ""), args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        _check_size(result, "a call's result")
        return result


def _bounded_filter(name: str, function: Any) -> Any:
    passes = getattr(function, "jinja_pass_arg", None)

    @functools.wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        arguments = args[1:] if passes is not None else args
        _check_arguments(arguments, kwargs)
        value, rest = (arguments[0], arguments[1:]) if arguments else (None, ())
        if name == "format":
            _format_estimate(value, [*rest, *kwargs.values()])
        elif name == "replace" and isinstance(value, str) and len(rest) >= 2:
            _estimate_method(value, "replace", [str(rest[0]), str(rest[1])], {})
        elif name == "indent" and isinstance(value, str):
            width = rest[0] if rest else kwargs.get("width", 4)
            width = len(width) if isinstance(width, str) else width
            if isinstance(width, int) and (value.count("\n") + 1) * width > MAX_TEXT:
                raise _LimitExceeded(f"indent would build a text longer than {MAX_TEXT:,} characters")
        elif name == "wordwrap" and isinstance(value, str):
            wrapstring = rest[2] if len(rest) >= 3 else kwargs.get("wrapstring") or "\n"
            if len(value) * max(len(str(wrapstring)), 1) > MAX_TEXT:
                raise _LimitExceeded(f"wordwrap would build a text longer than {MAX_TEXT:,} characters")
        elif name == "sum" and not isinstance(kwargs.get("start", rest[1] if len(rest) > 1 else 0), (int, float)):
            raise _LimitExceeded("sum adds numbers only (join lists with | join or ~)")
        result = function(*args, **kwargs)
        _check_size(result, f"the result of | {name}")
        return result

    return bounded


def _iterate(value: Any) -> Iterator[Any]:
    """``{% for %}``: each iteration is a step of the render's budget."""
    for item in value:
        _tick()
        yield item


def _concatenate(values: Sequence[Any]) -> str:
    """``a ~ b``: the joined text is checked before it is built."""
    texts = [value if isinstance(value, str) else str(value) for value in values]
    if sum(map(len, texts)) > MAX_TEXT:
        raise _LimitExceeded(f"~ would build a text longer than {MAX_TEXT:,} characters")
    return "".join(texts)


def _bounded_range(*args: Any) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise _LimitExceeded(f"range() of {len(numbers):,} numbers (at most {MAX_RANGE:,})")
    return numbers


def _make_environment(finalize: Any, filters: Mapping[str, Any]) -> ImmutableSandboxedEnvironment:
    # optimized=False: Jinja's optimizer would evaluate constant expressions ({{ 'a' * 10**9 }}) while
    # compiling, outside every limit.
    environment = _BoundedSandbox(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, finalize=finalize,
        optimized=False,
    )
    environment.filters.update(filters)
    environment.filters = {name: _bounded_filter(name, function) for name, function in environment.filters.items()}
    environment.filters["toolkit iterate"] = _iterate
    environment.filters["toolkit concat"] = _concatenate
    environment.globals["range"] = _bounded_range
    del environment.globals["lipsum"]  # text generator: nothing a command needs, and a way to make megabytes
    return environment


_SHELL_ENVIRONMENT = _make_environment(
    _finalize_shell, {"join": _shell_join, ALLOW_LEADING_DASH: _allow_leading_dash}
)
_SHELL_ENVIRONMENT.filters["toolkit value"] = _place_value
# In text (register meta, output paths) the marker has nothing to allow: the value is used as it is.
_TEXT_ENVIRONMENT = _make_environment(_finalize_text, {ALLOW_LEADING_DASH: lambda value: value})


# ----------------------------------------------------------------------------------------- simple templates

# Set to False (tests only, via _jinja_path_only) to render every template through Jinja.
_simple_path_enabled = True


@contextlib.contextmanager
def _jinja_path_only() -> Iterator[None]:
    global _simple_path_enabled
    previous, _simple_path_enabled = _simple_path_enabled, False
    try:
        yield
    finally:
        _simple_path_enabled = previous


# Lookup steps. A public attribute of _Slots that the class does not define reaches _Slots.__getattr__, which
# the sandbox accepts as it is (not private, not internal, not a known mutable): _lookup gives the same value.
_ATTRIBUTE_OF_SLOTS, _ATTRIBUTE, _ITEM = range(3)
_MISSING = object()
# Field values that _wrap returns unchanged.
_UNWRAPPED_TYPES = (str, int, float, bool)


class _Lookup(NamedTuple):
    """``{{ slot.name['key'][0] }}``: one value inserted into the output, with the template line it is on."""

    slot: str
    steps: tuple[tuple[int, Any], ...]
    lineno: int
    # The key of a first step that can read the context directly (see _render_simple), and the steps after it.
    first: Any
    rest: tuple[tuple[int, Any], ...]
    # Command templates: where the value lands (toolkit.shell.Placement) and whether its slot is metadata.
    placement: Any = None
    from_metadata: bool = True
    # The command as a whole does not parse: why no value's place can be checked. Reported after the value's own
    # placement problems, as the Jinja path (_put_values_in) reports it.
    unparsed: str | None = None


@dataclass(frozen=True)
class _SimpleTemplate:
    segments: tuple[str | _Lookup, ...]
    finalize: Any
    literal: str | None  # the whole output when the template inserts no value


@functools.lru_cache(maxsize=512)
def _simple_template(environment: jinja2.Environment, template: str) -> _SimpleTemplate | None:
    """The template as segments, or None when it needs Jinja (or fails to parse: Jinja reports that)."""
    try:
        # The same environment's parser: newline normalisation, keep_trailing_newline, whitespace control
        # ({{- -}}), comments and raw blocks are already applied to the TemplateData nodes.
        tree = environment.parse(template)
    except jinja2.TemplateSyntaxError:
        return None
    segments: list[str | _Lookup] = []
    for output in tree.body:
        if type(output) is not jinja2.nodes.Output:
            return None
        for child in output.nodes:
            if type(child) is jinja2.nodes.TemplateData:
                if segments and type(segments[-1]) is str:
                    segments[-1] += child.data
                else:
                    segments.append(child.data)
                continue
            lookup = _simple_lookup(child)
            if lookup is None:
                return None
            segments.append(lookup)
    finalize = _SIMPLE_FINALIZE.get(environment.finalize)
    if finalize is None:
        return None
    if environment.finalize is _finalize_shell:
        segments = _placed_segments(segments)
    literal = None
    if all(type(segment) is str for segment in segments):
        literal = "".join(segments)
    return _SimpleTemplate(tuple(segments), finalize, literal)


def _placed_segments(segments: list[str | _Lookup]) -> list[str | _Lookup]:
    """A command's lookups with where each lands: the template's literal text is the whole shell code."""
    from toolkit import shell

    lookups = [segment for segment in segments if type(segment) is not str]
    if not lookups:
        return segments
    tag = "s"
    numbers = {id(segment): number for number, segment in enumerate(lookups)}
    skeleton = "".join(
        segment if type(segment) is str else shell.marker(tag, numbers[id(segment)]) for segment in segments
    )
    analysis = shell.analyse(skeleton, shell.marker_pattern(tag))
    placement_of = {placement.number: placement for placement in analysis.placements}
    placed: list[str | _Lookup] = []
    for segment in segments:
        if type(segment) is str:
            placed.append(segment)
            continue
        placement = placement_of.get(numbers[id(segment)])
        unparsed = None
        if placement is not None and analysis.syntax_error is not None:
            unparsed = (f"the command is {analysis.syntax_error[1]} (as the toolkit's shell parser reads it), so "
                        "where its values land cannot be checked")
        placed.append(segment._replace(
            placement=placement, from_metadata=segment.slot not in TRUSTED_SLOTS, unparsed=unparsed
        ))
    return placed


def _simple_lookup(node: jinja2.nodes.Node) -> _Lookup | None:
    # Jinja reports a failure on the line of the output node (the debug info of its `yield` line).
    lineno = node.lineno
    steps: list[tuple[int, Any]] = []
    while True:
        if type(node) is jinja2.nodes.Getattr and node.ctx == "load":
            private = node.attr.startswith("_") or hasattr(_Slots, node.attr)
            steps.append((_ATTRIBUTE if private else _ATTRIBUTE_OF_SLOTS, node.attr))
        elif (
            type(node) is jinja2.nodes.Getitem
            and node.ctx == "load"
            and type(node.arg) is jinja2.nodes.Const
            and type(node.arg.value) in (int, str)
        ):
            steps.append((_ITEM, node.arg.value))
        elif type(node) is jinja2.nodes.Name and node.ctx == "load" and node.name in SLOT_NAMES:
            # Other names are Jinja globals (range, cycler...) or undefined: left to Jinja.
            steps.reverse()
            first = None
            if steps and node.name == "reads":
                if steps[0][0] == _ITEM and type(steps[0][1]) is int:
                    first = steps[0][1]
            elif steps and steps[0][0] in (_ITEM, _ATTRIBUTE_OF_SLOTS):
                first = steps[0][1]
            return _Lookup(node.name, tuple(steps), lineno, first, tuple(steps[1:]))
        else:
            return None
        node = node.node


def _render_simple(
    simple: _SimpleTemplate,
    environment: jinja2.Environment,
    context: CommandContext,
    name: str,
    substitute: Mapping[str, str],
) -> str:
    if simple.literal is not None:
        return simple.literal
    finalize = simple.finalize
    # Only the slots the template uses are built; building one cannot fail for str or Hail-file paths.
    slots: dict[str, Any] = {}
    parts: list[str] = []
    misplaced: tuple[str, int] | None = None
    for segment in simple.segments:
        if type(segment) is str:
            parts.append(segment)
            continue
        slot, steps, lineno, first, rest, placement, from_metadata, unparsed = segment
        try:
            # The first step straight from the context when its result is what the slot object would give:
            # a read or an output path, or a field that _wrap leaves as it is.
            value = _MISSING
            if first is not None:
                if slot == "reads":
                    reads = context.reads
                    if (type(reads) is list or type(reads) is tuple) and 0 <= first < len(reads):
                        value = _path_of(reads[first], substitute)
                elif slot == "outputs":
                    outputs = context.outputs
                    if type(outputs) is dict and first in outputs:
                        value = _path_of(outputs[first], substitute)
                elif slot in ("group", "params", "resources"):  # plain mappings (read.path needs _path_of)
                    fields = getattr(context, slot)
                    if type(fields) is dict:
                        field_value = fields.get(first)
                        if type(field_value) in _UNWRAPPED_TYPES:
                            value = field_value
            if value is _MISSING:
                value = slots.get(slot)
                if value is None:
                    value = slots[slot] = _SLOT_BUILDERS[slot](context, substitute)
            else:
                steps = rest
            for step, key in steps:
                if step == _ITEM:
                    # SandboxedEnvironment.getitem starts with obj[key]; on failure it does the rest itself.
                    try:
                        value = value[key]
                    except (TypeError, LookupError):
                        value = environment.getitem(value, key)
                elif step == _ATTRIBUTE_OF_SLOTS and type(value) is _Slots:
                    value = value._lookup(key)
                else:
                    value = environment.getattr(value, key)
            parts.append(finalize(value))
            # The common case first: one text at the start of an argument, not starting with '-'. Placement
            # problems are reported after every value rendered, as the Jinja path finds them in the output.
            if placement is not None and misplaced is None:
                if not (type(value) is str and placement.problem is None and unparsed is None
                        and value[:1] != "-"):
                    problem = _simple_placement_problem(placement, value, from_metadata, unparsed)
                    if problem:
                        misplaced = (problem, lineno)
        except _TEMPLATE_FAILURES as error:
            raise RenderError(
                _problem_of(error), template_name=name, group_id=context.group_id, lineno=lineno
            ) from None
    if misplaced is not None:
        raise RenderError(misplaced[0], template_name=name, group_id=context.group_id, lineno=misplaced[1])
    text = "".join(parts)
    if len(text) > MAX_TEXT:
        raise RenderError(f"the rendered text is longer than {MAX_TEXT:,} characters", template_name=name,
                          group_id=context.group_id, limit=True)
    return text


def _simple_placement_problem(placement: Any, value: Any, from_metadata: bool, unparsed: str | None) -> str | None:
    if placement.problem:
        return _placement_problem(placement, (), True)
    if isinstance(value, (_Slots, Mapping)) or value is None:
        return unparsed  # the finalizer says what is wrong with the value itself
    words = tuple(_as_text(item) for item in value) if _is_word_list(value) else (_as_text(value),)
    return _placement_problem(placement, words, not from_metadata) or unparsed


def _simple_finalize_shell(value: Any) -> str:
    # The common cases, shortened: what _finalize_shell returns for a plain ASCII str without NUL (quoted
    # as it is unless it holds a stand-in) and for a str that is exactly a stand-in (kept bare).
    if type(value) is str and value.isascii() and "\x00" not in value:
        stand_ins = _STAND_INS.get()
        if not stand_ins or "toolkitfile" not in value:
            return _quote_plain(value)
        if value in stand_ins:
            return value
    return str(_finalize_shell(value))


def _simple_finalize_text(value: Any) -> str:
    if type(value) is str and value.isascii() and "\x00" not in value:
        return value  # a str stays a str in render_value: nothing to record
    return str(_finalize_text(value))


_SIMPLE_FINALIZE = {_finalize_shell: _simple_finalize_shell, _finalize_text: _simple_finalize_text}
