"""``toolkit validate SPEC [SPEC...]``: every check that needs neither Metamist nor Batch."""

from __future__ import annotations

import argparse
import sys

from toolkit.errors import SpecError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("specs", nargs="+", metavar="SPEC", help="jobspec YAML file(s)")


def run(args: argparse.Namespace) -> int:
    from toolkit.spec import load_spec, render_diagnostics

    failures: list[SpecError] = []
    for spec in args.specs:
        try:
            loaded = load_spec(spec)
        except SpecError as error:
            failures.append(error)
            continue
        if loaded.warnings:
            print(render_diagnostics(loaded.warnings), file=sys.stderr)
        model = loaded.model
        count = len(model.outputs)
        print(f"ok: {spec} ({model.name}, image {model.image.name}:{model.image.tag}, "
              f"{count} output{'s' if count != 1 else ''})")
    if not failures:
        return 0
    if len(failures) == 1:
        raise failures[0]
    # Several broken specs: one SpecError holding every diagnostic, so they render (and sort) together.
    raise SpecError([d for failure in failures for d in failure.diagnostics], source_name=", ".join(args.specs))
