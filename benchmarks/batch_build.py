"""Benchmark: time to plan and build the Hail Batch for N groups, toolkit vs the tutorial's script.

The baseline builds the batch the way the FastQE tutorial does (one Bash job per group plus one Python
registration job per group: 2N jobs). The toolkit plans (renders commands, resolves outputs, resources and
registrations) and builds one Bash job per group (N jobs; registration runs in the driver afterwards).
Both are measured in the same process, on the same groups, with Hail's LocalBackend (built, not run).

    .venv/bin/python benchmarks/batch_build.py [--sizes 10 1000 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def make_groups(count: int):
    from toolkit.query.groups import Group, GroupSet, Read

    groups = []
    for number in range(1, count + 1):
        gid = f"CPGLCL{number}{number % 10}"
        groups.append(
            Group(
                id=gid,
                reads=(Read(f"/bench/upload/{gid}_R1.fastq.gz", 21_000_000_000),
                       Read(f"/bench/upload/{gid}_R2.fastq.gz", 21_000_000_000)),
                fields={"sample": f"S{number}", "sequencing_type": "genome"},
            )
        )
    return GroupSet(tuple(groups))


def write_config(folder: Path) -> str:
    from toolkit.settings import write_toml, embedded_config

    config = embedded_config(folder, "bench-test", "http://127.0.0.1:20000/hbench", "http://127.0.0.1:8417")
    path = folder / "config.toml"
    write_toml(path, config)
    return str(path)


def fresh_batch():
    from cpg_utils.hail_batch import get_batch, reset_batch

    reset_batch()
    return get_batch("benchmark")


def baseline(groupset) -> tuple[float, int]:
    """The tutorial: per group a Bash job (image, storage, two inputs, command, web output) + a Python job."""
    from cpg_utils.config import output_path

    def register(sgid: str, path: str) -> None:  # never called: only the batch is built
        pass

    started = time.perf_counter()
    batch = fresh_batch()
    file_dict = {g.id: [r.location for r in g.reads] for g in groupset.groups}
    for sg, files in file_dict.items():
        assert len(files) == 2
        job = batch.new_job("FastQE", {"tool": "fastqe"})
        job.image("australia-southeast1-docker.pkg.dev/cpg-common/images/fastqe:0.3.1-1")
        job.storage("2Gi")
        file_1 = batch.read_input(files[0])
        file_2 = batch.read_input(files[1])
        job.command(f"fastqe {file_1} {file_2} --html > {job.out_fastqe}")
        destination = output_path(f"{sg}.html", category="web")
        batch.write_output(job.out_fastqe, destination)
        python_job = batch.new_python_job(f"Register {sg}")
        python_job.call(register, sg, destination)
    elapsed = time.perf_counter() - started
    return elapsed, len(batch._jobs)


def toolkit(spec, groupset) -> tuple[float, int]:
    from toolkit.backend import build_batch
    from toolkit.pipeline import display_url_locator, output_locator
    from toolkit.plan import PlanContext, make_plan

    started = time.perf_counter()
    context = PlanContext(
        project="bench-test",
        image="australia-southeast1-docker.pkg.dev/cpg-common/images/fastqe:0.3.1-1",
        execution="service",
        spec_path=str(spec.path),
        spec_sha256=spec.content_hash,
        output_location=output_locator(),
        display_url=display_url_locator(),
    )
    plan = make_plan(spec.model, groupset, context)
    fresh_batch()
    batch, _ = build_batch(spec.model, plan)
    elapsed = time.perf_counter() - started
    return elapsed, len(batch._jobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from cpg_utils.config import set_config_paths

    from toolkit.spec import load_spec

    folder = Path(tempfile.mkdtemp(prefix="toolkit-bench-"))
    set_config_paths([write_config(folder)])
    spec = load_spec(REPO / "jobspecs" / "fastqe.yaml")

    # Warm-up: Hail's event loop, cpg-utils' config and the template caches are set up once per process.
    warm = make_groups(5)
    baseline(warm)
    toolkit(spec, warm)

    print(f"{'groups':>7} {'baseline s':>11} {'jobs':>6} {'toolkit s':>10} {'jobs':>6} {'ratio':>6}")
    for size in args.sizes:
        groupset = make_groups(size)
        base_times, tool_times = [], []
        for _ in range(args.repeat):
            gc.collect()
            base_seconds, base_jobs = baseline(groupset)
            gc.collect()
            tool_seconds, tool_jobs = toolkit(spec, groupset)
            base_times.append(base_seconds)
            tool_times.append(tool_seconds)
        base, tool = statistics.median(base_times), statistics.median(tool_times)
        print(f"{size:>7} {base:>11.3f} {base_jobs:>6} {tool:>10.3f} {tool_jobs:>6} {tool / base:>6.2f}")
    print(f"(median of {args.repeat} runs each; ratio = toolkit / baseline; target at 10000 groups: <= 0.6)")
    os.system(f"rm -rf {folder}")


if __name__ == "__main__":
    main()
