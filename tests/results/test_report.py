"""`toolkit report --out DIR`: the results page as files, with every group's state, metrics, plots and provenance.

States come from real runs (Hail LocalBackend, on the host) of a second, non-FastQE spec: done, failed (the run
record), never run, due (outputs written but not registered).
"""

from __future__ import annotations

import gzip
import html
import re
from pathlib import Path

import pytest

from tests.cli.test_run import CHECKSUMS, in_own_process


def page_rows(index: Path, spec: str) -> dict[str, dict]:
    """{group id: {"state", "reason", "metrics": {name: text}, "html"}} for one spec's table in the page."""
    text = index.read_text(encoding="utf-8")
    section = re.search(rf'<section class="spec" data-spec="{re.escape(spec)}">(.*?)</section>', text, re.S)
    assert section, f"no section for {spec}"
    rows = {}
    for match in re.finditer(r'<tr class="group[^"]*" data-group="([^"]+)" data-state="([^"]+)">(.*?)</tr>',
                             section.group(1), re.S):
        body = match.group(3)
        reason = re.search(r'<span class="reason">(.*?)</span>', body, re.S).group(1)
        metrics = dict(re.findall(r'data-metric="([^"]+)"[^>]*>([^<]*)</td>', body))
        rows[html.unescape(match.group(1))] = {
            "state": match.group(2), "reason": html.unescape(reason), "metrics": metrics, "html": body,
        }
    return rows


@pytest.mark.slow
def test_each_group_shows_done_failed_never_run_or_due_with_the_reason(toolkit, tmp_path):
    failed = toolkit.run("run", CHECKSUMS, "--execution", "host", "--sgids", "CPGLCL17", "CPGLCL25", check=6,
                         extra_env={"CHECKSUMS_FAIL_GROUP": "CPGLCL25"})
    assert "look at the results:" in failed.stderr and f"serve {CHECKSUMS} --project sandbox-test" in failed.stderr

    out = tmp_path / "report"
    toolkit.run("report", CHECKSUMS, "--out", str(out))
    rows = page_rows(out / "index.html", "read-checksums")
    assert {gid: row["state"] for gid, row in rows.items()} == {
        "CPGLCL17": "done", "CPGLCL25": "failed", "CPGLCL33": "never run"}
    assert rows["CPGLCL17"]["reason"] == "already registered (Analysis 1)"
    assert "job failed" in rows["CPGLCL25"]["reason"] and "UTC" in rows["CPGLCL25"]["reason"]
    assert rows["CPGLCL17"]["metrics"]["sample"] == "DEMO001"  # the spec's register meta
    assert "Analysis 1" in rows["CPGLCL17"]["html"] and "md5sum" in rows["CPGLCL17"]["html"]  # provenance: command

    # The failure is fixed and the group runs: the journal forgets it. Then CPGLCL17's Analysis is retired by
    # someone: its output exists, but nothing says it is still wanted as it is, so it is due to run again.
    toolkit.run("run", CHECKSUMS, "--execution", "host", "--sgids", "CPGLCL25")
    in_own_process(
        toolkit,
        "from metamist.models import AnalysisUpdateModel, AnalysisStatus\n"
        "analysis_api().update_analysis(1, AnalysisUpdateModel(status=AnalysisStatus('completed'), active=False))",
    )
    toolkit.run("report", CHECKSUMS, "--out", str(out))
    rows = page_rows(out / "index.html", "read-checksums")
    assert rows["CPGLCL25"]["state"] == "done"
    assert rows["CPGLCL17"]["state"] == "due"
    assert rows["CPGLCL17"]["reason"].startswith("md5 exists at its destination but no run of this spec recorded")

    # Without a spec on the command line, the spec recorded in the Analyses' provenance is used.
    bare = tmp_path / "bare"
    toolkit.run("report", "--out", str(bare))
    assert page_rows(bare / "index.html", "read-checksums")["CPGLCL25"]["state"] == "done"


def test_the_exported_page_is_self_contained_and_carries_its_policy(toolkit, tmp_path):
    out = tmp_path / "report"
    done = toolkit.run("report", "jobspecs/fastqe.yaml", "--out", str(out))
    assert str(out / "index.html") in done.stdout
    text = (out / "index.html").read_text(encoding="utf-8")
    assert '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; script-src \'self\'' in text
    assert not re.search(r'(src|href)="(https?:)?//', text)  # no CDN: every asset is a file beside the page
    for asset in re.findall(r'(?:src|href)="(assets/[^"]+)"', text):
        assert (out / asset).is_file(), asset
    assert (out / "assets" / "sortable-tablesort.LICENSE.txt").is_file()
    rows = page_rows(out / "index.html", "fastqe")
    assert {gid: row["state"] for gid, row in rows.items()} == {
        "CPGLCL17": "never run", "CPGLCL25": "never run", "CPGLCL33": "never run"}


def test_an_unknown_project_lists_the_known_ones(toolkit, tmp_path):
    out = tmp_path / "report"
    done = toolkit.run("report", "jobspecs/fastqe.yaml", "--project", "nosuch-test", "--out", str(out))
    assert "warning: project nosuch-test" in done.stdout and "sandbox-test" in done.stdout
    assert "projects you can use: sandbox-test" in (out / "index.html").read_text(encoding="utf-8")


def write_fastq(path: Path, reads: int = 2) -> None:
    with gzip.open(path, "wt") as handle:
        for index in range(reads):
            handle.write(f"@r{index}\nACGT\n+\nIIII\n")


def test_a_metric_far_from_the_others_is_marked_in_the_table_and_the_plot(toolkit, tmp_path):
    """Eight groups with a metric each, one far off: Tukey's fences flag it; the plot is an inert SVG image."""
    sheet = tmp_path / "samples.csv"
    lines = ["project,participant,sample,sequencing_type,read1,read2"]
    for index in range(8):
        write_fastq(tmp_path / f"S{index}_R1.fastq.gz")
        write_fastq(tmp_path / f"S{index}_R2.fastq.gz")
        lines.append(f"outliers-test,P{index},S{index},genome,S{index}_R1.fastq.gz,S{index}_R2.fastq.gz")
    sheet.write_text("\n".join(lines) + "\n")
    toolkit.run("metadata", "load", str(sheet))
    in_own_process(
        toolkit,
        "from metamist.models import Analysis, AnalysisStatus\n"
        "groups = graphql_query('{ project(name: \"outliers-test\") { sequencingGroups { id } } }', {})\n"
        "ids = [sg['id'] for sg in groups['project']['sequencingGroups']]\n"
        "for index, sg in enumerate(ids):\n"
        "    quality = 12.5 if index == 5 else 33.0 + 0.1 * index\n"
        "    analysis_api().create_analysis('outliers-test', Analysis(type='qc', status=AnalysisStatus('completed'),"
        " output=f'file:///data/{sg}.json', sequencing_group_ids=[sg], meta={'jobspec': 'qc-metrics',"
        " 'metrics': {'mean_quality': quality, 'reads': 1000}, 'provenance': {'reuse_key': f'sha256:{index}',"
        " 'image': 'registry/qc@sha256:abc', 'tool_version': 'qc 1.0', 'command': 'qc --in x'}}))\n",
    )
    out = tmp_path / "report"
    toolkit.run("report", "--project", "outliers-test", "--out", str(out))
    text = (out / "index.html").read_text(encoding="utf-8")
    rows = page_rows(out / "index.html", "qc-metrics")
    assert len(rows) == 8 and all(row["state"] == "done" for row in rows.values())
    flagged = [gid for gid, row in rows.items() if 'outlier" data-metric="mean_quality"' in row["html"]]
    assert len(flagged) == 1 and rows[flagged[0]]["metrics"]["mean_quality"] == "12.5"
    figure = re.search(r'<figure class="plot" data-metric="mean_quality">(.*?)</figure>', text, re.S).group(1)
    assert re.search(r'<img src="data:image/svg\+xml;base64,[A-Za-z0-9+/=]+"', figure)
    assert f"outlier {flagged[0]}" in figure
    assert '<figure class="plot" data-metric="reads">' not in text  # equal in every group: the table says it all
    assert "sha256:5" in text and "reuse key" in text and "qc 1.0" in text and "registry/qc@sha256:abc" in text
    assert "only the registered Analyses are shown" in text


def test_tukey_fences_need_four_values_and_flag_only_the_far_ones():
    from toolkit.results.collect import tukey_outliers

    assert tukey_outliers("m", {"a": 1, "b": 100, "c": 2}) == []
    found = tukey_outliers("m", {"a": 10, "b": 11, "c": 12, "d": 11, "e": 40})
    assert [(o.group, o.value) for o in found] == [("e", 40)]
    assert tukey_outliers("m", {"a": 5, "b": 5, "c": 5, "d": 5}) == []


def test_report_help_and_bad_out(toolkit, tmp_path):
    file = tmp_path / "file"
    file.write_text("x")
    done = toolkit.run("report", "jobspecs/fastqe.yaml", "--out", str(file), check=2)
    assert "exists and is not a folder" in done.stderr
    assert "--out" in toolkit.run("report", check=2).stderr


