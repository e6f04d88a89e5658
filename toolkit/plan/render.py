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

Simple templates
----------------
Planning renders a few templates per group for thousands of groups, and most are "simple": literal text and
``{{ slot }}``, ``{{ slot.name }}``, ``{{ slot['name'] }}``, ``{{ reads[0] }}``, with no filter, test or
block (register meta values often have no template syntax at all). Such a template is parsed once by the same
environment and kept as literal segments and slot lookups, then rendered without Jinja's per-render machinery
(context, generated code, sandbox calls where they cannot matter). The lookups and the quoting are the same
code, so output, ``RenderError`` messages and line numbers are identical; tests/plan/test_render.py checks
this against the Jinja path with generated templates and hostile values. Anything else goes through Jinja.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import re
import secrets
import shlex
import types
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jinja2
from jinja2 import StrictUndefined, pass_environment
from jinja2.filters import make_attrgetter
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from toolkit.errors import EXIT_SPEC, ToolkitError

__all__ = [
    "CommandContext",
    "RenderError",
    "ShellWords",
    "render_command",
    "render_output_path",
    "render_text",
    "SLOT_NAMES",
]

# The uid patterns of hailtop.batch (ResourceFile, ResourceGroup, PythonResult, Job, Batch), which
# BashJob.command() substitutes or rejects; kept here so that importing this module does not import hail.
HAIL_PLACEHOLDER = re.compile(r"__(?:RESOURCE_FILE|RESOURCE_GROUP|PYTHON_RESULT|JOB|BATCH)__\d+")

SLOT_NAMES = ("reads", "outputs", "group", "params", "resources")

# Only blanks split words; any other separator (a newline would start a new command) is quoted.
_WORD_SEPARATOR = re.compile(r"[ \t]+")


class RenderError(ToolkitError):
    """A template could not be rendered for a group (unknown slot, null value, sandbox violation...)."""

    exit_code = EXIT_SPEC

    def __init__(self, problem: str, *, template_name: str, group_id: str | None, lineno: int | None = None):
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


@dataclass(frozen=True)
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

    @property
    def group_id(self) -> str | None:
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


def render_output_path(template: str, context: CommandContext, *, name: str) -> str:
    """An output's path, relative to its storage root; refuses paths that would leave that root."""
    path = render_text(template, context, name=name)
    problem = _output_path_problem(path)
    if problem:
        raise RenderError(
            f"{problem} (rendered path: {path!r})", template_name=name, group_id=context.group_id
        )
    return path


def _output_path_problem(path: str) -> str | None:
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
    return None


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
    if _simple_path_enabled:
        simple = _simple_template(environment, template)
        if simple is not None:
            return _render_simple(simple, environment, context, name, substitute or {})
    try:
        compiled = _compile(environment, template)
    except jinja2.TemplateSyntaxError as error:
        problem = error.message or "syntax error"
        raise RenderError(problem, template_name=name, group_id=context.group_id, lineno=error.lineno) from None
    try:
        return compiled.render(_slots(context, substitute or {}))
    except _TEMPLATE_FAILURES as error:
        raise RenderError(
            _problem_of(error), template_name=name, group_id=context.group_id, lineno=_template_line(error)
        ) from None


class _ValueProblem(Exception):
    """A value that cannot be rendered; turned into a RenderError with the template's name."""


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


@functools.lru_cache(maxsize=512)
def _compile(environment: jinja2.Environment, template: str) -> jinja2.Template:
    # Compiling is far slower than rendering and a run renders the same few templates for every group.
    return environment.from_string(template)


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


_SLOT_BUILDERS = {
    "reads": _reads_slot,
    "outputs": _outputs_slot,
    "group": lambda context, substitute: _Slots("group", context.group),
    "params": lambda context, substitute: _Slots("params", context.params),
    "resources": lambda context, substitute: _Slots("resources", context.resources),
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
    if _is_word_list(value):
        return ShellWords(" ".join(_quote_word(item) for item in value))
    return _quote_word(value)


def _finalize_text(value: Any) -> str:
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
        return ShellWords(separator.join(_quote_word(item) for item in items))
    # Any other separator makes one word, as in Jinja's join: an empty list gives one empty argument.
    if not items:
        return ShellWords("''")
    return ShellWords((_quote_word(separator) if separator else "").join(_quote_word(item) for item in items))


@functools.cache
def _shell_environment() -> ImmutableSandboxedEnvironment:
    environment = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, finalize=_finalize_shell
    )
    environment.filters["join"] = _shell_join
    return environment


@functools.cache
def _text_environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, finalize=_finalize_text
    )


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
    literal = None
    if all(type(segment) is str for segment in segments):
        literal = "".join(segments)
    return _SimpleTemplate(tuple(segments), finalize, literal)


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
    for segment in simple.segments:
        if type(segment) is str:
            parts.append(segment)
            continue
        slot, steps, lineno, first, rest = segment
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
                else:
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
        except _TEMPLATE_FAILURES as error:
            raise RenderError(
                _problem_of(error), template_name=name, group_id=context.group_id, lineno=lineno
            ) from None
    return "".join(parts)


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
        return value
    return str(_finalize_text(value))


_SIMPLE_FINALIZE = {_finalize_shell: _simple_finalize_shell, _finalize_text: _simple_finalize_text}
