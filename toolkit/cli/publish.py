"""``toolkit publish SPEC``: build, run the spec tests in the image, push, and lock the pushed digest."""

from __future__ import annotations

import argparse

from toolkit.cli._common import add_image_arguments, progress_line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_image_arguments(parser)
    parser.add_argument(
        "--bump",
        action="store_true",
        help="when the tag already holds other content, publish as the next <VERSION>-<N> from the registry's "
        "tags (and update image.tag in the spec)",
    )
    parser.add_argument("--skip-tests", action="store_true", help="push without running the spec's tests")


def run(args: argparse.Namespace) -> int:
    from toolkit.images import publish_image
    from toolkit.spec import load_spec
    from toolkit.spectests import image_tests

    loaded = load_spec(args.spec)
    lock = publish_image(
        loaded, registry=args.registry, bump=args.bump, echo=progress_line,
        test_image=None if args.skip_tests else image_tests(loaded, echo=progress_line),
    )
    print(f"{lock.registry}/{lock.image}:{lock.tag} {lock.digest}")
    return 0
