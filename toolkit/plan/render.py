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
"""

from __future__ import annotations

import contextvars
import functools
import os
import re
import secrets
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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
        command = _STAND_IN.sub(lambda match: placeholder_of.get(match.group(), match.group()), command)
        if _ALTERED_STAND_IN.search(command):
            raise RenderError(
                "a read or output that is a Hail Batch file was changed by a filter; use it as it is",
                template_name=name,
                group_id=context.group_id,
            )
    for match in HAIL_PLACEHOLDER.finditer(command):
        if match.group() not in stand_in_of:
            raise RenderError(
                f"the rendered command contains {match.group()!r}, which Hail Batch would replace with a "
                "file path; do not write Hail placeholders in the template, and separate a slot from a "
                "following slot or digit",
                template_name=name,
                group_id=context.group_id,
            )
    return command


def _stand_ins_for(context: CommandContext) -> dict[str, str]:
    """Hail placeholder -> a stand-in that metadata cannot guess, for each read or output that is one."""
    nonce = secrets.token_hex(8)
    stand_in_of: dict[str, str] = {}
    for value in (*context.reads, *context.outputs.values()):
        text = str(value)
        if text not in stand_in_of and HAIL_PLACEHOLDER.fullmatch(text):
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
_STAND_INS: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "toolkit_stand_ins", default={}
)


def _render(
    environment: jinja2.Environment,
    template: str,
    context: CommandContext,
    name: str,
    substitute: Mapping[str, str] | None = None,
) -> str:
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
    # Hail resource files are str subclasses whose str() is the placeholder; keep only that.
    def path(value: Any) -> str:
        return substitute.get(str(value), str(value))

    return {
        "reads": _items("reads", map(path, context.reads)),
        "outputs": _Slots("outputs", {key: path(value) for key, value in context.outputs.items()}),
        "group": _Slots("group", context.group),
        "params": _Slots("params", context.params),
        "resources": _Slots("resources", context.resources),
    }


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
    return HAIL_PLACEHOLDER.sub(lambda match: match.group()[:2] + "''" + match.group()[2:], shlex.quote(text))


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
