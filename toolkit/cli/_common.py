"""Arguments and output helpers shared by the verbs that run the pipeline."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any, Sequence


def add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="the jobspec YAML file")
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


def shown(text: object, *, multiline: bool = False) -> str:
    """``text`` safe to print on a terminal: control, escape and invisible characters (from metadata: ids,
    paths, values) are shown as Python escapes (``\\n``, ``\\x1b``, ``\\u202e``) instead of acting on the
    terminal. ``multiline`` keeps newlines and tabs (a command, a multi-line message)."""
    text = str(text)
    if text.isprintable():
        return text
    kept = "\n\t" if multiline else ""
    return "".join(
        char if char.isprintable() or char in kept else char.encode("unicode_escape").decode("ascii")
        for char in text
    )


def progress_line(line: str) -> None:
    """Progress of long image steps goes to stderr, so stdout keeps only each verb's result."""
    print(line, file=sys.stderr, flush=True)


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


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
