"""Benchmark: building a Hail Batch *service* batch at cohort scale (prints numbers; not a test).

    .venv/bin/python benchmarks/service_batch.py [--groups 100000] [--baseline-groups 100000]

The real ``hailtop.batch.ServiceBackend`` through cpg-utils' ``get_batch``, as under analysis-runner, with GCS
and the Batch service stood in for (tests/backend/service_stand_in.py: GCS answers bucket questions after
yielding to the event loop, and is asked once per bucket; nothing is submitted). Each side runs in a process
of its own, so that its peak memory is its own:

* the toolkit: ``make_plan`` over ``--groups`` groups (two gs:// reads each), then ``build_batch`` (one Bash
  job per group);
* baseline, in the same run: the FastQE tutorial's loop (benchmarks/batch_build.py: per group a Bash job with
  ``read_input`` per read and ``write_output``, plus a Python registration job: 2N jobs) on the same groups.

tests/backend/test_service_batch.py checks what such a batch holds (jobs, inputs, outputs) at 100,000 groups.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).parent))

from _measure import wait_measured  # noqa: E402 - peak memory of the child itself


def child(side: str, groups: int) -> dict:
    from tests.backend.service_stand_in import service_dry_run, service_groups, service_plan

    with tempfile.TemporaryDirectory(prefix="service-bench-") as folder, service_dry_run(Path(folder)) as asked:
        groupset = service_groups(groups)
        result: dict = {}
        if side == "toolkit":
            from toolkit.backend import build_batch
            from toolkit.spec import load_spec

            spec = load_spec(REPO / "jobspecs" / "fastqe.yaml")
            gc.collect()
            started, cpu = time.perf_counter(), time.process_time()
            plan = service_plan(spec, groupset)
            result["plan"] = time.perf_counter() - started
            batch, _ = build_batch(spec.model, plan)
            result["build"] = time.perf_counter() - started - result["plan"]
        else:
            import batch_build

            gc.collect()
            started, cpu = time.perf_counter(), time.process_time()
            result["build"], _ = batch_build.baseline(groupset)
            from cpg_utils.hail_batch import get_batch

            batch = get_batch()
        result["cpu"] = time.process_time() - cpu
        result["jobs"] = len(batch._jobs)
        result["inputs"] = len(batch._input_resources)
        result["outputs"] = sum(len(r._output_paths) for job in batch._jobs for r in job._external_outputs)
        result["gcs_questions"] = sum(asked.values())
        return result


def measured(side: str, groups: int) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", side, "--groups", str(groups)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    status, usage, peak_mb = wait_measured(process.pid)
    wall = time.perf_counter() - started
    stdout, stderr = process.stdout.read(), process.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{side} failed:\n{stderr[-3000:]}")
    return {**json.loads(stdout.strip().splitlines()[-1]), "process_wall": wall, "rss_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=100_000)
    parser.add_argument("--baseline-groups", type=int, help="groups for the baseline (default: --groups)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.groups)))
        return

    baseline_groups = args.baseline_groups or args.groups
    ours = measured("toolkit", args.groups)
    theirs = measured("tutorial", baseline_groups)
    print(f"ServiceBackend batch, dry run (machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})")
    print(f"{'':<44}{'toolkit':>14}{'tutorial loop':>16}")

    def row(label: str, mine, base, unit: str = "s") -> None:
        def cell(value, width):
            if value is None:
                return f"{'-':>{width}}"
            if unit == "s":
                return f"{value:>{width - 2}.2f} s"
            if unit == "MB":
                return f"{value:>{width - 3}.0f} MB"
            return f"{value:>{width},}"
        print(f"{label:<44}{cell(mine, 14)}{cell(base, 16)}")

    row("groups", args.groups, baseline_groups, "")
    row("jobs", ours["jobs"], theirs["jobs"], "")
    row("inputs (read_input)", ours["inputs"], theirs["inputs"], "")
    row("outputs (write_output)", ours["outputs"], theirs["outputs"], "")
    row("GCS bucket questions", ours["gcs_questions"], theirs["gcs_questions"], "")
    row("plan (make_plan)", ours["plan"], None)
    row("build the batch", ours["build"], theirs["build"])
    row("plan + build: CPU", ours["cpu"], theirs["cpu"])
    row("whole process, wall (imports included)", ours["process_wall"], theirs["process_wall"])
    row("whole process, peak RSS", ours["rss_mb"], theirs["rss_mb"], "MB")
    if baseline_groups == args.groups:
        print(f"toolkit / tutorial, building the batch: {ours['build'] / theirs['build']:.2f}; "
              f"plan + build: {(ours['plan'] + ours['build']) / theirs['build']:.2f}")


if __name__ == "__main__":
    main()
