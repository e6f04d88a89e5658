"""The bundled jobspecs as files: each validates with no warning, has spec tests with committed fixtures, and a
README line; fastqc-group on a hostile read name with the real FastQC."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from toolkit.spec import load_spec

SPECS = sorted((REPO / "jobspecs").glob("*.yaml"))


def test_every_bundled_spec_validates_without_a_warning(toolkit):
    done = toolkit.run("validate", *[str(spec) for spec in SPECS])
    assert done.stderr == ""
    assert len(re.findall(r"^ok: ", done.stdout, re.MULTILINE)) == len(SPECS) >= 4


@pytest.mark.parametrize("spec", SPECS, ids=[spec.stem for spec in SPECS])
def test_every_bundled_spec_has_tests_on_small_committed_fixtures_and_a_readme_line(spec):
    loaded = load_spec(spec)
    assert loaded.model.tests, f"{spec.name} has no tests:"
    tracked = set(subprocess.run(["git", "ls-files", "jobspecs/fixtures"], cwd=REPO, capture_output=True,
                                 text=True, check=True).stdout.split())
    for test in loaded.model.tests:
        groups = [test.group] if test.group is not None else list(test.groups)
        for group in groups:
            for read in group.reads:
                path = (spec.parent / (read if isinstance(read, str) else read.path)).resolve()
                assert path.relative_to(REPO).as_posix() in tracked, f"{path} is not committed"
                assert path.stat().st_size < 20_000, f"{path} is not a small fixture"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert re.search(rf"^- `jobspecs/{re.escape(spec.name)}`: \S", readme, re.MULTILINE)


@pytest.mark.host_tools
def test_fastqc_group_escapes_a_hostile_read_name_and_sandboxes_each_fastqc_report(host_tools, tmp_path):
    """Read names come from metadata (Hail keeps the location's basename): the page must never run one."""
    fixture = REPO / "jobspecs" / "fixtures" / "fastqc" / "tiny_R1.fastq.gz"
    hostile = tmp_path / "inputs" / "<svg onload=alert(1)>_R1.fastq.gz"
    hostile.parent.mkdir()
    shutil.copyfile(fixture, hostile)
    work = tmp_path / "work"
    work.mkdir()
    fastqc = subprocess.run(["fastqc", "--outdir", str(work), "--noextract", "--", str(hostile)],
                            capture_output=True, text=True, timeout=300)
    assert fastqc.returncode == 0, fastqc.stderr
    program = Path(sys.executable).parent / "fastqc-group"  # installed next to the toolkit by setup.sh / tox
    page, zipped, metrics = tmp_path / "r.html", tmp_path / "r.zip", tmp_path / "m.json"
    done = subprocess.run([str(program), f"--fastqc-dir={work}", "--name=<b>G1</b>", f"--html={page}",
                           f"--zip={zipped}", f"--metrics={metrics}", "--", str(hostile)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = page.read_text(encoding="utf-8")
    assert "<svg" not in text and "<b>G1" not in text
    assert "<title>FastQC: &lt;b&gt;G1&lt;/b&gt;</title>" in text
    assert "&lt;svg onload=alert(1)&gt;_R1.fastq.gz" in text
    frames = re.findall(r"<iframe[^>]*>", text)
    assert len(frames) == 1 and all(frame.startswith('<iframe sandbox="" ') for frame in frames)
    assert '"basename": "<svg onload=alert(1)>_R1.fastq.gz"' in metrics.read_text()  # JSON data, as it is
