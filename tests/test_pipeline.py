"""toolkit.pipeline: what planning asks the outside world, answered as the outside world would."""

from __future__ import annotations

import os

import pytest

from toolkit.pipeline import OutputExistence


@pytest.mark.parametrize("outputs", [3, OutputExistence.LIST_AFTER + 50])
def test_output_existence_agrees_with_the_filesystem(tmp_path, outputs):
    """Below and above the listing threshold: each answer is the one os.path.exists gives, for files written,
    files absent, a folder output and a folder that does not exist."""
    written = tmp_path / "web" / "fastqe"
    written.mkdir(parents=True)
    asked = []
    for index in range(outputs):
        path = written / f"CPGAA{index}.html"
        if index % 3 == 0:
            path.write_text("x")
        asked.append(str(path))
    asked += [str(tmp_path / "nowhere" / f"CPGAA{index}.html") for index in range(outputs)]
    asked += [str(written) + "/", str(tmp_path / "web")]
    # the same folder spelled with a doubled slash, and files in the root folder (whose folder is "/", not "")
    asked += [str(tmp_path / "web") + f"//fastqe/CPGAA{index}.html" for index in range(outputs)]
    asked += [f"/toolkit-no-such-file-{index}" for index in range(OutputExistence.LIST_AFTER + 2)] + ["/tmp", "/"]
    exists = OutputExistence()
    assert [exists(path) for path in asked] == [os.path.exists(path) for path in asked]


def test_output_existence_lists_a_folder_once_past_the_threshold(tmp_path, monkeypatch):
    """A plan of thousands of groups lists each folder once rather than asking for every file."""
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "present.html").write_text("x")
    listed, stats = [], []
    real_listdir, real_exists = os.listdir, os.path.exists
    monkeypatch.setattr(os, "listdir", lambda path: listed.append(path) or real_listdir(path))
    monkeypatch.setattr(os.path, "exists", lambda path: stats.append(path) or real_exists(path))
    exists = OutputExistence()
    answers = [exists(str(folder / f"absent-{index}.html")) for index in range(1000)]
    assert not any(answers) and exists(str(folder / "present.html"))
    assert listed == [str(folder)]
    assert len(stats) == OutputExistence.LIST_AFTER


def test_output_existence_answers_gs_outputs_from_the_mirror(tmp_path):
    """``[toolkit] gcs_mirror``: gs://bucket/path is DIR/bucket/path, listed like a local folder."""
    mirror = tmp_path / "mirror"
    (mirror / "cpg-sandbox-test-web" / "fastqe").mkdir(parents=True)
    (mirror / "cpg-sandbox-test-web" / "fastqe" / "CPGAA7.html").write_text("x")
    exists = OutputExistence(str(mirror))
    names = [f"gs://cpg-sandbox-test-web/fastqe/CPGAA{index}.html" for index in range(100)]
    assert [name for name in names if exists(name)] == ["gs://cpg-sandbox-test-web/fastqe/CPGAA7.html"]
    assert not exists("gs://cpg-sandbox-test-other/fastqe/CPGAA7.html")


def test_output_existence_falls_back_to_one_by_one_when_a_folder_cannot_be_listed(tmp_path, monkeypatch):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "b.html").write_text("x")

    def refuse(path):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "listdir", refuse)
    exists = OutputExistence()
    answers = [exists(str(folder / name)) for name in ["a.html"] * 40 + ["b.html"]]
    assert answers == [False] * 40 + [True]


def test_gs_outputs_without_a_mirror_are_listed_through_cloudpathlib(tmp_path, monkeypatch):
    """Real gs:// outputs go through cpg-utils' to_path (cloudpathlib). Here cloudpathlib's own local stand-in
    for GCS (LocalGSClient: the same GSPath API over a folder) plays the bucket: the answers are the per-object
    ones, and a folder of many outputs is listed once instead of asked about object by object."""
    import cpg_utils
    from cloudpathlib.local import LocalGSClient, LocalGSPath

    client = LocalGSClient(local_storage_dir=tmp_path / "gcs")
    for index in (3, 40, 77):
        LocalGSPath(f"gs://cpg-test-web/fastqe/CPGAA{index}.html", client=client).write_text("x")
    calls = {"exists": 0, "iterdir": 0}

    class CountedPath(LocalGSPath):
        def exists(self):
            calls["exists"] += 1
            return super().exists()

        def iterdir(self):
            calls["iterdir"] += 1
            return super().iterdir()

    monkeypatch.setattr(cpg_utils, "to_path", lambda uri: CountedPath(uri, client=client))
    asked = [f"gs://cpg-test-web/fastqe/CPGAA{index}.html" for index in range(100)]
    asked += [f"gs://cpg-test-web/nothing-here/CPGAA{index}.html" for index in range(50)]
    exists = OutputExistence()
    answers = [exists(uri) for uri in asked]
    truth = [LocalGSPath(uri, client=client).exists() for uri in asked]
    assert answers == truth and sum(answers) == 3
    assert calls == {"exists": 2 * OutputExistence.LIST_AFTER, "iterdir": 2}


def test_what_is_looked_up_on_this_machine_decides_whether_a_plan_may_fork(tmp_path):
    """A plan is made in two processes only when no output lookup would go to the network from the child
    (toolkit.pipeline: OutputExistence.looks_locally)."""
    plain, mirrored = OutputExistence(), OutputExistence(str(tmp_path))
    assert plain.looks_locally(str(tmp_path / "web" / "x.html"))
    assert not plain.looks_locally("gs://cpg-sandbox-test-web/x.html")
    assert mirrored.looks_locally("gs://cpg-sandbox-test-web/x.html")
    assert not mirrored.looks_locally("s3://elsewhere/x.html")
