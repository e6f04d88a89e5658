"""Benchmark of local runs in parallel lanes (prints numbers; not a test).

    .venv/bin/python benchmarks/local_parallel.py [--groups 24] [--repeat 1] [--execution host|container|both]
                                                  [--spec jobspecs/fastqe.yaml] [--parallel auto]

The goal of issue 11: demo-sized jobs, 24 groups, a local run on this machine at most 0.6x the wall time
of the same run one job at a time.

Generates its data (nothing is committed): ``--groups`` groups, each with its own copy of a demo FASTQ
pair (the embedded demo's reads, a few hundred kB), in Metamist's seed format, loaded with ``toolkit
metadata load`` into a fresh toolkit home per measured run. Then measures the whole ``toolkit run SPEC``
process (start-up, query, plan, jobs, registration), wall time:

* baseline, in the same run: ``--parallel 1``, one job after another (what a local run did before lanes);
* ``--parallel auto`` (or the value given): as many jobs at a time as the cores and memory fit.

Each run also says its CPU time (the toolkit and every job it started; containers are the engine's) and how
many cores the machine's other processes kept busy meanwhile (from /proc/stat): lanes can only use cores
nobody else is using.

Each run must succeed and register every group once, or the benchmark stops. ``--repeat N`` alternates the two
N times and reports the median of each (other work on a shared machine moves single runs by seconds).
``--execution container`` needs a Docker Engine with the spec's image built (``toolkit build SPEC``, with
the same ``TOOLKIT_REGISTRY`` if any).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "toolkit" / "metadata_server" / "demo"
PROJECT = "lanes-test"


def write_dataset(folder: Path, groups: int) -> Path:
    """``groups`` participants, one sample and one genome sequencing group each, reads copied from the
    demo."""
    reads = folder / "reads"
    reads.mkdir(parents=True)
    demo_pairs = sorted({path.name.split("_")[0] for path in DEMO.glob("DEMO*_R1.fastq.gz")})
    participants = []
    for number in range(groups):
        name = f"LANE{number:03d}"
        source = demo_pairs[number % len(demo_pairs)]
        pair = []
        for read in ("R1", "R2"):
            target = reads / f"{name}_{read}.fastq.gz"
            shutil.copyfile(DEMO / f"{source}_{read}.fastq.gz", target)
            pair.append({"location": str(target), "basename": target.name, "class": "File",
                         "size": target.stat().st_size})
        participants.append({
            "external_ids": {"": f"P-{name}"},
            "samples": [{
                "external_ids": {"": name}, "type": "blood", "meta": {},
                "sequencing_groups": [{
                    "type": "genome", "technology": "short-read", "platform": "illumina",
                    "assays": [{"type": "sequencing", "meta": {
                        "reads": pair, "reads_type": "fastq", "sequencing_type": "genome",
                        "sequencing_technology": "short-read", "sequencing_platform": "illumina",
                    }}],
                }],
            }],
        })
    seed = folder / f"{PROJECT}.json"
    seed.write_text(json.dumps({"projects": [{"name": PROJECT, "participants": participants}]}))
    return seed


def environment(home: Path, reads: Path) -> dict:
    # Nothing of this shell's toolkit settings, but the registry its images were built for (container mode).
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("SM_", "CPG_", "TOOLKIT_")) or key == "TOOLKIT_REGISTRY"}
    env.update({"TOOLKIT_HOME": str(home), "TOOLKIT_READ_ROOTS": str(reads), "PYTHONWARNINGS": "ignore",
                "PYTHONPATH": str(REPO)})
    return env


def toolkit(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "toolkit", *args], cwd=REPO, env=env, capture_output=True,
                          text=True)


def busy_cpu_seconds() -> float | None:
    """CPU time the whole machine has spent busy since boot (/proc/stat), or None where there is no /proc."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def measured(command: list[str], env: dict) -> dict:
    """Wall time and CPU time (the process and all its children) of one command, and how much CPU the
    machine's other processes used meanwhile: on a shared machine that is what parallel lanes compete with."""
    machine_before = busy_cpu_seconds()
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    machine_after = busy_cpu_seconds()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # cumulative: the caller subtracts the previous
    return {"wall": wall, "returncode": process.returncode, "stdout": stdout, "stderr": stderr,
            "children_cpu": usage.ru_utime + usage.ru_stime,
            "machine_cpu": None if machine_before is None else machine_after - machine_before}


def fresh_home(work: Path, seed: Path, label: str) -> dict:
    home = work / f"home-{label}"
    env = environment(home, work / "reads")
    loaded = toolkit(env, "metadata", "load", str(seed))
    if loaded.returncode != 0:
        raise SystemExit(f"metadata load failed:\n{loaded.stderr[-3000:]}")
    return env


def measured_run(env: dict, spec: str, execution: str, parallel: str, groups: int) -> dict:
    """One whole `toolkit run`, checked: every group succeeded and was registered once. Its wall seconds, its
    CPU seconds, and the cores the machine's other processes kept busy on average meanwhile."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = measured([sys.executable, "-m", "toolkit", "run", spec, "--project", PROJECT, "--execution",
                     execution, "--parallel", parallel], env)
    summary = re.search(r"summary: (\d+) succeeded, (\d+) failed.*; (\d+) Analyses created", done["stderr"])
    complete = summary and int(summary.group(1)) == groups and int(summary.group(3)) == groups
    if done["returncode"] != 0 or not complete:
        raise SystemExit(f"run --parallel {parallel} did not run and register all {groups} groups "
                         f"(exit {done['returncode']}):\n{done['stderr'][-4000:]}")
    lanes = re.search(r"submitting \d+ job\(s\), (.*)", done["stderr"])
    cpu = done["children_cpu"] - (cpu_before.ru_utime + cpu_before.ru_stime)
    others = None if done["machine_cpu"] is None else max(done["machine_cpu"] - cpu, 0) / done["wall"]
    return {"wall": done["wall"], "cpu": cpu, "others": others,
            "lanes": lanes.group(1) if lanes else "one job at a time"}


def described(run: dict, mode: str) -> str:
    # A container is the engine's process, not the toolkit's child: its CPU counts as another process's.
    who = "other processes (the jobs' containers too)" if mode == "container" else "other processes"
    others = "" if run["others"] is None else f", {who} {run['others']:.1f} core(s)"
    return f"{run['wall']:6.1f} s (cpu {run['cpu']:5.1f} s{others})"


def image_ready(spec: str, env: dict) -> str | None:
    """Why container mode cannot be measured here, or None."""
    sys.path.insert(0, str(REPO))
    from toolkit.images import engine_status, image_present, image_reference
    from toolkit.spec import load_spec

    available, reason = engine_status()
    if not available:
        return reason
    reference = image_reference(load_spec(str(REPO / spec)))
    return None if image_present(reference) else f"image {reference} is not built (toolkit build {spec})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=1, help="alternate baseline and parallel runs N times")
    parser.add_argument("--execution", choices=("host", "container", "both"), default="host")
    parser.add_argument("--spec", default="jobspecs/fastqe.yaml")
    parser.add_argument("--parallel", default="auto", help="what the parallel runs ask for (default: auto)")
    args = parser.parse_args()

    modes = ["host", "container"] if args.execution == "both" else [args.execution]
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{args.spec}, {args.groups} groups of demo reads; {affinity} core(s) for this process, "
          f"load average {os.getloadavg()[0]:.2f} at the start")
    with tempfile.TemporaryDirectory(prefix="toolkit-lanes-bench-") as scratch:
        work = Path(scratch)
        seed = write_dataset(work, args.groups)
        for mode in modes:
            if mode == "container":
                why_not = image_ready(args.spec, environment(work / "probe", work / "reads"))
                if why_not:
                    print(f"container: not measured: {why_not}")
                    continue
            baseline, parallel, lanes = [], [], ""
            for attempt in range(args.repeat):
                # Each run starts from a fresh home holding the same dataset: nothing is done yet in either.
                baseline_env = fresh_home(work, seed, f"{mode}-{attempt}-one")
                parallel_env = fresh_home(work, seed, f"{mode}-{attempt}-lanes")
                # Alternating which goes first: a change in the other load on the machine favours neither.
                order = [("1", baseline_env, baseline), (args.parallel, parallel_env, parallel)]
                for lanes_asked, env, runs in order if attempt % 2 == 0 else order[::-1]:
                    runs.append(measured_run(env, args.spec, mode, lanes_asked, args.groups))
                lanes = parallel[-1]["lanes"]
                print(f"  {mode} run {attempt + 1}: one at a time {described(baseline[-1], mode)}; "
                      f"--parallel {args.parallel} {described(parallel[-1], mode)}; "
                      f"ratio {parallel[-1]['wall'] / baseline[-1]['wall']:.2f}x")
            one = statistics.median(run["wall"] for run in baseline)
            many = statistics.median(run["wall"] for run in parallel)
            print(f"{mode}: whole `toolkit run` wall time, median of {args.repeat}")
            print(f"  baseline  --parallel 1      {one:7.1f} s")
            print(f"  parallel  --parallel {args.parallel:<8}{many:7.1f} s   ({lanes})")
            print(f"  ratio     {many / one:.2f}x   (goal: <= 0.60x)")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
