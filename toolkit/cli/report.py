"""``toolkit report --out DIR``: the results page as files (index.html and its assets), e.g. for a web bucket."""

from __future__ import annotations

import argparse
from pathlib import Path


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
    parser.add_argument(
        "--out", required=True, type=Path, metavar="DIR",
        help="folder to write index.html and assets/ into (created; files of an earlier report are replaced)",
    )
    parser.add_argument("--title", default="toolkit results", help="the page's title")


def run(args: argparse.Namespace) -> int:
    from toolkit.errors import UsageError
    from toolkit.results.collect import collect_results
    from toolkit.results.render import render_static_page, write_assets

    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out}: exists and is not a folder")
    results = collect_results(args.project or [None], list(args.specs))
    source = ", ".join(args.specs) if args.specs else "jobspecs recorded in the Analyses"
    html = render_static_page(results, title=args.title, source=source)
    args.out.mkdir(parents=True, exist_ok=True)
    write_assets(args.out)
    index = args.out / "index.html"
    tmp = index.with_suffix(".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(index)
    groups = sum(len(spec.groups) for project in results for spec in project.specs)
    print(f"wrote {index} ({len(results)} project(s), {groups} group row(s)); open it in a browser, or copy the "
          "folder to a web bucket")
    for project in results:
        if project.error:
            print(f"warning: project {project.name}: {project.error}")
    return 0
