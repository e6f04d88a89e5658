"""``toolkit metadata``: the embedded Metamist-compatible metadata server.

    toolkit metadata load FILE [--db PATH]      load a seed.json-format dataset or a CSV sample sheet
    toolkit metadata demo [--db PATH]           load the bundled demo project (sandbox-test)
    toolkit metadata serve [--db PATH] [--host 127.0.0.1] [--port 8417] [--gcs-mirror DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "The embedded Metamist-compatible metadata server that toolkit commands use when no real Metamist is "
        "configured: load data into its store, or run it to look at the data. Details: docs/metadata-server.md."
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    def db_option(sub):
        sub.add_argument("--db", type=Path, metavar="PATH",
                         help="SQLite file (default: $TOOLKIT_HOME/metadata.sqlite, else "
                              "$XDG_DATA_HOME/toolkit/..., else ~/.local/share/toolkit/...)")

    load = actions.add_parser("load", help="load a dataset (.json, Metamist seed format) or a CSV sample sheet",
                              description="Load a dataset into the embedded server's store, all or nothing. "
                                          "CSV columns: project, participant, sample, sequencing_type, read1, "
                                          "read2 (local paths relative to the CSV, or gs:// URIs).")
    load.add_argument("file", type=Path, metavar="FILE",
                      help="a .csv sample sheet or a .json dataset in Metamist's seed format")
    db_option(load)

    demo = actions.add_parser(
        "demo", help="load the bundled demo project sandbox-test (three small FASTQ pairs)",
        description="Load the bundled demo project sandbox-test: samples DEMO001-DEMO003, one genome "
                    "sequencing group each, with a small real FASTQ pair. Nothing to do when it is loaded already.",
    )
    db_option(demo)

    serve = actions.add_parser(
        "serve", help="run the server in the foreground (Ctrl-C stops it)",
        description="Run the server in the foreground: GraphQL and GraphiQL at /graphql, the REST calls of the "
                    "metamist client under /api/v1, the web folder under /web/. Ctrl-C stops it.",
    )
    db_option(serve)
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: 127.0.0.1, this machine only; requests must name it "
                            "or localhost in their Host header)")
    serve.add_argument(
        "--port", type=int, default=None,
        help="0 picks a free port (default: $TOOLKIT_METADATA_PORT or 8417)",
    )
    serve.add_argument("--gcs-mirror", type=Path, metavar="DIR",
                       help="local folder standing for GCS when checking gs:// outputs: gs://b/p -> DIR/b/p")
    serve.add_argument("--no-demo", action="store_true", help="do not load the demo into an empty store")


def run(args: argparse.Namespace) -> int:
    from toolkit.metadata_server import default_db_path

    db_path = args.db or default_db_path()
    if args.action == "load":
        from toolkit.metadata_server import load_dataset

        print(load_dataset(args.file, db_path).describe() + f" into {db_path}")
        return 0
    if args.action == "demo":
        from toolkit.metadata_server import DEMO_PROJECT, load_demo_once

        summary = load_demo_once(db_path)
        if summary is None:
            print(f"the demo project {DEMO_PROJECT} is already loaded in {db_path}: nothing to do")
        else:
            print(summary.describe() + f" into {db_path}")
        return 0
    from toolkit.metadata_server import ensure_demo_loaded
    from toolkit.metadata_server.runner import serve_forever
    from toolkit.settings import metadata_port

    port = metadata_port() if args.port is None else args.port

    if not args.no_demo and ensure_demo_loaded(db_path):
        print(f"the store was empty: loaded the demo project sandbox-test into {db_path}")

    def ready(url: str) -> None:
        print(f"metadata server on {url} (GraphiQL: {url}/graphql, store: {db_path}); Ctrl-C stops it")
        print("toolkit commands on this machine use it while it runs (same TOOLKIT_HOME and port)", flush=True)

    try:
        serve_forever(db_path, args.host, port, args.gcs_mirror, on_ready=ready)
    except KeyboardInterrupt:
        pass
    print("stopped", file=sys.stderr)
    return 0
