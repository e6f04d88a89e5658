"""Benchmark of the embedded metadata server (prints numbers; not a test).

    .venv/bin/python benchmarks/metadata_server.py [--groups 10000]

A project of N sequencing groups (one sample and one assay with 2 reads each), queried through the metamist
client over HTTP: the full project query, the seed script's filtered query for 100 ids, and 1,000
create_analysis calls. Peak memory is the process's maximum resident set (server and client share it).
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FULL_QUERY = "query($p:String!){ project(name:$p){ sequencingGroups { id assays { meta } sample { externalId } } } }"
FILTERED_QUERY = ("query($p:String!,$ids:[String!]){ sequencingGroups(project:{eq:$p}, id:{in_:$ids}){ id "
                  "sample { externalId } assays { meta } } }")


def build_dataset(db: Path, groups: int) -> float:
    from toolkit.metadata_server.dataset import insert_participants
    from toolkit.metadata_server.ids import DEFAULT_CODEC
    from toolkit.metadata_server.service import LOCAL_USER
    from toolkit.metadata_server.store import ALL_ROLES, Store

    started = time.perf_counter()
    store = Store(db)
    participants = []
    for number in range(groups):
        name = f"BENCH{number:05d}"
        reads = [{"location": f"gs://cpg-bench-main-upload/{name}_R{r}.fastq.gz", "basename": f"{name}_R{r}.fastq.gz",
                  "class": "File", "size": 20_000_000_000 + r, "checksum": f"md5:{number:032x}"} for r in (1, 2)]
        participants.append({"external_ids": {"": f"P{name}"}, "meta": {}, "samples": [{
            "external_ids": {"": name}, "type": "blood", "meta": {}, "sequencing_groups": [{
                "type": "genome", "technology": "short-read", "platform": "illumina", "meta": {},
                "assays": [{"type": "sequencing", "external_ids": {}, "meta": {
                    "reads": reads, "reads_type": "fastq", "sequencing_type": "genome",
                    "sequencing_technology": "short-read", "sequencing_platform": "illumina"}}]}]}]})
    with store.transaction() as conn:
        project_id = store.create_project("bench-test", "bench", members={LOCAL_USER: ALL_ROLES}, conn=conn)
        insert_participants(store, conn, project_id, participants, DEFAULT_CODEC)
    store.close()
    return time.perf_counter() - started


def baseline_direct_sql(db: Path, project: str) -> int:
    """The floor: the same rows straight from SQLite (one join, JSON decoded), no HTTP, no GraphQL."""
    import json
    import sqlite3

    connection = sqlite3.connect(db)
    rows = connection.execute(
        "SELECT sg.id, s.external_id, a.meta FROM sequencing_group sg "
        "JOIN project p ON p.id = sg.project_id JOIN sample s ON s.id = sg.sample_id "
        "LEFT JOIN assay a ON a.sequencing_group_id = sg.id "
        "WHERE p.name = ? AND sg.archived = 0 ORDER BY sg.id, a.id", (project,)
    ).fetchall()
    groups: dict[int, dict] = {}
    for sg_id, external_id, meta in rows:
        group = groups.setdefault(sg_id, {"sample": {"externalId": external_id}, "assays": []})
        if meta is not None:
            group["assays"].append({"meta": json.loads(meta)})
    connection.close()
    return len(groups)


def timed(label: str, count: int, function) -> float:
    started = time.perf_counter()
    function()
    elapsed = time.perf_counter() - started
    print(f"{label:<48} {elapsed:8.3f} s   {count / elapsed:10.1f} requests/s" if count > 1 else
          f"{label:<48} {elapsed:8.3f} s")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--creates", type=int, default=1_000)
    args = parser.parse_args()

    from toolkit import metamist_connection
    from toolkit.metadata_server import start_server

    folder = Path(tempfile.mkdtemp(prefix="metadata-bench-"))
    db = folder / "metadata.sqlite"
    print(f"loading {args.groups} sequencing groups (2 reads each): {build_dataset(db, args.groups):.2f} s")
    with start_server(db_path=db) as server:
        metamist_connection.connect(server.url, local=True)
        query = metamist_connection.graphql_query
        result = {}

        def full():
            result["full"] = query(FULL_QUERY, {"p": "bench-test"})

        timed("full project query (first, cold)", 1, full)
        through_api = timed("full project query (again)", 1, full)
        floor = timed("baseline: same rows by direct SQL, no API", 1, lambda: baseline_direct_sql(db, "bench-test"))
        print(f"{'  API cost over the direct read':<48} {through_api / floor:8.1f} x")
        groups = result["full"]["project"]["sequencingGroups"]
        assert len(groups) == args.groups and all(len(g["assays"][0]["meta"]["reads"]) == 2 for g in groups)
        ids = [group["id"] for group in random.Random(1).sample(groups, 100)]

        def filtered():
            for _ in range(20):
                answer = query(FILTERED_QUERY, {"p": "bench-test", "ids": ids})
                assert len(answer["sequencingGroups"]) == 100

        elapsed = timed("filtered query, 100 ids (x20)", 20, filtered)
        print(f"{'  per filtered query':<48} {elapsed / 20 * 1000:8.1f} ms")

        from metamist.models import Analysis, AnalysisStatus

        api = metamist_connection.analysis_api()

        def creates():
            for number in range(args.creates):
                api.create_analysis("bench-test", Analysis(
                    type="qc", status=AnalysisStatus("completed"), sequencing_group_ids=[ids[number % 100]],
                    output=f"gs://cpg-bench-test-analysis/qc/{number}.json", meta={"n": number}))

        timed(f"{args.creates} create_analysis calls", args.creates, creates)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak memory (max RSS, server + client in one process): {peak_kib / 1024:.0f} MiB")
    print(f"database size: {db.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
