"""``toolkit build SPEC``: build the jobspec's image (skipped when an image with its content key exists)."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="the jobspec YAML file")
    parser.add_argument(
        "--registry",
        help="registry prefix of the image name (default: $TOOLKIT_REGISTRY, the cpg-utils config "
        "[toolkit] image_registry, else CPG's Artifact Registry)",
    )
    parser.add_argument("--force", action="store_true", help="build even when an image with the content key exists")


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from toolkit.images import build_image, resolve_registry
    from toolkit.spec import load_spec

    loaded = load_spec(args.spec)
    result = build_image(
        loaded.path, loaded.model.image, resolve_registry(args.registry), echo=_progress, force=args.force
    )
    state = "built" if result.built else "up to date"
    print(f"{result.reference} {state} ({result.image_id}, content key {result.content_key})")
    return 0
