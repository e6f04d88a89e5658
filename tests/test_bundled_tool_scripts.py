"""The small scripts the bundled images carry (dockerfiles/*/*.py), run on the host with this Python.

fastqc-group (dockerfiles/fastqc) and read-checksums (dockerfiles/read-checksums) decide whether a job fails,
so their edge cases are checked here; the images themselves run them in their spec tests.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

FIXTURES = REPO / "jobspecs" / "fixtures"


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fastqc_group = load(REPO / "dockerfiles" / "fastqc" / "fastqc_group.py", "fastqc_group")
read_checksums = load(REPO / "dockerfiles" / "read-checksums" / "read_checksums.py", "read_checksums")


# --- read-checksums ---------------------------------------------------------------------------------------


def md5(path: Path) -> str:
    return "md5:" + hashlib.md5(path.read_bytes()).hexdigest()


def run_checksums(tmp_path, read: Path, *options: str) -> tuple[int, dict | None]:
    metrics = tmp_path / "metrics.json"
    metrics.unlink(missing_ok=True)
    code = read_checksums.main([*options, f"--metrics={metrics}", "--", str(read)])
    return code, json.loads(metrics.read_text()) if metrics.exists() else None


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.fastq.gz"
    path.write_bytes((FIXTURES / "read-checksums" / "tiny.fastq.gz").read_bytes())
    return path


def test_a_matching_checksum_gives_the_metrics(tmp_path, tiny):
    code, metrics = run_checksums(tmp_path, tiny, f"--expected={md5(tiny)}")
    assert code == 0
    assert metrics == {
        "basename": "tiny.fastq.gz", "size": tiny.stat().st_size, "md5": md5(tiny)[4:],
        "checksum_verified": True, "compression": "gzip", "reads": 20,
    }


def test_no_recorded_checksum_passes_unverified_unless_required(tmp_path, tiny):
    code, metrics = run_checksums(tmp_path, tiny, "--expected=")
    assert code == 0 and metrics["checksum_verified"] is False and metrics["md5"] == md5(tiny)[4:]
    assert run_checksums(tmp_path, tiny, "--expected=", "--require-checksum") == (1, None)


def test_a_mismatch_fails_without_metrics(tmp_path, tiny, capsys):
    assert run_checksums(tmp_path, tiny, "--expected=md5:" + "0" * 32) == (1, None)
    assert "md5 mismatch for tiny.fastq.gz" in capsys.readouterr().err


def test_sha256_and_bare_md5_are_understood(tmp_path, tiny):
    sha = hashlib.sha256(tiny.read_bytes()).hexdigest()
    assert run_checksums(tmp_path, tiny, f"--expected=sha256:{sha}")[0] == 0
    assert run_checksums(tmp_path, tiny, f"--expected={md5(tiny)[4:]}")[0] == 0
    assert run_checksums(tmp_path, tiny, "--expected=crc32c:AAAA")[0] == 2


def damaged(tmp_path, tiny, name: str) -> Path:
    good = tiny.read_bytes()
    middle = len(good) // 2
    variants = {
        "truncated.fastq.gz": (FIXTURES / "read-checksums" / "truncated.fastq.gz").read_bytes(),
        "bitflip.fastq.gz": good[:middle] + bytes([good[middle] ^ 0xFF]) + good[middle + 1:],
        "garbage.fastq.gz": good + b"garbage",
        "plain-but-named.fastq.gz": gzip.decompress(good),
        "partial-record.fastq.gz": gzip.compress(gzip.decompress(good) + b"@extra\nACGT\n"),
    }
    path = tmp_path / name
    path.write_bytes(variants[name])
    return path


@pytest.mark.parametrize(
    "name", ["truncated.fastq.gz", "bitflip.fastq.gz", "garbage.fastq.gz", "plain-but-named.fastq.gz",
             "partial-record.fastq.gz"],
)
def test_damaged_files_fail_even_with_their_own_checksum(tmp_path, tiny, name):
    path = damaged(tmp_path, tiny, name)
    assert run_checksums(tmp_path, path, f"--expected={md5(path)}") == (1, None)


def test_valid_gzip_variants_pass(tmp_path, tiny):
    good = tiny.read_bytes()
    for name, data, reads, compression in [
        ("multi-member.fastq.gz", good + good, 40, "gzip"),
        ("zero-padded.fastq.gz", good + b"\0" * 64, 20, "gzip"),
        ("plain.fastq", gzip.decompress(good), 20, "none"),
        ("empty.fastq.gz", gzip.compress(b""), 0, "gzip"),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        code, metrics = run_checksums(tmp_path, path, f"--expected={md5(path)}")
        assert (code, metrics["reads"], metrics["compression"]) == (0, reads, compression), name


# --- fastqc-group -----------------------------------------------------------------------------------------


def fastqc_result(folder: Path, read: str, total: int, gc: int, statuses: dict[str, str]) -> None:
    """A FastQC result ZIP as FastQC 0.11.9 writes it (fastqc_data.txt with the fields the script reads)."""
    stem = read.removesuffix(".gz").removesuffix(".fastq")
    modules = "".join(f">>{name}\t{status}\n>>END_MODULE\n" for name, status in statuses.items())
    data = (
        "##FastQC\t0.11.9\n>>Basic Statistics\tpass\n#Measure\tValue\n"
        f"Filename\t{read}\nTotal Sequences\t{total}\nSequences flagged as poor quality\t0\n"
        f"Sequence length\t100\n%GC\t{gc}\n>>END_MODULE\n{modules}"
    )
    report = f'<html><ul><li><img src="x"><a href="#M1">Per base sequence quality</a></li></ul>{read}</html>'
    with zipfile.ZipFile(folder / f"{stem}_fastqc.zip", "w") as archive:
        archive.writestr(f"{stem}_fastqc/fastqc_data.txt", data)
        archive.writestr(f"{stem}_fastqc/summary.txt", "PASS\tBasic Statistics\t" + read + "\n")
        archive.writestr(f"{stem}_fastqc/fastqc_report.html", report)


def run_group(tmp_path, reads: list[str], *options: str) -> int:
    return fastqc_group.main([
        f"--fastqc-dir={tmp_path / 'fastqc'}", "--name=CPG1", f"--html={tmp_path / 'out.html'}",
        f"--zip={tmp_path / 'out.zip'}", f"--metrics={tmp_path / 'out.json'}", *options, "--",
        *[f"/inputs/x{index}/{read}" for index, read in enumerate(reads)],
    ])


def test_fastqc_group_summarises_a_pair(tmp_path):
    (tmp_path / "fastqc").mkdir()
    fastqc_result(tmp_path / "fastqc", "S1_R1.fastq.gz", 300, 40,
                  {"Per base sequence quality": "pass", "Adapter Content": "warn"})
    fastqc_result(tmp_path / "fastqc", "S1_R2.fastq.gz", 100, 60,
                  {"Per base sequence quality": "fail", "Adapter Content": "pass"})
    assert run_group(tmp_path, ["S1_R2.fastq.gz", "S1_R1.fastq.gz"]) == 0
    metrics = json.loads((tmp_path / "out.json").read_text())
    assert metrics["total_sequences"] == 400
    assert metrics["percent_gc"] == 45.0  # (300 x 40 + 100 x 60) / 400
    assert metrics["modules"] == {"basic_statistics": "pass", "per_base_sequence_quality": "fail",
                                  "adapter_content": "warn"}
    assert [read["basename"] for read in metrics["reads"]] == ["S1_R2.fastq.gz", "S1_R1.fastq.gz"]
    page = (tmp_path / "out.html").read_text()
    assert "<title>FastQC: CPG1</title>" in page and page.count("<iframe") == 2
    assert '<td class="fail">fail</td>' in page
    names = zipfile.ZipFile(tmp_path / "out.zip").namelist()
    assert "S1_R1_fastqc/fastqc_data.txt" in names and "S1_R2_fastqc/fastqc_report.html" in names


def test_fastqc_group_fails_on_what_fastqc_lets_pass(tmp_path, capsys):
    (tmp_path / "fastqc").mkdir()
    fastqc_result(tmp_path / "fastqc", "S1_R1.fastq.gz", 0, 0, {"Adapter Content": "pass"})
    log = tmp_path / "fastqc" / "fastqc.log"
    log.write_text("Started analysis of S1_R1.fastq.gz\njava.io.EOFException: Unexpected end of ZLIB input "
                   "stream\n\tat java.base/java.util.zip.InflaterInputStream.fill(...)\n")
    assert run_group(tmp_path, ["S1_R1.fastq.gz"], f"--fastqc-log={log}") == 1
    assert "java.io.EOFException" in capsys.readouterr().err
    assert run_group(tmp_path, ["S1_R1.fastq.gz", "S1_R2.fastq.gz"]) == 1  # R2 has no result
    assert "no FastQC result" in capsys.readouterr().err
    assert run_group(tmp_path, ["S1_R1.fastq.gz", "S1_R1.fastq.gz"]) == 1  # same basename twice
    assert "share a basename" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()
