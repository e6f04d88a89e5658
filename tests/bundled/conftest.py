"""Shared by the bundled specs' end-to-end tests: the Analyses as Metamist shows them, what the demo holds, the
images (built once per session) and the host tools.

Container runs need the Docker Engine and the local registry (marker `docker`, as in tests/images); host runs
need Debian's FastQC and MultiQC next to the toolkit (marker `host_tools`: scripts/test.sh installs both).
Without them the tests skip with the reason, and fail under TOOLKIT_REQUIRE_DOCKER=1 /
TOOLKIT_REQUIRE_HOST_TOOLS=1 (CI).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.cli.test_run import analyses_via_graphql
from tests.conftest import REPO

DEMO = {"CPGLCL17": "DEMO001", "CPGLCL25": "DEMO002", "CPGLCL33": "DEMO003"}
DEMO_READS_PER_FILE = 2000  # toolkit/metadata_server/demo/*.fastq.gz
FASTQC = "jobspecs/fastqc.yaml"
MULTIQC = "jobspecs/multiqc.yaml"
CHECKSUMS = "jobspecs/read-checksums.yaml"
STATUSES = {"pass", "warn", "fail"}


def analyses_of(toolkit, jobspec: str) -> list[dict]:
    """The project's active Analyses that `jobspec` registered, by id."""
    return sorted((a for a in analyses_via_graphql(toolkit) if a["meta"].get("jobspec") == jobspec),
                  key=lambda a: a["id"])


def local(analysis: dict) -> Path:
    return Path(analysis["output"].removeprefix("file://"))


def targets(analysis: dict) -> list[str]:
    return sorted(sg["id"] for sg in analysis["sequencingGroups"])


def load_new_sample(toolkit, tmp_path: Path, sample: str = "NEW004") -> tuple[Path, dict]:
    """One more sample in the demo project, as a user adds one: its reads copied into a folder of their own,
    a CSV loaded with `toolkit metadata load`. Returns that folder and the env that lets runs read it."""
    reads = tmp_path / "new-reads"
    reads.mkdir()
    for mate in ("R1", "R2"):
        shutil.copyfile(REPO / "jobspecs" / "fixtures" / "fastqc" / f"tiny_{mate}.fastq.gz",
                        reads / f"{sample}_{mate}.fastq.gz")
    sheet = tmp_path / "new-sample.csv"
    sheet.write_text("project,participant,sample,sequencing_type,read1,read2\n"
                     f"sandbox-test,P-{sample},{sample},genome,{reads}/{sample}_R1.fastq.gz,"
                     f"{reads}/{sample}_R2.fastq.gz\n")
    toolkit.run("metadata", "load", str(sheet))
    return reads, {"TOOLKIT_READ_ROOTS": str(reads)}


def check_fastqc_analyses(toolkit, samples: dict[str, str], reads_per_file: dict[str, int]) -> dict[str, dict]:
    """Every Analysis fastqc.yaml registered: per group one `web` (the HTML, with a display URL) and one `qc`
    (the ZIP), each against that group only, both with the same typed metrics. Returns the ZIP Analyses by group."""
    registered = analyses_of(toolkit, "fastqc")
    assert sorted(a["type"] for a in registered) == ["qc"] * len(samples) + ["web"] * len(samples)
    zips = {}
    for analysis in registered:
        (group,) = targets(analysis)
        sample, meta = samples[group], analysis["meta"]
        assert meta["stage"] == "FastQC" and meta["sequencing_type"] == "genome"
        assert meta["jobspec_output"] == {"web": "report", "qc": "zip"}[analysis["type"]]
        metrics = meta["metrics"]
        assert set(metrics) == {"total_sequences", "percent_gc", "modules", "reads"}
        # JSON numbers, not text: an integer count and a decimal percentage
        assert type(metrics["total_sequences"]) is int and metrics["total_sequences"] == 2 * reads_per_file[group]
        assert type(metrics["percent_gc"]) in (int, float) and 20 < metrics["percent_gc"] < 80
        modules = metrics["modules"]
        assert isinstance(modules, dict) and set(modules.values()) <= STATUSES
        assert {"basic_statistics", "per_base_sequence_quality", "adapter_content"} <= set(modules)
        assert [r["basename"] for r in metrics["reads"]] == [f"{sample}_R1.fastq.gz", f"{sample}_R2.fastq.gz"]
        assert [r["total_sequences"] for r in metrics["reads"]] == [reads_per_file[group]] * 2
        path = local(analysis)
        if analysis["type"] == "web":
            assert path.name == f"{group}_fastqc.html" and path.parent.parent.parent.name.endswith("-web")
            assert meta["display_url"] == f"{toolkit.web_base_url}/{path.relative_to(toolkit.home / 'buckets')}"
            page = path.read_text(encoding="utf-8")
            assert f"<title>FastQC: {group}</title>" in page and page.count("<iframe sandbox") == 2
        else:
            assert path.name == f"{group}_fastqc.zip" and "display_url" not in meta
            names = zipfile.ZipFile(path).namelist()
            assert {f"{sample}_{mate}_fastqc/fastqc_data.txt" for mate in ("R1", "R2")} <= set(names)
            zips[group] = analysis
    web_metrics = {targets(a)[0]: a["meta"]["metrics"] for a in registered if a["type"] == "web"}
    assert web_metrics == {group: a["meta"]["metrics"] for group, a in zips.items()}
    return zips


def check_multiqc_analyses(toolkit, samples: dict[str, str]) -> dict[str, dict]:
    """MultiQC's two Analyses (the report, `web`, and its data, `qc`), each registered once against every
    member group; the report names every read file of every member. Returns them by type."""
    registered = {a["type"]: a for a in analyses_of(toolkit, "multiqc")}
    assert sorted(registered) == ["qc", "web"] and len(analyses_of(toolkit, "multiqc")) == 2
    for analysis in registered.values():
        assert targets(analysis) == sorted(samples)
        assert analysis["meta"]["stage"] == "MultiQC" and analysis["meta"]["sequencing_groups"] == len(samples)
    report = local(registered["web"])
    assert report.relative_to(toolkit.home / "buckets").as_posix() == (
        "cpg-sandbox-test-web/toolkit/multiqc/sandbox-test/multiqc_report.html")
    assert registered["web"]["meta"]["display_url"].endswith("/toolkit/multiqc/sandbox-test/multiqc_report.html")
    page = report.read_text(encoding="utf-8")
    for group, sample in samples.items():
        assert f"{group} | {sample}_R1" in page and f"{group} | {sample}_R2" in page
    data = zipfile.ZipFile(local(registered["qc"]))
    table = next(name for name in data.namelist() if name.endswith("multiqc_fastqc.txt"))
    rows = data.read(table).decode().splitlines()[1:]
    assert sorted(row.split("\t")[0] for row in rows) == sorted(
        f"{group} | {sample}_{mate}" for group, sample in samples.items() for mate in ("R1", "R2"))
    return registered


@pytest.fixture(scope="session")
def images():
    """The registry the bundled images are built into (`toolkit build`: nothing to do when up to date)."""
    from toolkit.images import engine_status

    available, reason = engine_status()
    if not available:
        pytest.skip(f"Docker Engine not reachable: {reason}")
    registry = os.environ.get("REGISTRY")
    if not registry:
        pytest.skip("REGISTRY not set: eval \"$(.ci/services/docker-up.sh)\" starts a local registry")
    env = {**os.environ, "TOOLKIT_REGISTRY": registry}
    for spec in (FASTQC, MULTIQC, CHECKSUMS):
        built = subprocess.run([sys.executable, "-m", "toolkit", "build", spec], cwd=REPO, env=env,
                               capture_output=True, text=True, timeout=1800)
        assert built.returncode == 0, built.stdout + built.stderr
    return registry


@pytest.fixture
def host_tools():
    """FastQC (Debian's, on PATH) and MultiQC (scripts/setup.sh --with-multiqc, next to the toolkit)."""
    missing = []
    if shutil.which("fastqc") is None:
        missing.append("fastqc (apt-get install fastqc)")
    if not (Path(sys.executable).parent / "multiqc").exists():
        missing.append("multiqc (scripts/setup.sh --with-multiqc)")
    if missing:
        pytest.skip("host runs need " + " and ".join(missing))
