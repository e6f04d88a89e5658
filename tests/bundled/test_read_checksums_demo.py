"""jobspecs/read-checksums.yaml on the demo project plus one sample whose R1 file was replaced after Metamist
recorded its checksum: one job per read file, each passing read registered against its own group with typed
metrics, and the one mismatch failing its own job only. In the image and on the host (read-checksums is
installed next to the toolkit by scripts/setup.sh)."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from tests.bundled.conftest import CHECKSUMS, DEMO, analyses_of, load_new_sample, targets
from tests.conftest import REPO

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("execution", [pytest.param("container", marks=pytest.mark.docker), "host"])
def test_every_read_is_checked_alone_and_a_replaced_file_fails_only_its_job(toolkit, tmp_path, execution, request):
    env = {"TOOLKIT_REGISTRY": request.getfixturevalue("images")} if execution == "container" else {}
    toolkit.run("plan", CHECKSUMS, "--execution", execution, extra_env=env)  # loads the demo first
    reads, read_env = load_new_sample(toolkit, tmp_path)
    env.update(read_env)
    # The file changes after the loader recorded its md5: still valid gzip, another checksum.
    shutil.copyfile(REPO / "jobspecs" / "fixtures" / "read-checksums" / "tiny.fastq.gz", reads / "NEW004_R1.fastq.gz")

    plan = toolkit.json("plan", CHECKSUMS, "--format", "json", "--execution", execution, extra_env=env)
    assert sorted(job["id"] for job in plan["jobs"]) == sorted(
        f"{group}/{position}" for group in [*DEMO, "CPGLCL41"] for position in (1, 2))

    done = toolkit.run("run", CHECKSUMS, "--execution", execution, extra_env=env, check=6)
    assert "7 succeeded, 1 failed" in done.stderr
    assert "md5 mismatch for NEW004_R1.fastq.gz" in done.stdout + done.stderr

    registered = analyses_of(toolkit, "read-checksums")
    assert len(registered) == 7 and {a["type"] for a in registered} == {"qc"}
    samples = {**DEMO, "CPGLCL41": "NEW004"}
    seen = set()
    for analysis in registered:
        (group,) = targets(analysis)
        meta = analysis["meta"]
        position = meta["read"]["position"]
        seen.add((group, position))
        name = f"{samples[group]}_R{position}.fastq.gz"
        assert meta["read"]["location"].endswith("/" + name) and meta["stage"] == "ReadChecksums"
        assert analysis["output"].endswith(f"/read-checksums/{group}/{position}-{name}.json")
        metrics = meta["metrics"]
        local_file = meta["read"]["location"].removeprefix("file://")
        with open(local_file, "rb") as read:
            content = read.read()
        assert metrics == {
            "basename": name, "size": len(content), "md5": hashlib.md5(content).hexdigest(),
            "checksum_verified": True, "compression": "gzip", "reads": 2000 if group in DEMO else 50,
        }
        assert type(metrics["size"]) is int and type(metrics["reads"]) is int
    assert ("CPGLCL41", 1) not in seen and ("CPGLCL41", 2) in seen and len(seen) == 7

    # Nothing was registered for the failed read: the next run tries it again, and only it.
    (job,) = [job for job in toolkit.json("plan", CHECKSUMS, "--format", "json", "--execution", execution,
                                          extra_env=env)["jobs"] if job["action"] != "done"]
    assert job["id"] == "CPGLCL41/1"
