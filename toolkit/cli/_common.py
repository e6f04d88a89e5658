"""Arguments and output helpers shared by the verbs that run the pipeline."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
import types
from typing import Any, Sequence

from toolkit.text import shown  # noqa: F401 - re-exported for the verbs


def add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "specs", nargs="+", metavar="SPEC",
        help="jobspec YAML file(s); several run (or are planned) in the order given, each seeing what the "
        "previous ones registered",
    )
    parser.add_argument(
        "--project", help="Metamist project (default: from the cpg-utils config; embedded default: sandbox-test)"
    )
    parser.add_argument(
        "--sgids", nargs="+", metavar="SGID", help="only these sequencing groups (space- or comma-separated)"
    )
    parser.add_argument(
        "--param", action="append", metavar="NAME=VALUE", help="set a parameter declared in the spec's params"
    )
    parser.add_argument(
        "--execution",
        choices=("auto", "container", "host"),
        default="auto",
        help="local runs: in the spec's image (needs a Docker Engine), on the host, or auto (image if possible)",
    )


def load_specs(paths: Sequence[str]) -> list:
    """Every spec loaded (warnings shown) before any runs; all their errors together in one SpecError."""
    from toolkit.errors import SpecError

    loaded, problems = [], []
    for path in paths:
        try:
            loaded.append(load_spec_showing_warnings(path))
        except SpecError as error:
            problems.append(error)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise SpecError([d for problem in problems for d in problem.diagnostics], source_name=", ".join(paths))
    return loaded


def load_spec_showing_warnings(path: str):
    """load_spec, with the spec's warnings (not errors: those raise) printed to stderr first."""
    from toolkit.spec import load_spec

    loaded = load_spec(path)
    if loaded.warnings:
        from toolkit.spec.diagnostics import render_diagnostics

        print(render_diagnostics(loaded.warnings), file=sys.stderr)
    return loaded


def add_image_arguments(parser: argparse.ArgumentParser) -> None:
    """SPEC and --registry, shared by the image verbs (build, test, publish)."""
    parser.add_argument("spec", metavar="SPEC", help="the jobspec YAML file")
    parser.add_argument(
        "--registry",
        help="registry prefix of the image name (default: $TOOLKIT_REGISTRY, the cpg-utils config "
        "[toolkit] image_registry, else CPG's Artifact Registry)",
    )


# PATH as the user's shell gave it: host runs prepend the toolkit's own bin folder later (toolkit.backend).
_PATH_AT_START = os.environ.get("PATH", "")


def invocation() -> str:
    """The toolkit command as this process was started, for hints that must work when pasted.

    A bare ``toolkit`` only when that is what PATH finds; else the path typed (``.venv/bin/toolkit``), or
    ``python -m toolkit`` with the interpreter that runs now.
    """
    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0) in ("__main__.py", "-m", "-c") or not argv0:
        python = sys.executable
        relative = os.path.relpath(python)
        return f"{shlex.quote(relative if not relative.startswith('..') else python)} -m toolkit"
    import shutil

    found = shutil.which("toolkit", path=_PATH_AT_START)
    if found and os.path.exists(argv0) and os.path.samefile(found, argv0):
        return "toolkit"
    return shlex.quote(argv0)


def progress_line(line: str) -> None:
    """Progress of long image steps goes to stderr, so stdout keeps only each verb's result."""
    print(line, file=sys.stderr, flush=True)


def emit_json(data: Any) -> None:
    """Write ``data`` to stdout as indented JSON (UTF-8), streaming any generator inside it.

    orjson encodes; a generator (a plan's jobs) is written one item at a time, so a plan of 100,000 jobs is
    never held as one document. The text is what ``json.dump(indent=2, ensure_ascii=False)`` writes.
    """
    sys.stdout.flush()
    out = getattr(sys.stdout, "buffer", None) or _TextSink(sys.stdout)  # a text-only stdout (a test's capture)
    _write_json(out, data, 0)
    out.write(b"\n")
    out.flush()


class _TextSink:
    def __init__(self, stream):
        self.stream = stream

    def write(self, data: bytes) -> None:
        self.stream.write(data.decode("utf-8"))

    def flush(self) -> None:
        self.stream.flush()


_LAZY_DEPTH = 3  # how deep a generator is looked for: the top of a document (plans -> plan -> jobs)


def _is_lazy(value: Any, depth: int = _LAZY_DEPTH) -> bool:
    if isinstance(value, types.GeneratorType):
        return True
    if depth == 0:
        return False
    if isinstance(value, dict):
        return any(_is_lazy(item, depth - 1) for item in value.values())
    if isinstance(value, list):
        return any(_is_lazy(item, depth - 1) for item in value)
    return False


def _dumps(value: Any) -> bytes:
    from toolkit.plan.spool import indented_json  # here, not at the top: the plan stage is heavy for other verbs

    return indented_json(value)


def _write_json(out, value: Any, level: int) -> None:
    indent = b"  " * level
    if not _is_lazy(value):
        out.write(_dumps(value).replace(b"\n", b"\n" + indent) if level else _dumps(value))
        return
    inner = indent + b"  "
    if isinstance(value, dict):
        out.write(b"{")
        for index, (key, item) in enumerate(value.items()):
            out.write(b",\n" if index else b"\n")
            out.write(inner + _dumps(str(key)) + b": ")
            _write_json(out, item, level + 1)
        out.write(b"\n" + indent + b"}" if value else b"}")
        return
    out.write(b"[")
    empty = True
    generated = isinstance(value, types.GeneratorType)
    for item in value:  # a list or a generator
        out.write(b"\n" + inner if empty else b",\n" + inner)
        empty = False
        if generated:  # a generator's items are whole records (a job): encoded as they are, not searched
            out.write(_dumps(item).replace(b"\n", b"\n" + inner))
        else:
            _write_json(out, item, level + 1)
    out.write(b"]" if empty else b"\n" + indent + b"]")


class Reporter:
    """Progress and summary lines: rich on a terminal, plain lines otherwise (logs, CI, pipes)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.rich = self.stream.isatty()
        self._console = None
        if self.rich:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False)

    def line(self, message: str, style: str | None = None) -> None:
        message = shown(message)  # messages carry ids and paths from metadata
        if self._console is not None:
            self._console.print(message, style=style, markup=False)
        else:
            print(message, file=self.stream, flush=True)

    def step(self, message: str) -> None:
        self.line(f"- {message}", style="cyan")

    def warn(self, message: str) -> None:
        self.line(f"warning: {message}", style="yellow")

    def fail(self, message: str) -> None:
        self.line(f"failed: {message}", style="red")

    @contextlib.contextmanager
    def progress(self, description: str, total: int):
        """Yields ``advance(label)``: a rich progress bar on a terminal, one plain line per step otherwise."""
        if self._console is None:
            done = 0

            def advance(label: str) -> None:
                nonlocal done
                done += 1
                self.line(f"[{done}/{total}] {label}")

            yield advance
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=self._console,
        ) as bar:
            task = bar.add_task(description, total=total)

            def advance(label: str) -> None:
                bar.console.print(f"  {shown(label)}", highlight=False, markup=False)
                bar.advance(task)

            yield advance


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], stream=None) -> None:
    """A plain, aligned text table (stable output for users' scripts and for tests)."""
    stream = stream or sys.stdout
    cells = [[str(h) for h in headers]] + [["" if c is None else shown(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip(), file=stream)
        if index == 0:
            print("  ".join("-" * w for w in widths), file=stream)
