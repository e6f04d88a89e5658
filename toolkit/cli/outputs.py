"""``toolkit outputs SPEC``: the Analyses this jobspec registered, with their display URLs.

``--verify`` checks each registered output against the fingerprint its Analysis recorded (size and checksum,
toolkit.fingerprint): an output that is gone or was changed since it was registered is reported, and the
command exits 7.
"""

from __future__ import annotations

import argparse

from toolkit.cli._common import emit_json, table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="the jobspec YAML file")
    parser.add_argument("--project", help="Metamist project (default: from the cpg-utils config)")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="output format (default: table)")
    parser.add_argument(
        "--verify", action="store_true",
        help="check each registered output against the size and checksum recorded when it was registered "
        "(exit 7 when one is missing or changed)",
    )


def verify(analysis: dict, gcs_mirror: str | None) -> str:
    """"ok", "missing", "changed (...)", or "not recorded" (registered without a fingerprint)."""
    from toolkit.fingerprint import fingerprint

    recorded = ((analysis.get("meta") or {}).get("provenance") or {}).get("output")
    now = fingerprint(analysis.get("output") or "", gcs_mirror)
    if now is None:
        return "missing"
    if not isinstance(recorded, dict) or "checksum" not in recorded:
        return "not recorded"
    if now.size != recorded.get("size"):
        return f"changed (size {recorded.get('size')} -> {now.size})"
    if now.checksum != recorded.get("checksum"):
        return "changed (same size, other checksum)"
    return "ok"


def run(args: argparse.Namespace) -> int:
    from toolkit.registration import spec_analyses
    from toolkit.settings import open_settings
    from toolkit.spec import load_spec

    loaded = load_spec(args.spec)
    with open_settings(args.project) as settings:
        analyses = spec_analyses(settings.project, loaded.model.name)
        project = settings.project
        mirror = (settings.config.get("toolkit") or {}).get("gcs_mirror")
        checks = {a["id"]: verify(a, mirror) for a in analyses} if args.verify else {}
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
                **({"verified": checks[analysis["id"]]} if args.verify else {}),
            }
        )
    changed = [r for r in rows if args.verify and r["verified"] != "ok"]
    if args.format == "json":
        emit_json({"project": project, "jobspec": loaded.model.name, "analyses": rows})
    elif not rows:
        print(f"no Analyses registered by jobspec {loaded.model.name} in project {project}")
        return 0
    else:
        headers = ("analysis", "group", "type", "status", "display url / output") + (("verified",) if args.verify else ())
        table(headers, [
            (r["id"], ",".join(r["sequencing_groups"]), r["type"], r["status"], r["display_url"] or r["output"],
             *((r["verified"],) if args.verify else ()))
            for r in rows
        ])
    if changed:
        from toolkit.errors import OutputsChanged

        raise OutputsChanged(
            f"{len(changed)} of {len(rows)} registered output(s) no longer match what was registered",
            hint=f"rerun them: toolkit run {args.spec} --force --sgids ... (or find out who changed them)",
        )
    if args.format == "json":
        return 0
    if settings.home is not None and any(r["display_url"] for r in rows):
        from toolkit.cli._common import invocation

        print(f"\nlocal display URLs open while `{invocation()} serve {args.spec} --project {project}` runs")
    return 0
