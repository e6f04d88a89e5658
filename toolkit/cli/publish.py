"""``toolkit publish SPEC``: build, run the spec tests in the image, push, and lock the pushed digest."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="the jobspec YAML file")
    parser.add_argument(
        "--registry",
        help="where to push (default: $TOOLKIT_REGISTRY, the cpg-utils config [toolkit] image_registry, "
        "else CPG's Artifact Registry)",
    )
    parser.add_argument(
        "--bump",
        action="store_true",
        help="when the tag already holds other content, publish as the next <VERSION>-<N> from the registry's "
        "tags (and update image.tag in the spec)",
    )
    parser.add_argument("--skip-tests", action="store_true", help="push without running the spec's tests")


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from toolkit.images import publish_image
    from toolkit.spec import load_spec

    loaded = load_spec(args.spec)
    lock = publish_image(
        loaded, registry=args.registry, bump=args.bump, skip_tests=args.skip_tests, echo=_progress
    )
    print(f"{lock.registry}/{lock.image}:{lock.tag} {lock.digest}")
    return 0
