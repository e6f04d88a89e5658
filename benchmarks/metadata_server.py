"""Benchmark of the embedded metadata server (prints numbers; not a test).

    .venv/bin/python benchmarks/metadata_server.py [--groups 10000] [--load-groups 100000] [--creates 1000]
                                                   [--compare DIR]

Generates its data (nothing is committed), then measures, each step in a process of its own so that its peak
memory is its own:

* ``toolkit metadata load`` of ``--load-groups`` groups (one sample, one assay with 2 gs:// reads each), from a
  seed file and from a CSV sample sheet: whole process, wall and CPU time, peak RSS. Baseline in the same run:
  the floor, the same rows parsed with ``json.load`` and inserted with ``executemany``, no checks.
* The FastQE spec's query (``jobspecs/fastqe.yaml``) over ``--groups`` groups through the ``metamist`` client
  over HTTP, server and client in one process as in ``toolkit plan``. Baselines in the same run: the same rows
  by direct SQL (the floor), and the server's share with graphql-core executing alone (the executor the
  batched walk replaces).
* ``--creates`` Analyses created through the client (``PUT /api/v1/analysis/{project}/``), one at a time and
  from 8 threads at once (ids checked unique and complete), best of 3. Baseline: as many requests that do no
  work.

``--compare DIR`` runs the same steps with the toolkit of another checkout (e.g. ``git worktree add /tmp/main
main``) on the same data, in a column of its own: the before/after of a change, measured in one run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import wait_measured  # noqa: E402 - peak memory of the child itself

REPO = Path(__file__).resolve().parents[1]
PROJECT = "bench-test"


# -- data ---------------------------------------------------------------------------------------------------

def _reads(number: int) -> list[dict]:
    name = f"BENCH{number:06d}"
    return [{"location": f"gs://cpg-bench-main-upload/{name}_R{r}.fastq.gz", "basename": f"{name}_R{r}.fastq.gz",
             "class": "File", "size": 20_000_000_000 + r,
             "checksum": "md5:" + hashlib.md5(f"{name}_R{r}".encode()).hexdigest()} for r in (1, 2)]


def write_seed(path: Path, groups: int) -> None:
    """Metamist's seed format, written one participant at a time (the file itself can be large)."""
    with path.open("w") as handle:
        handle.write('{"projects": [{"name": "%s", "dataset": "bench", "participants": [\n' % PROJECT)
        for number in range(groups):
            name = f"BENCH{number:06d}"
            participant = {"external_ids": {"": f"P{name}"}, "meta": {}, "samples": [{
                "external_ids": {"": name}, "type": "blood", "meta": {}, "sequencing_groups": [{
                    "type": "genome", "technology": "short-read", "platform": "illumina", "meta": {},
                    "assays": [{"type": "sequencing", "external_ids": {}, "meta": {
                        "reads": _reads(number), "reads_type": "fastq", "sequencing_type": "genome",
                        "sequencing_technology": "short-read", "sequencing_platform": "illumina"}}]}]}]}
            handle.write(("," if number else "") + json.dumps(participant, indent=1) + "\n")
        handle.write("]}]}\n")


def write_sheet(path: Path, groups: int) -> None:
    with path.open("w") as handle:
        handle.write("project,participant,sample,sequencing_type,read1,read2\n")
        for number in range(groups):
            first, second = (read["location"] for read in _reads(number))
            handle.write(f"{PROJECT},PBENCH{number:06d},BENCH{number:06d},genome,{first},{second}\n")


# -- measuring a process ------------------------------------------------------------------------------------

def run_measured(command: list[str], env: dict | None = None, cwd: Path | None = None) -> dict:
    """Wall time, CPU time (user + system) and peak RSS of one child process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    status, usage, peak_mb = wait_measured(process.pid)
    wall = time.perf_counter() - started
    stdout, stderr = process.stdout.read(), process.stderr.read()
    process.stdout.close()
    process.stderr.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])}... failed ({process.returncode}):\n{stderr[-3000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": peak_mb,
            "stdout": stdout}


def _env(root: Path) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SM_", "CPG_", "TOOLKIT_"))}
    env["PYTHONPATH"] = str(root)
    env["PYTHONWARNINGS"] = "ignore"
    return env


def measure_load(root: Path, source: Path, db: Path) -> dict:
    for leftover in db.parent.glob(db.name + "*"):
        leftover.unlink()
    return run_measured([sys.executable, "-m", "toolkit", "metadata", "load", str(source), "--db", str(db)],
                        env=_env(root), cwd=root)  # -m imports from the working directory first


def measure_child(root: Path, step: str, db: Path, args: argparse.Namespace) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", step, "--db", str(db),
               "--groups", str(args.groups), "--creates", str(args.creates)]
    result = run_measured(command, env=_env(root), cwd=root)
    return {**json.loads(result["stdout"].strip().splitlines()[-1]), "rss_mb": result["rss_mb"]}


# -- steps run in a child process (with the toolkit of the checkout under test on PYTHONPATH) ----------------

def floor_load(source: Path, db: Path) -> None:
    """The floor of a load: parse and insert the same rows, with no checks, no ids kept in step, nothing else."""
    import sqlite3

    for leftover in db.parent.glob(db.name + "*"):
        leftover.unlink()
    data = json.loads(source.read_text())
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, parent INTEGER, external_id TEXT, meta TEXT)")
    rows, next_id = [], 1
    for participant in data["projects"][0]["participants"]:
        for sample in participant["samples"]:
            for group in sample["sequencing_groups"]:
                for assay in group["assays"]:
                    for value in (participant, sample, group, assay):  # four rows, as the store writes
                        rows.append((next_id, next_id - 1, sample["external_ids"][""], json.dumps(value.get("meta"))))
                        next_id += 1
    conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()


def child_query(db: Path) -> dict:
    import sqlite3

    from ruamel.yaml import YAML

    from toolkit import metamist_connection
    from toolkit.metadata_server import start_server

    query = YAML(typ="safe").load((REPO / "jobspecs" / "fastqe.yaml").read_text())["inputs"]["query"]
    variables = {"project": PROJECT, "sgids": None}
    result: dict = {}
    with start_server(db_path=db) as server:
        metamist_connection.connect(server.url, local=True)
        times, answer = [], None
        for _ in range(3):
            answer = None  # one answer alive at a time, as in a toolkit command
            started = time.perf_counter()
            answer = metamist_connection.graphql_query(query, variables)
            times.append(time.perf_counter() - started)
        groups = answer["project"]["sequencingGroups"]
        assert all(len(group["assays"][0]["meta"]["reads"]) == 2 for group in groups)
        result.update(groups=len(groups), client_first=times[0], client_best=min(times))
        answer = groups = None
        # The server's share, without HTTP: this checkout's executor, and graphql-core executing alone (the
        # executor the batched walk replaced; only where the checkout has the switch).
        from toolkit.metadata_server.graphql_api import GraphQLExecutor
        from toolkit.metadata_server.service import Service

        service = Service(server.store)
        executors = {"server_share": GraphQLExecutor(service)}
        try:
            executors["server_graphql_core"] = GraphQLExecutor(service, batched=False)
        except TypeError:
            pass
        for name, executor in executors.items():
            executor.run(query, variables)
            started = time.perf_counter()
            executor.run(query, variables)
            result[name] = time.perf_counter() - started
    started = time.perf_counter()
    connection = sqlite3.connect(db)
    rows = connection.execute(
        "SELECT sg.id, sg.type, s.external_id, a.meta FROM sequencing_group sg JOIN project p ON p.id = sg.project_id"
        " JOIN sample s ON s.id = sg.sample_id LEFT JOIN assay a ON a.sequencing_group_id = sg.id"
        " WHERE p.name = ? AND sg.archived = 0 ORDER BY sg.id, a.id", (PROJECT,)).fetchall()
    floor = [{"id": sg_id, "type": sg_type, "sample": {"externalId": external}, "assays": [{"meta": json.loads(meta)}]}
             for sg_id, sg_type, external, meta in rows]
    result["direct_sql"] = time.perf_counter() - started
    assert len(floor) == result["groups"]
    return result


def child_creates(db: Path, creates: int) -> dict:
    import threading

    from metamist.models import Analysis, AnalysisStatus

    from toolkit import metamist_connection
    from toolkit.metadata_server import start_server

    result: dict = {}
    with start_server(db_path=db) as server:
        metamist_connection.connect(server.url, local=True)
        ids = [group["id"] for group in metamist_connection.graphql_query(
            "query($p: String!) { project(name: $p) { sequencingGroups { id } } }", {"p": PROJECT}
        )["project"]["sequencingGroups"][:100]]

        def create(api, number: int) -> int:
            return api.create_analysis(PROJECT, Analysis(
                type="qc", status=AnalysisStatus("completed"), sequencing_group_ids=[ids[number % len(ids)]],
                output=f"gs://cpg-bench-test-analysis/qc/{number}.json", meta={"n": number}))

        api = metamist_connection.analysis_api()
        project_api = metamist_connection.project_api()
        made: list[int] = []

        def timed(step) -> tuple[float, float]:
            """Best of 3 (wall, and CPU of this process: client and server), as the machine may be shared."""
            walls, cpus = [], []
            for _ in range(3):
                started, cpu = time.perf_counter(), time.process_time()
                step()
                walls.append(time.perf_counter() - started)
                cpus.append(time.process_time() - cpu)
            return min(walls), min(cpus)

        def no_work() -> None:
            for _ in range(creates):
                project_api.get_my_projects()

        def sequential() -> None:
            made.extend(create(api, number) for number in range(creates))

        def concurrent() -> None:
            per_thread: list[list[int]] = [[] for _ in range(8)]

            def client(index: int) -> None:
                own_api = metamist_connection.analysis_api()
                per_thread[index].extend(create(own_api, number) for number in range(index, creates, 8))

            threads = [threading.Thread(target=client, args=(index,)) for index in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            made.extend(analysis_id for chunk in per_thread for analysis_id in chunk)

        result["no_work_requests"], result["no_work_cpu"] = timed(no_work)
        result["sequential"], result["sequential_cpu"] = timed(sequential)
        result["concurrent_8"], result["concurrent_8_cpu"] = timed(concurrent)
        stored = metamist_connection.graphql_query(
            "query($p: String!) { project(name: $p) { analyses { id } } }", {"p": PROJECT})["project"]["analyses"]
        result["ids_unique_and_complete"] = (len(set(made)) == len(made) == 6 * creates
                                             and {a["id"] for a in stored} == set(made))
    return result


# -- report -------------------------------------------------------------------------------------------------

def _row(label: str, values: list, unit: str = "s") -> None:
    cells = []
    for value in values:
        if value is None:
            cells.append(f"{'-':>14}")
        elif isinstance(value, bool):
            cells.append(f"{'yes' if value else 'NO':>14}")
        else:
            cells.append(f"{value:>12.{0 if unit == 'MB' else 3}f} {unit:<1}" if unit != "MB" else f"{value:>11.0f} MB")
    print(f"{label:<58}" + "".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=10_000, help="groups in the queried project")
    parser.add_argument("--load-groups", type=int, default=100_000, help="groups loaded by the load step (0: skip)")
    parser.add_argument("--creates", type=int, default=1_000)
    parser.add_argument("--compare", type=Path, metavar="DIR", help="another checkout, measured the same way")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        result = child_query(args.db) if args.child == "query" else child_creates(args.db, args.creates)
        print(json.dumps(result))
        return

    roots = [REPO] + ([args.compare.resolve()] if args.compare else [])
    folder = Path(tempfile.mkdtemp(prefix="metadata-bench-"))
    try:
        columns = ["this checkout"] + (["compared"] if args.compare else []) + ["baseline"]
        if args.compare:
            print(f"compared: the toolkit of {args.compare}")
        print(f"{'':<58}" + "".join(f"{name:>14}" for name in columns))

        if args.load_groups:
            seed, sheet = folder / "seed.json", folder / "sheet.csv"
            write_seed(seed, args.load_groups)
            write_sheet(sheet, args.load_groups)
            print(f"-- toolkit metadata load, {args.load_groups:,} groups (whole process); baseline: json.load + "
                  "executemany, no checks")
            floor = run_measured([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                                  "from metadata_server import floor_load; from pathlib import Path; "
                                  "floor_load(Path(sys.argv[2]), Path(sys.argv[3]))",
                                  str(Path(__file__).parent), str(seed), str(folder / "floor.sqlite")])
            for name, source in (("seed .json", seed), ("sample sheet .csv", sheet)):
                results = [measure_load(root, source, folder / f"load-{index}.sqlite")
                           for index, root in enumerate(roots)]
                is_seed = source is seed
                _row(f"  {name}: wall", [r["wall"] for r in results] + [floor["wall"] if is_seed else None])
                _row(f"  {name}: CPU (user + system)", [r["cpu"] for r in results] + [floor["cpu"] if is_seed else None])
                _row(f"  {name}: peak RSS", [r["rss_mb"] for r in results] + [floor["rss_mb"] if is_seed else None],
                     "MB")

        print(f"-- the FastQE query over {args.groups:,} groups, metamist client over HTTP; baseline: direct SQL")
        query_seed = folder / "query-seed.json"
        write_seed(query_seed, args.groups)
        queries = []
        for index, root in enumerate(roots):
            db = folder / f"query-{index}.sqlite"
            measure_load(root, query_seed, db)
            queries.append(measure_child(root, "query", db, args))
        floor = queries[0]["direct_sql"]
        _row("  through the client, first", [q["client_first"] for q in queries] + [floor])
        _row("  through the client, best of 3", [q["client_best"] for q in queries] + [floor])
        _row("  the server's share (no HTTP)", [q["server_share"] for q in queries] + [None])
        _row("  ... graphql-core executing alone (the old executor)",
             [q.get("server_graphql_core") for q in queries] + [None])
        _row("  peak RSS (server + client, one process)", [q["rss_mb"] for q in queries] + [None], "MB")

        print(f"-- {args.creates:,} Analyses created through the client; baseline: {args.creates:,} requests "
              "that do no work")
        creates = []
        for index, root in enumerate(roots):
            db = folder / f"query-{index}.sqlite"
            creates.append(measure_child(root, "creates", db, args))
        _row("  one at a time (best of 3)", [c["sequential"] for c in creates] + [creates[0]["no_work_requests"]])
        _row("  ... CPU (client and server, one process)", [c["sequential_cpu"] for c in creates]
             + [creates[0]["no_work_cpu"]])
        _row("  8 clients at once (best of 3)", [c["concurrent_8"] for c in creates] + [None])
        _row("  ... CPU (client and server, one process)", [c["concurrent_8_cpu"] for c in creates] + [None])
        _row("  ids unique, none lost", [c["ids_unique_and_complete"] for c in creates] + [None])
        print(f"(machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; wall times grow with the "
              "load, CPU times much less)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
