"""``toolkit test SPEC``: run the spec's ``tests:`` (tiny committed fixtures) inside its image, or on the host."""

from __future__ import annotations

import argparse

from toolkit.cli._common import add_image_arguments, progress_line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_image_arguments(parser)
    parser.add_argument("--host", action="store_true", help="run the tests on the host instead of in the image")
    parser.add_argument(
        "--no-build", action="store_true",
        help="use the image as it is (by default it is built first; a content-key hit makes that instant)",
    )


def run(args: argparse.Namespace) -> int:
    from toolkit.errors import EnvironmentProblem, ImageError
    from toolkit.images import build_image, engine_status, image_reference, resolve_registry
    from toolkit.spec import load_spec
    from toolkit.spectests import run_spec_tests

    loaded = load_spec(args.spec)
    image = None
    if not args.host:
        available, reason = engine_status()
        if not available:
            raise EnvironmentProblem(
                f"no Docker Engine reachable to run the tests in the image: {reason}",
                hint="start one (DOCKER_HOST), or run them on the host with --host",
            )
        if args.no_build:
            image = image_reference(loaded, args.registry)
        else:
            image = build_image(loaded.path, loaded.model.image, resolve_registry(args.registry), echo=progress_line).reference
    if not run_spec_tests(loaded, image, host=args.host, echo=print):
        raise ImageError("spec tests failed")
    return 0
