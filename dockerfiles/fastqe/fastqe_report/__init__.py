"""fastqe-report: one readable, self-contained FastQE HTML report for a set of FASTQ files, and their metrics.

FastQE 0.3.1's ``--html`` writes one whole HTML document per input file (two files: two documents one after the
other), after a tab-separated header line, names each file by the path it was given (in a Hail job a scratch
path such as ``.../batch-tmp/batch/<id>/inputs/<random>/S1_R1.fastq.gz``), links Bootstrap and jQuery from
CDNs, and inserts the name unescaped. This wrapper runs FastQE's own statistics and HTML code once per file,
in this process (each file is read once), and writes:

* one HTML document: each file in a section headed by its own name (the file's basename, which Hail keeps),
  HTML-escaped;
  Bootstrap 5.2.3 (CSS, and its JavaScript with Popper for FastQE's tooltips) inlined from this package,
  so the report needs no network;
* a JSON object of metrics for the whole set (reads, bases, mean length, mean base quality, the worst
  position's mean quality), for the toolkit to record in the Analysis.

    fastqe-report --html REPORT.html --metrics METRICS.json [--minlen N] -- READ.fastq.gz [READ.fastq.gz ...]
"""

from __future__ import annotations

import argparse
import gzip
import html
import io
import json
import os
import re
import sys
import warnings
from importlib import resources

__version__ = "1.0.0"

# FastQE imports pkg_resources (deprecated) only to read its own version: the warning is noise in every job.
warnings.filterwarnings("ignore", message=r"pkg_resources is deprecated", category=UserWarning)

_FRAGMENT = re.compile(r"</script>\s*(?P<body>.*?)\s*<!-- jQuery first", re.DOTALL)
_SOURCE_MAP = re.compile(r"/\*# sourceMappingURL=[^*]*\*/|//# sourceMappingURL=\S*")
TOOLTIPS = (
    "document.querySelectorAll('[data-bs-toggle=\"tooltip\"]')"
    ".forEach(function (element) { new bootstrap.Tooltip(element); });"
)


def _asset(name: str) -> str:
    text = resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")
    # A source-map comment makes developer tools fetch a file that does not exist here.
    return _SOURCE_MAP.sub("", text)


def _open(path: str):
    return gzip.open(path, "rt") if path.endswith(".gz") else open(path)


def analyse(path: str, stand_in: str, min_length: int | None = None):
    """(FastQE statistics, FastQE's HTML body for the file with ``stand_in`` where its name goes).

    ``min_length``: reads shorter than this are left out (FastQE's ``--minlen``)."""
    from fastqe import fastqe as tool
    from fastqe import fastqe_map as maps

    with _open(path) as handle:
        stats = tool.FastqStats().from_file(handle, tool.DEFAULT_READ_LENGTH,
                                               tool.DEFAULT_MIN_LEN if min_length is None else min_length)
    buffer = io.StringIO()
    tool.print_output(stats, stand_in, maps.fastq_emoji_map, "", ":heart_eyes:", buffer, tool.CASE_HTML)
    match = _FRAGMENT.search(buffer.getvalue())
    if match is None:
        raise SystemExit("fastqe-report: FastQE's HTML output has changed shape; this wrapper needs updating")
    return stats, match.group("body")


def metrics(all_stats) -> dict:
    reads = sum(s.num_seqs for s in all_stats)
    bases = sum(s.num_bases for s in all_stats)
    weighted = positions = 0.0
    worst = None
    for s in all_stats:
        means = s.quality_scores_mean.letter_annotations["phred_quality"]
        counts = list(s.counts_per_position)
        for mean, count in zip(means, counts, strict=False):
            weighted += mean * count
            positions += count
        if len(means):
            worst = min(means) if worst is None else min(worst, min(means))
    return {
        "reads": reads,
        "bases": bases,
        "mean_length": round(bases / reads, 1) if reads else 0,
        "mean_quality": round(weighted / positions, 2) if positions else 0,
        "worst_position_quality": int(worst) if worst is not None else 0,
    }


def report(names: list[str], sections: list[tuple[object, str]]) -> str:
    parts = []
    for name, (stats, body) in zip(names, sections, strict=True):
        summary = (
            f"{stats.num_seqs:,} reads, {stats.num_bases:,} bases, length {stats.min_len}–{stats.max_len}"
            if stats.num_seqs else "no reads"
        )
        parts.append(
            f'<section class="mb-4"><h2 class="h5 mb-1">{html.escape(name)}</h2>'
            f'<p class="text-muted small mb-2">{html.escape(summary)}</p>'
            f'<div class="fastqe fs-5 text-break">{body}</div></section>'
        )
    title = "FastQE: " + ", ".join(names)
    return (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{_asset('bootstrap.min.css')}</style>\n</head>\n"
        "<body>\n<main class=\"container py-3\">\n"
        "<h1 class=\"h4\">FastQE quality report</h1>\n"
        "<p class=\"text-muted\">Mean base quality per position as emoji; hover over a position for its maximum, "
        "mean and minimum.</p>\n"
        + "\n".join(parts)
        + f"\n</main>\n<script>{_asset('bootstrap.bundle.min.js')}</script>\n<script>{TOOLTIPS}</script>\n"
        "</body>\n</html>\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fastqe-report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", required=True, metavar="FILE", help="where to write the HTML report")
    parser.add_argument("--metrics", metavar="FILE", help="where to write the metrics (JSON object)")
    parser.add_argument("--minlen", type=int, default=None, metavar="N",
                        help="leave reads shorter than N out of the statistics (FastQE's --minlen)")
    parser.add_argument("--version", action="version", version=f"fastqe-report {__version__}")
    parser.add_argument("reads", nargs="+", metavar="FASTQ", help="FASTQ files (.gz or plain); put them after --")
    args = parser.parse_args(argv)

    names = [os.path.basename(path) for path in args.reads]
    sections = []
    for index, path in enumerate(args.reads):
        stand_in = f"fastqe-report-file-{index}"  # no markup, no path; the section's heading names the file
        stats, body = analyse(path, stand_in, args.minlen)
        sections.append((stats, body.replace(stand_in, "")))
    with open(args.html, "w", encoding="utf-8") as out:
        out.write(report(names, sections))
    if args.metrics:
        with open(args.metrics, "w", encoding="utf-8") as out:
            json.dump(metrics([stats for stats, _ in sections]), out, indent=1)
            out.write("\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
