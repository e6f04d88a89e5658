"""Loading datasets: positioned errors, all-or-nothing, CSV sample sheets with local reads."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from toolkit.errors import DataLoadError
from toolkit.metadata_server import default_db_path, default_home, load_dataset
from toolkit.metadata_server.store import Store


def _counts(db):
    store = Store(db)
    try:
        conn = store.connection()
        return {table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("project", "participant", "sample", "sequencing_group", "assay")}
    finally:
        store.close()


def test_malformed_seed_json_gives_positions_and_loads_nothing(tmp_path):
    seed = {"projects": [{"name": "good-test", "participants": [
        {"external_ids": {"": "P1"}, "samples": [{"external_ids": {"": "S1"}, "type": "blood",
                                                  "sequencing_groups": []}]},
        {"external_ids": {"": "P2"}, "samples": [
            {"external_ids": {"": "S2"}, "type": "blood", "sequencing_groups": [
                {"type": "genome", "technology": "short-read", "assays": []}]}]},
    ]}]}
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed, indent=2))
    db = tmp_path / "db.sqlite"
    with pytest.raises(DataLoadError) as caught:
        load_dataset(path, db)
    message = caught.value.message
    line = next(number for number, text in enumerate(path.read_text().splitlines(), 1) if '"genome"' in text) - 1
    assert f"{path}:{line}: projects[0].participants[1].samples[0].sequencing_groups[0].platform: " \
           "required field is missing" in message
    assert _counts(db)["project"] == 0 and _counts(db)["participant"] == 0


def test_invalid_json_syntax_is_positioned(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"projects": [\n  {"name": "x",}\n]}')
    with pytest.raises(DataLoadError, match=r"broken\.json:2: column \d+: invalid JSON"):
        load_dataset(path, tmp_path / "db.sqlite")


def test_csv_sheet_computes_size_and_md5_and_keeps_gs_uris(tmp_path):
    reads = tmp_path / "reads"
    reads.mkdir()
    (reads / "a_R1.fq.gz").write_bytes(b"read one")
    (reads / "a_R2.fq.gz").write_bytes(b"read two!")
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(
        "project,participant,sample,sequencing_type,read1,read2\n"
        "mine-test,P1,S1,genome,reads/a_R1.fq.gz,reads/a_R2.fq.gz\n"
        "mine-test,P1,S1,genome,gs://bucket/L2_R1.fq.gz,gs://bucket/L2_R2.fq.gz\n"
        "mine-test,P2,S2,exome,gs://bucket/S2_R1.fq.gz,gs://bucket/S2_R2.fq.gz\n"
    )
    db = tmp_path / "db.sqlite"
    summary = load_dataset(sheet, db)
    assert summary.projects == ["mine-test"] and summary.sequencing_groups == 2 and summary.assays == 3
    store = Store(db)
    try:
        assays = store.assays(sequencing_group_ids=[1])
        assert store.projects_by_name(["mine-test"])["mine-test"]["dataset"] == "mine"
    finally:
        store.close()
    first = assays[0]["meta"]["reads"][0]
    assert first == {"location": str(reads / "a_R1.fq.gz"), "basename": "a_R1.fq.gz", "class": "File",
                     "size": 8, "checksum": "md5:" + hashlib.md5(b"read one").hexdigest()}
    assert assays[1]["meta"]["reads"][0] == {"location": "gs://bucket/L2_R1.fq.gz", "basename": "L2_R1.fq.gz",
                                             "class": "File"}


def test_csv_errors_are_positioned_and_nothing_is_loaded(tmp_path):
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(
        "project,participant,sample,sequencing_type,read1,read2\n"
        "p-test,P1,S1,genome,gs://b/1.fq.gz,gs://b/2.fq.gz\n"
        "p-test,P2,S2,genome,missing_R1.fq.gz,\n"
        "p-test,P3,,genome,gs://b/3.fq.gz,\n"
    )
    db = tmp_path / "db.sqlite"
    with pytest.raises(DataLoadError) as caught:
        load_dataset(sheet, db)
    lines = caught.value.message.splitlines()
    assert lines[0].startswith(f"{sheet}:3: read1: file not found")
    assert lines[1] == f"{sheet}:4: sample: must not be empty"
    assert _counts(db)["project"] == 0


def test_csv_missing_columns(tmp_path):
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("project,sample,read1\np,s,x\n")
    with pytest.raises(DataLoadError, match=r"sheet\.csv:1: header: missing column\(s\): participant, "
                                            r"sequencing_type, read2"):
        load_dataset(sheet, tmp_path / "db.sqlite")


def test_loading_the_same_samples_twice_is_refused(tmp_path):
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("project,participant,sample,sequencing_type,read1,read2\np-test,P1,S1,genome,gs://b/1,\n")
    db = tmp_path / "db.sqlite"
    load_dataset(sheet, db)
    with pytest.raises(DataLoadError, match="already exists in project 'p-test'"):
        load_dataset(sheet, db)
    assert _counts(db)["sample"] == 1


def test_default_locations(monkeypatch, tmp_path):
    monkeypatch.setenv("TOOLKIT_HOME", str(tmp_path / "home"))
    assert default_home() == tmp_path / "home" and default_db_path() == tmp_path / "home" / "metadata.sqlite"
    monkeypatch.delenv("TOOLKIT_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_home() == tmp_path / "xdg" / "toolkit"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert default_home() == tmp_path / "user" / ".local" / "share" / "toolkit"


def test_cli_load_reports_and_exit_code(tmp_path, capsys):
    from toolkit.cli import main

    sheet = tmp_path / "bad.csv"
    sheet.write_text("project,participant,sample,sequencing_type,read1,read2\np,P,S,genome,,\n")
    assert main(["metadata", "load", str(sheet), "--db", str(tmp_path / "db.sqlite")]) == 3
    assert f"{sheet}:2: read1: must not be empty" in capsys.readouterr().err
    assert main(["metadata", "demo", "--db", str(tmp_path / "db.sqlite")]) == 0
    assert "3 sequencing group(s)" in capsys.readouterr().out


def test_demo_reads_follow_the_installation_when_the_loading_checkout_is_gone(tmp_path):
    """A store loaded from a checkout that was since moved or deleted: the demo reads point here again."""
    import json
    import sqlite3

    from toolkit.metadata_server import ensure_demo_loaded
    from toolkit.metadata_server.loader import DEMO_DIR

    db = tmp_path / "metadata.sqlite"
    assert ensure_demo_loaded(db) is True
    gone = "/nonexistent/old-checkout/toolkit/metadata_server/demo"
    with sqlite3.connect(db) as conn:
        for assay_id, meta in conn.execute("SELECT id, meta FROM assay").fetchall():
            meta = json.loads(meta)
            for read in meta["reads"]:
                read["location"] = f"{gone}/{read['basename']}"
            conn.execute("UPDATE assay SET meta = ? WHERE id = ?", (json.dumps(meta), assay_id))
    assert ensure_demo_loaded(db) is False
    with sqlite3.connect(db) as conn:
        locations = [read["location"] for (meta,) in conn.execute("SELECT meta FROM assay")
                     for read in json.loads(meta)["reads"]]
    assert len(locations) == 6 and all(location.startswith(str(DEMO_DIR)) for location in locations)


def test_loading_the_demo_twice_is_a_no_op(toolkit):
    first = toolkit.run("metadata", "demo")
    assert "3 sequencing group(s)" in first.stdout
    again = toolkit.run("metadata", "demo")  # exit 0
    assert "already loaded" in again.stdout and "nothing to do" in again.stdout
    assert _counts(toolkit.home / "metadata.sqlite")["sample"] == 3


def test_reloading_a_sheet_names_the_rows_that_exist_already(toolkit, tmp_path):
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(
        "project,participant,sample,sequencing_type,read1,read2\n"
        "p-test,P1,S1,genome,gs://b/1_R1.fq.gz,gs://b/1_R2.fq.gz\n"
        "p-test,P1,S1,genome,gs://b/1_L2_R1.fq.gz,gs://b/1_L2_R2.fq.gz\n"
        "p-test,P2,S2,exome,gs://b/2_R1.fq.gz,gs://b/2_R2.fq.gz\n"
    )
    toolkit.run("metadata", "load", str(sheet))
    sheet.write_text(sheet.read_text() + "p-test,P3,S3,genome,gs://b/3_R1.fq.gz,gs://b/3_R2.fq.gz\n")
    done = toolkit.run("metadata", "load", str(sheet), check=3)
    assert [line for line in done.stderr.splitlines() if "already exists" in line] == [
        f"error: {sheet}:2: participant: 'P1' already exists in project 'p-test'",
        f"{sheet}:2: sample: 'S1' already exists in project 'p-test'",
        f"{sheet}:4: participant: 'P2' already exists in project 'p-test'",
        f"{sheet}:4: sample: 'S2' already exists in project 'p-test'",
    ]
    assert _counts(toolkit.home / "metadata.sqlite")["sample"] == 2  # all or nothing: P3 not loaded either


def test_seed_projects_may_name_themselves_after_their_participants(tmp_path):
    """JSON key order is free: a project's "name" after its "participants" still loads (they wait for it)."""
    path = tmp_path / "seed.json"
    path.write_text('{"post_seed_actions": [{"action": "archive_sequencing_group", "project": "late-test", '
                    '"sequencing_group_external_id": "G2"}],\n "projects": [{"participants": [\n'
                    + ",\n".join(f'{{"external_ids": {{"": "P{n}"}}, "samples": [{{"external_ids": {{"": "S{n}"}}, '
                                 f'"type": "blood", "sequencing_groups": [{{"external_ids": {{"": "G{n}"}}, '
                                 f'"type": "genome", "technology": "short-read", "platform": "illumina"}}]}}]}}'
                                 for n in range(3))
                    + '], "name": "late-test"}]}')
    db = tmp_path / "db.sqlite"
    summary = load_dataset(path, db)
    assert summary.projects == ["late-test"] and summary.participants == 3 and summary.sequencing_groups == 3
    store = Store(db)
    try:
        groups = store.sequencing_groups(project_ids=[1])
    finally:
        store.close()
    assert [bool(group["archived"]) for group in groups] == [False, False, True]


def test_metadata_help_lists_every_action_and_explains_every_argument(toolkit):
    assert "load, demo, serve" in " ".join(toolkit.run("--help").stdout.split())
    for action in ("load", "demo", "serve"):
        text = toolkit.run("metadata", action, "--help").stdout
        assert "usage:" in text and text.split("usage:")[1].split("\n\n")[1].strip()  # a description
        lines = text.split("\n\n", 2)[-1].splitlines()
        for index, line in enumerate(lines):
            if re.match(r"^  \S", line) and not line.strip().endswith(":"):
                explained = re.search(r"\S\s{2,}\S", line) or (
                    index + 1 < len(lines) and re.match(r"^\s{6,}\S", lines[index + 1]))
                assert explained, f"metadata {action}: no help for {line.strip()!r}"
