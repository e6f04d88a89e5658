"""``toolkit build SPEC``: build the jobspec's image (skipped when an image with its content key exists)."""

from __future__ import annotations

import argparse

from toolkit.cli._common import add_image_arguments, progress_line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_image_arguments(parser)
    parser.add_argument("--force", action="store_true", help="build even when an image with the content key exists")


def run(args: argparse.Namespace) -> int:
    from toolkit.images import build_image, resolve_registry
    from toolkit.spec import load_spec

    loaded = load_spec(args.spec)
    result = build_image(
        loaded.path, loaded.model.image, resolve_registry(args.registry), echo=progress_line, force=args.force
    )
    state = "built" if result.built else "up to date"
    print(f"{result.reference} {state} ({result.image_id}, content key {result.content_key})")
    return 0
