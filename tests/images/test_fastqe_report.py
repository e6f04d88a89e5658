"""fastqe-report (dockerfiles/fastqe/), the bundled FastQE spec's command, on this machine (setup.sh installs it)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

FIXTURES = REPO / "jobspecs" / "fixtures" / "fastqe"


def test_one_document_names_reads_by_their_own_escaped_names_and_needs_no_network(tmp_path):
    program = str(Path(sys.executable).parent / "fastqe-report")  # installed next to the toolkit by setup.sh / tox
    scratch = tmp_path / "batch-tmp" / "batch" / "1" / "inputs" / "x1y2"
    scratch.mkdir(parents=True)
    hostile = scratch / "<svg onload=alert(1)>_R1.fastq.gz"
    plain = scratch / "S1_R2.fastq.gz"
    shutil.copyfile(FIXTURES / "tiny_R1.fastq.gz", hostile)
    shutil.copyfile(FIXTURES / "tiny_R2.fastq.gz", plain)
    report, metrics = tmp_path / "r.html", tmp_path / "m.json"
    done = subprocess.run([program, "--html", str(report), "--metrics", str(metrics), "--", str(hostile), str(plain)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "pkg_resources" not in done.stderr
    text = report.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and text.count("<html") == 1
    assert "&lt;svg onload=alert(1)&gt;_R1.fastq.gz" in text and "<svg onload" not in text
    assert "S1_R2.fastq.gz" in text and "batch-tmp" not in text and "inputs/" not in text
    assert "cdn." not in text and "code.jquery.com" not in text and "sourceMappingURL" not in text
    values = json.loads(metrics.read_text())
    assert set(values) == {"reads", "bases", "mean_length", "mean_quality", "worst_position_quality"}
    assert values["reads"] == 16 and values["bases"] == round(values["mean_length"] * 16)
    assert 0 < values["worst_position_quality"] <= values["mean_quality"] <= 41
