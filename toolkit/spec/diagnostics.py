"""Positioned messages about a jobspec, and their miniwdl/clang-style rendering.

A diagnostic names a file, a 1-based line and column, and optionally where its span ends on that line.
Rendering shows every diagnostic at once, sorted by position, each followed by its source line and an
underline (``^~~~``) under the offending span, so the user can fix everything in one pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Literal

from toolkit.spec._file import SpecFileProblem, read_spec_bytes

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Diagnostic:
    file: str
    line: int  # 1-based; 0 when the problem is the file as a whole (missing, unreadable)
    column: int  # 1-based
    message: str
    end_column: int | None = None  # exclusive, 1-based, on the same line; None: guess from the source
    severity: Severity = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def sort_key(self) -> tuple:
        return (self.file, self.line, self.column, self.severity != "error", self.message)

    @staticmethod
    def render_all(diagnostics: Iterable[Diagnostic]) -> str:
        """:func:`render_diagnostics`, for ``toolkit.errors.SpecError``, which cannot import this module."""
        return render_diagnostics(diagnostics)


def _comment_start(line: str, start: int) -> int:
    """Index of a YAML comment (`` #``) at or after ``start`` outside quotes, else len(line)."""
    quote = None
    for index in range(start, len(line)):
        char = line[index]
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"" and (index == start or line[index - 1] in " \t[{,:"):
            quote = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t"):
            return index
    return len(line)


def guess_span_end(line: str, column: int) -> int:
    """Exclusive 1-based end of the token starting at ``column``: the rest of the line, minus a trailing comment."""
    start = max(column - 1, 0)
    end = len(line[: _comment_start(line, start)].rstrip())
    return max(end + 1, column + 1)


# A longer source line is shown as a window around the diagnostic (a one-line file of 100,000 brackets is no
# help on a terminal).
SHOWN_LINE_CHARS = 160
_CONTEXT_BEFORE = 40


def _excerpt(source_line: str, diagnostic: Diagnostic) -> tuple[str, str]:
    """(the source line as shown, its underline)."""
    start = max(diagnostic.column - 1, 0)
    end_column = diagnostic.end_column or guess_span_end(source_line, diagnostic.column)
    width = max(end_column - diagnostic.column, 1)
    shown, caret = source_line, start
    if len(source_line) > SHOWN_LINE_CHARS:
        first = max(0, min(start - _CONTEXT_BEFORE, len(source_line) - SHOWN_LINE_CHARS))
        last = first + SHOWN_LINE_CHARS
        prefix = "..." if first else ""
        shown = prefix + source_line[first:last] + ("..." if last < len(source_line) else "")
        caret = len(prefix) + start - first
        width = max(min(width, last - start), 1)
    # Keep tabs in the padding so the caret lines up whatever the terminal's tab width.
    padding = "".join(char if char == "\t" else " " for char in shown[:caret])
    return shown, padding + "^" + "~" * (width - 1)


def render_diagnostics(diagnostics: Iterable[Diagnostic], sources: dict[str, str] | None = None) -> str:
    """All diagnostics, sorted by position: ``file:line:col: severity: message``, source line, underline.

    ``sources`` maps a file name to its text; files not given are read from disk (silently skipped if unreadable).
    """
    ordered = sorted(diagnostics, key=Diagnostic.sort_key)
    source_lines: dict[str, list[str] | None] = {}
    blocks = []
    for diagnostic in ordered:
        if diagnostic.line <= 0:
            blocks.append(f"{diagnostic.file}: {diagnostic.severity}: {diagnostic.message}")
            continue
        if diagnostic.file not in source_lines:
            source_lines[diagnostic.file] = _read_lines(diagnostic.file, sources)
        header = f"{diagnostic.file}:{diagnostic.line}:{diagnostic.column}: {diagnostic.severity}: {diagnostic.message}"
        lines = source_lines[diagnostic.file]
        if lines is None or diagnostic.line > len(lines):
            blocks.append(header)
            continue
        shown, underline = _excerpt(lines[diagnostic.line - 1], diagnostic)
        blocks.append(f"{header}\n{shown}\n{underline}")
    errors = sum(1 for d in ordered if d.is_error)
    warnings = len(ordered) - errors
    if errors or warnings:
        summary = [f"{errors} error{'s' if errors != 1 else ''}"] if errors else []
        if warnings:
            summary.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
        blocks.append(", ".join(summary))
    return "\n".join(blocks)


def _read_lines(file: str, sources: dict[str, str] | None) -> list[str] | None:
    if sources and file in sources:
        text = sources[file]
    else:
        try:
            # Undecodable bytes are shown replaced: the diagnostic may be about exactly those bytes.
            text = read_spec_bytes(file).decode("utf-8-sig", errors="replace")
        except SpecFileProblem:
            return None
    return split_lines(text)


# The line breaks YAML 1.2 (and ruamel.yaml, when it positions a node or an error) counts: CR LF, a lone CR, LF.
# `str.splitlines` would also split on NEL, U+2028 and form feeds, `split("\n")` would miss a lone CR: either
# way a diagnostic would underline the wrong text.
YAML_LINE_BREAK = re.compile("\r\n?|\n")


def split_lines(text: str) -> list[str]:
    """Lines as YAML counts them."""
    return YAML_LINE_BREAK.split(text)
