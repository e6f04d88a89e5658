"""Benchmark: planning at scale, whole process as a user runs it (prints numbers; not a test).

    .venv/bin/python benchmarks/plan_scale.py [--groups 10000 100000] [--done-groups 10000]
                                              [--baseline-ref f666157] [--no-baseline] [--repeat 3]

First the floor: starting Python and importing what `toolkit plan` imports before it does any work (its
stages, what starts the embedded server, the GraphQL client; best of 5).
For each ``--groups`` size it generates a project (one sample, one genome sequencing group, two gs:// reads
per group; nothing is committed), then measures, each in a process of its own (wall, CPU, peak RSS of the
command and the processes it forks: benchmarks/_measure.py):

* ``toolkit metadata load`` of the project's seed file into a fresh home;
* ``toolkit plan jobspecs/fastqe.yaml --format json`` over the whole project (the output is checked: one job
  per group);
* for ``--done-groups`` (the reuse decision): every planned output registered as the toolkit registers it
  (the plan's own registrations, with their reuse keys; the files in place), then ``toolkit plan`` again,
  which must find every job done and plan 0 to run.

Each plan is measured ``--repeat`` times, the baseline's and this checkout's runs taking turns (this machine's
speed drifts by 10-30% within minutes): the row shows the median wall time (and the fastest), the largest
memory. Baseline, in the same run and on the same data: the same commands with the toolkit of ``--baseline-ref``
(default f666157, the last commit before the scale work of issue 11), checked out with ``git worktree`` into
a temporary folder and run with this virtualenv. Both toolkits' bytecode is compiled first, as
``scripts/setup.sh`` compiles it for a user (this machine sets PYTHONDONTWRITEBYTECODE): a module whose cached
bytecode is missing or older than its source is compiled again by every process that imports it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import metadata_server  # noqa: E402 - the data of its sibling benchmark
from metadata_server import write_seed  # noqa: E402
from _measure import wait_measured  # noqa: E402 - peak memory of the child itself

PROJECT = "sandbox-test"  # the embedded default's project: `toolkit plan` needs no --project or config
GOALS = {  # issue 11's table: (seconds, MB)
    ("plan", 10_000): (1.5, None), ("plan", 100_000): (10.0, 600), ("load", 100_000): (8.0, 600),
    ("reuse", 10_000): (2.0, None),
}


def environment(root: Path, home: Path) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SM_", "CPG_", "TOOLKIT_"))}
    env.update({"PYTHONPATH": str(root), "PYTHONWARNINGS": "ignore", "TOOLKIT_HOME": str(home),
                "DOCKER_HOST": "unix:///nonexistent"})  # plans on the host, as without a Docker Engine
    return env


def toolkit(root: Path, home: Path, *args: str) -> dict:
    """Wall time, CPU time (user + system) and peak RSS of one toolkit command; its stdout read afterwards
    from a file (a plan is tens of MB: a pipe nobody reads while the child runs would stall it)."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "toolkit", *args], env=environment(root, home), cwd=root,
                                   stdout=stdout, stderr=stderr)
        status, usage, peak_mb = wait_measured(process.pid)
        wall = time.perf_counter() - started
        stdout.seek(0)
        stderr.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"toolkit {' '.join(args)} failed:\n{stderr.read().decode()[-3000:]}")
        return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": peak_mb,
                "stdout": stdout.read()}


def register_everything(home: Path, plan: dict) -> int:
    """Register each planned output as `toolkit run` would have (same meta, same reuse key), through the
    embedded server and the metamist client, and put a file at each destination."""
    sys.path.insert(0, str(REPO))
    from toolkit.metadata_server import start_server
    from toolkit.metamist_connection import connect, create_analyses

    analyses = []
    for job in plan["jobs"]:
        for output in job["outputs"].values():
            Path(output["destination"]).parent.mkdir(parents=True, exist_ok=True)
            Path(output["destination"]).write_text("x")
        for registration in job["registrations"]:
            analyses.append({
                "type": registration["type"], "status": registration["status"].upper(),
                "output": registration["output_uri"], "sequencingGroupIds": registration["sequencing_group_ids"],
                "meta": registration["meta"],
            })
    server = start_server(db_path=home / "metadata.sqlite")
    try:
        connect(server.url, local=True)
        return len(create_analyses(PROJECT, analyses))
    finally:
        server.stop()


def checked_plan(result: dict, groups: int, *, done: bool) -> None:
    plan = json.loads(result["stdout"])
    summary = plan["summary"]
    wanted = {"run": 0, "done": groups} if done else {"run": groups, "done": 0}
    if {key: summary[key] for key in wanted} != wanted or len(plan["jobs"]) != groups:
        raise SystemExit(f"unexpected plan: {summary}, {len(plan['jobs'])} jobs (wanted {wanted})")
    result["stdout"] = b""  # tens of MB: not kept


def median(results: list[dict] | None) -> dict | None:
    """The run of median wall time, with the fastest wall time and the largest memory of all the runs."""
    if not results:
        return None
    ordered = sorted(results, key=lambda result: result["wall"])
    return {**ordered[(len(ordered) - 1) // 2], "fastest": ordered[0]["wall"], "runs": len(ordered),
            "rss_mb": max(result["rss_mb"] for result in results)}


def row(step: str, groups: int, baseline: dict | None, now: dict) -> None:
    goal = GOALS.get((step, groups))
    goal_text = "" if goal is None else f"goal <= {goal[0]:g} s" + (f", <= {goal[1]} MB" if goal[1] else "")
    met = "" if goal is None else ("  met" if now["wall"] <= goal[0] and (goal[1] is None or now["rss_mb"] <= goal[1])
                                  else "  NOT met")

    def cell(result):
        fastest = f" (fastest {result['fastest']:.2f}, {result['runs']} runs)" if result.get("runs", 1) > 1 else ""
        return f"{result['wall']:6.2f} s wall{fastest} {result['cpu']:6.2f} s cpu {result['rss_mb']:6.0f} MB"

    before = cell(baseline) if baseline else "-"
    ratio = f"{now['wall'] / baseline['wall']:.2f}x" if baseline else ""
    print(f"{step:6} {groups:>7,}  baseline {before:62}  now {cell(now):62} {ratio:>6}  {goal_text}{met}", flush=True)


FLOOR_IMPORTS = ("import toolkit.cli.plan, toolkit.pipeline, toolkit.metadata_server.forked, toolkit.metadata_server.loader, "
                 "gql.transport.requests")


def compile_bytecode(root: Path) -> None:
    """The toolkit's bytecode under ``root``, as scripts/setup.sh writes it."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(root / "toolkit")], check=True,
                   stdout=subprocess.DEVNULL)


def import_floor(repeat: int = 5) -> dict:
    """What `toolkit plan` pays before its first line of work: starting Python and importing the toolkit's
    stages, what starts the embedded server (its store; the server's own stack, uvicorn and Starlette, is
    imported by the server's process) and the GraphQL client (no longer the `metamist` client and cpg-utils,
    with cloudpathlib's Azure, GCS and S3 clients: 0.9-1.0 s, which the plan does not import any more). Best of
    ``repeat`` processes."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", FLOOR_IMPORTS], check=True, cwd=REPO,
                       env={**os.environ, "PYTHONWARNINGS": "ignore"})
        times.append(time.perf_counter() - started)
    return {"wall": min(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--done-groups", type=int, nargs="*", default=[10_000])
    parser.add_argument("--baseline-ref", default="f666157")
    parser.add_argument("--no-baseline", action="store_true", help="only this checkout")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each plan (median shown)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="plan-scale-"))
    baseline_root = None
    try:
        if not args.no_baseline:
            baseline_root = work / "baseline"
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(baseline_root),
                           args.baseline_ref], check=True)
        for root in (REPO, baseline_root):
            if root is not None:
                compile_bytecode(root)
        cpu = os.cpu_count()
        print(f"# {cpu} cores; baseline: toolkit at {args.baseline_ref if baseline_root else '(none)'}; "
              f"now: {REPO}", flush=True)
        metadata_server.PROJECT = PROJECT
        floor = import_floor()
        print(f"# floor: python + what `toolkit plan` imports (its stages, the embedded server's start, gql): "
              f"{floor['wall']:.2f} s before any work", flush=True)
        for groups in sorted(set(args.groups) | set(args.done_groups)):
            seed = work / f"seed-{groups}.json"
            write_seed(seed, groups)
            homes = {"now": work / f"now-{groups}"}
            if baseline_root:
                homes["baseline"] = work / f"baseline-{groups}"
            results: dict[str, dict] = {}
            for label, home in homes.items():
                home.mkdir()
                root = REPO if label == "now" else baseline_root
                results[label] = toolkit(root, home, "metadata", "load", str(seed))
            row("load", groups, results.get("baseline"), results["now"])
            if groups in args.groups or groups in args.done_groups:
                plans = {}
                measured: dict[str, list[dict]] = {label: [] for label in homes}
                for turn in range(args.repeat if groups in args.groups else 1):
                    for label, home in homes.items():
                        root = REPO if label == "now" else baseline_root
                        result = toolkit(root, home, "plan", "jobspecs/fastqe.yaml", "--format", "json")
                        if turn == 0 and groups in args.done_groups:
                            plans[label] = json.loads(result["stdout"])
                        checked_plan(result, groups, done=False)
                        measured[label].append(result)
                if groups in args.groups:
                    row("plan", groups, median(measured.get("baseline")), median(measured["now"]))
            if groups in args.done_groups:
                for label, home in homes.items():
                    register_everything(home, plans.pop(label))
                measured = {label: [] for label in homes}
                for _ in range(args.repeat):
                    for label, home in homes.items():
                        root = REPO if label == "now" else baseline_root
                        result = toolkit(root, home, "plan", "jobspecs/fastqe.yaml", "--format", "json")
                        checked_plan(result, groups, done=True)
                        measured[label].append(result)
                row("reuse", groups, median(measured.get("baseline")), median(measured["now"]))
            for home in homes.values():
                shutil.rmtree(home, ignore_errors=True)
    finally:
        if baseline_root:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(baseline_root)], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
