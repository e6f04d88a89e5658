"""``toolkit outputs SPEC``: the Analyses this jobspec registered, with their display URLs."""

from __future__ import annotations

import argparse

from toolkit.cli._common import emit_json, table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="the jobspec YAML file")
    parser.add_argument("--project", help="Metamist project (default: from the cpg-utils config)")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="output format (default: table)")


def run(args: argparse.Namespace) -> int:
    from toolkit.registration import spec_analyses
    from toolkit.settings import open_settings
    from toolkit.spec import load_spec

    loaded = load_spec(args.spec)
    with open_settings(args.project) as settings:
        analyses = spec_analyses(settings.project, loaded.model.name)
        project = settings.project
    rows = []
    for analysis in sorted(analyses, key=lambda a: a["id"]):
        meta = analysis.get("meta") or {}
        rows.append(
            {
                "id": analysis["id"],
                "sequencing_groups": [sg["id"] for sg in analysis.get("sequencingGroups") or []],
                "type": analysis["type"],
                "status": analysis["status"],
                "output": analysis.get("output"),
                "display_url": meta.get("display_url"),
                "completed": analysis.get("timestampCompleted"),
                "image": (meta.get("provenance") or {}).get("image"),
            }
        )
    if args.format == "json":
        emit_json({"project": project, "jobspec": loaded.model.name, "analyses": rows})
        return 0
    if not rows:
        print(f"no Analyses registered by jobspec {loaded.model.name} in project {project}")
        return 0
    table(
        ("analysis", "group", "type", "status", "display url / output"),
        [
            (r["id"], ",".join(r["sequencing_groups"]), r["type"], r["status"], r["display_url"] or r["output"])
            for r in rows
        ],
    )
    if settings.home is not None and any(r["display_url"] for r in rows):
        from toolkit.cli._common import invocation

        print(f"\nlocal display URLs open while `{invocation()} serve {args.spec} --project {project}` runs")
    return 0
