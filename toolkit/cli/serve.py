"""``toolkit serve``: the results page and this toolkit home's web outputs (reports), until Ctrl-C."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "specs", nargs="*", metavar="SPEC",
        help="jobspec files whose groups to show with their state (default: the jobspec files recorded in the "
        "project's Analyses, where they exist on this machine)",
    )
    parser.add_argument(
        "--project", action="append", metavar="PROJECT",
        help="Metamist project to show; repeat for several (default: from the cpg-utils config; embedded "
        "default: sandbox-test)",
    )


def run(args: argparse.Namespace) -> int:
    import socket

    from toolkit.errors import EnvironmentProblem
    from toolkit.metadata_server import default_home
    from toolkit.results.server import create_app, page_renderer
    from toolkit.settings import LOCAL_HOST, web_location
    from toolkit.spec import load_spec

    for path in args.specs:
        load_spec(path)  # an invalid spec is a clear error now, not a broken page later
    home = default_home()
    location = web_location(home)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((LOCAL_HOST, location.port))
    except OSError as error:
        sock.close()
        raise EnvironmentProblem(
            f"cannot serve on {location.origin} ({error.strerror}): this toolkit home's port is in use, by another "
            "`toolkit serve` of this home or by another program",
            hint=f"stop that one; the port is kept in {home / 'web-server.json'} because registered display URLs "
            "use it (delete that file to choose a new port: URLs registered so far then stop opening)",
        ) from None
    sock.listen(128)

    import uvicorn

    title = "toolkit results"
    app = create_app(
        buckets=home / "buckets", key=location.key, port=location.port,
        render=page_renderer(args.project or [None], list(args.specs), title),
    )
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    # Build the page once before saying where it is: the first visit then finds everything imported (about 2 s).
    app.warm_up()
    print(f"results: {location.origin}/", flush=True)
    print(
        f"  reports of this toolkit home ({home}) are served under {location.base_url}/; Ctrl-C stops it",
        file=sys.stderr, flush=True,
    )
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    print("stopped", file=sys.stderr)
    return 0
