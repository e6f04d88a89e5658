#!/usr/bin/env python3
"""One FastQC run over a sequencing group's read files -> one HTML report, one ZIP and a metrics JSON.

    fastqc --outdir DIR --noextract --threads 2 -- READ... 2>&1 | tee DIR/fastqc.log
    fastqc-group --fastqc-dir=DIR --fastqc-log=DIR/fastqc.log --name=GROUP \
        --html=OUT.html --zip=OUT.zip --metrics=OUT.json -- READ...

FastQC writes one `<read>_fastqc.zip` (and .html) per read file. This script finds each read's ZIP by the
`Filename` FastQC recorded in it (so the reads keep the order given), and writes:

- HTML: a page with the group's pass/warn/fail table (module x read file), then every read's own FastQC
  report, unchanged, in an iframe (srcdoc). FastQC embeds its plots and icons as data: URIs, so the page is
  one self-contained file that works offline. The iframes are sandboxed (no script): FastQC's reports need
  none, and a read name FastQC ever left unescaped could run nothing.
- ZIP: every read's FastQC ZIP content merged into one archive: one `<read>_fastqc/` folder per read, exactly
  as FastQC lays them out (fastqc_data.txt, summary.txt, fastqc_report.html, Images/, Icons/). Extracted, it
  is what MultiQC reads. (MultiQC given the ZIP itself would read only the first folder: extract it first.)
- metrics JSON (how the group's read files are summarised):
    total_sequences  integer  sum of FastQC's "Total Sequences" over the read files (a pair: reads x 2)
    percent_gc       number   mean of the files' %GC weighted by their sequence counts, 1 decimal (0 if empty)
    modules          object   module (snake_case) -> the worst status over the read files: fail > warn > pass
    reads            array    per read file, in the order given: basename, total_sequences, percent_gc,
                              sequence_length (FastQC's text, e.g. "100" or "35-151"), poor_quality,
                              modules (module -> status)

Exits 1 with a message when a read has no FastQC result, two reads share a basename (FastQC would have
written both results to one name), a result cannot be parsed, or FastQC's log (--fastqc-log) shows a Java
exception: FastQC 0.11.9 prints the stack trace of a gzip that ends early (java.io.EOFException), still
writes a report of the reads it got (none, when the damage is in the first block) and exits 0.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import zipfile
from pathlib import Path

# "java.io.EOFException: Unexpected end of ZLIB input stream", "Failed to process file x.fastq.gz", ...
LOG_ERROR = re.compile(r"^(?:[\w.$]+(?:Exception|Error)\b.*|Failed to process .*)$", re.MULTILINE)
RANK = {"pass": 0, "warn": 1, "fail": 2}
STYLE = """
body { font-family: Arial, Helvetica, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: 1em 0; } th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; }
th { background: #f3f3f3; text-align: left; }
td.pass { background: #d9f2d9; } td.warn { background: #fff1c2; } td.fail { background: #f7c9c9; }
td.num { text-align: right; }
iframe { width: 100%; height: 90vh; border: 1px solid #ccc; }
"""


class Failure(Exception):
    pass


def snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def parse_data(text: str, source: str) -> dict:
    """FastQC's fastqc_data.txt -> basename, basic statistics and module statuses."""
    modules: dict[str, str] = {}
    stats: dict[str, str] = {}
    module = None
    for line in text.splitlines():
        if line.startswith(">>END_MODULE"):
            module = None
        elif line.startswith(">>"):
            name, _, status = line[2:].partition("\t")
            status = status.strip().lower()
            if status not in RANK:
                raise Failure(f"{source}: module {name!r} has status {status!r}")
            module = snake(name)
            modules[module] = status
        elif module == "basic_statistics" and not line.startswith("#"):
            key, _, value = line.partition("\t")
            stats[key.strip()] = value.strip()
    missing = [key for key in ("Filename", "Total Sequences", "%GC") if key not in stats]
    if missing or not modules:
        raise Failure(f"{source}: not a FastQC result (missing {', '.join(missing) or 'modules'})")
    try:
        total = int(stats["Total Sequences"])
        gc = float(stats["%GC"])
    except ValueError as error:
        raise Failure(f"{source}: {error}") from None
    return {
        "basename": stats["Filename"],
        "total_sequences": total,
        "percent_gc": int(gc) if gc.is_integer() else gc,
        "sequence_length": stats.get("Sequence length", ""),
        "poor_quality": int(stats.get("Sequences flagged as poor quality", "0") or 0),
        "modules": modules,
    }


def read_result(path: Path) -> tuple[dict, zipfile.ZipFile]:
    archive = zipfile.ZipFile(path)
    data = [name for name in archive.namelist() if name.endswith("/fastqc_data.txt") and name.count("/") == 1]
    if len(data) != 1:
        raise Failure(f"{path.name}: expected one <name>_fastqc/fastqc_data.txt, found {len(data)}")
    return parse_data(archive.read(data[0]).decode("utf-8", "replace"), path.name), archive


def summarise(results: list[dict]) -> dict:
    total = sum(result["total_sequences"] for result in results)
    weighted = sum(result["total_sequences"] * result["percent_gc"] for result in results)
    modules: dict[str, str] = {}
    for result in results:
        for name, status in result["modules"].items():
            if name not in modules or RANK[status] > RANK[modules[name]]:
                modules[name] = status
    return {
        "total_sequences": total,
        "percent_gc": round(weighted / total, 1) if total else 0.0,
        "modules": modules,
        "reads": results,
    }


def report_html(name: str, results: list[dict], reports: list[str]) -> str:
    modules = list(dict.fromkeys(module for result in results for module in result["modules"]))
    labels = {}
    for report in reports:  # FastQC's own module titles, e.g. "Per base sequence quality"
        for title in re.findall(r'<li>\s*<img[^>]*>\s*<a href="#M\d+">([^<]+)</a>', report):
            labels.setdefault(snake(html.unescape(title)), html.unescape(title))
    esc = html.escape

    def row(label: str, cells: list[str]) -> str:
        return f"<tr><th>{esc(label)}</th>{''.join(cells)}</tr>"

    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>FastQC: {esc(name)}</title><style>{STYLE}</style></head><body>",
        f"<h1>FastQC: {esc(name)}</h1>",
        "<table>" + row("", [f"<th>{esc(r['basename'])}</th>" for r in results]),
        row("Total sequences", [f'<td class="num">{r["total_sequences"]:,}</td>' for r in results]),
        row("%GC", [f'<td class="num">{r["percent_gc"]}</td>' for r in results]),
        row("Sequence length", [f'<td class="num">{esc(r["sequence_length"])}</td>' for r in results]),
    ]
    for module in modules:
        cells = "".join(
            f'<td class="{result["modules"].get(module, "")}">{result["modules"].get(module, "-")}</td>'
            for result in results
        )
        out.append(row(labels.get(module, module), [cells]))
    out.append("</table>")
    out.append("<p>" + " · ".join(
        f'<a href="#read{index}">{esc(result["basename"])}</a>' for index, result in enumerate(results, 1)
    ) + "</p>")
    for index, (result, report) in enumerate(zip(results, reports, strict=True), 1):
        out.append(f'<h2 id="read{index}">{esc(result["basename"])}</h2>')
        title = esc(f"FastQC report: {result['basename']}")
        out.append(f'<iframe sandbox="" title="{title}" srcdoc="{esc(report)}"></iframe>')
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fastqc-group", description=__doc__.split("\n\n")[0],
        epilog="Write option values as --name=VALUE; put the read paths after --.",
    )
    parser.add_argument("--fastqc-dir", required=True, type=Path, help="the folder FastQC wrote its ZIPs to")
    parser.add_argument("--fastqc-log", type=Path, help="FastQC's output: fail on the Java exceptions in it")
    parser.add_argument("--name", required=True, help="the group's name, for the report title")
    parser.add_argument("--html", required=True, type=Path, help="the group's HTML report to write")
    parser.add_argument("--zip", required=True, type=Path, help="the group's ZIP to write")
    parser.add_argument("--metrics", required=True, type=Path, help="the metrics JSON to write")
    parser.add_argument("reads", nargs="+", help="the read files FastQC ran on, in order")
    args = parser.parse_args(argv)
    try:
        if args.fastqc_log:
            errors = LOG_ERROR.findall(args.fastqc_log.read_text(errors="replace"))
            if errors:
                raise Failure("FastQC reported errors: " + "; ".join(dict.fromkeys(errors)))
        basenames = [Path(read).name for read in args.reads]
        duplicates = sorted({name for name in basenames if basenames.count(name) > 1})
        if duplicates:
            names = ", ".join(duplicates)
            raise Failure(f"reads share a basename (FastQC writes one result per name): {names}")
        found: dict[str, tuple[dict, zipfile.ZipFile, Path]] = {}
        for path in sorted(args.fastqc_dir.glob("*_fastqc.zip")):
            result, archive = read_result(path)
            found[result["basename"]] = (result, archive, path)
        missing = [name for name in basenames if name not in found]
        if missing:
            raise Failure(f"no FastQC result in {args.fastqc_dir} for: {', '.join(missing)}")
        results, reports = [], []
        args.zip.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(args.zip, "w") as merged:
            for name in basenames:
                result, archive, path = found[name]
                results.append(result)
                report = [entry for entry in archive.namelist() if entry.endswith("/fastqc_report.html")]
                if len(report) != 1:
                    raise Failure(f"{path.name}: no fastqc_report.html in it")
                reports.append(archive.read(report[0]).decode("utf-8", "replace"))
                for info in archive.infolist():
                    merged.writestr(info, archive.read(info), compress_type=info.compress_type)
        metrics = summarise(results)
        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(report_html(args.name, results, reports), encoding="utf-8")
        args.metrics.parent.mkdir(parents=True, exist_ok=True)
        args.metrics.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    except (Failure, zipfile.BadZipFile, OSError) as error:
        print(f"fastqc-group: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
