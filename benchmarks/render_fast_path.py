"""Benchmark: does the renderer's fast path for simple templates still pay for itself? (prints numbers; not a test)

    .venv/bin/python benchmarks/render_fast_path.py [--groups 10000] [--repeat 3]

``toolkit/render.py`` renders "simple" templates (literal text and slot lookups) with a small evaluator of its
own instead of Jinja's generated code; ``_simple_path_enabled = False`` sends every template through Jinja. The
baseline, measured in the same run, is that Jinja-only renderer:

* the whole process a user runs, ``toolkit plan jobspecs/fastqe.yaml --format json`` over ``--groups`` groups
  of a generated project in the embedded server (its own toolkit home; server and client in one process),
  wall and CPU time (user + system), the two renderers interleaved, median of ``--repeat``;
* in one process, the CPU time of the two steps that render per group: planning (``make_plan``: command,
  output paths, register meta) and building the Hail batch (``build_batch``: the command again, with Hail's
  file placeholders), on the service backend's shape as in ``benchmarks/batch_build.py``.

The fast path is worth keeping while what it saves is a sizeable part of the whole process (the bar set in
issue 11: 5 %).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).parent))

# The toolkit's own entry point, with the switch set first: the same process as the `toolkit` command.
RUNNER = (
    "import sys; import toolkit.render as render; render._simple_path_enabled = sys.argv[1] == 'fast'; "
    "from toolkit.cli import main; sys.exit(main(sys.argv[2:]))"
)
MODES = ("fast", "jinja")


def whole_process(home: Path, mode: str) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SM_", "CPG_", "TOOLKIT_"))}
    env.update(TOOLKIT_HOME=str(home), PYTHONWARNINGS="ignore")
    command = [sys.executable, "-c", RUNNER, mode, "plan", "jobspecs/fastqe.yaml", "--project", "bench-test",
               "--format", "json"]
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        stderr = process.stderr.read().decode(errors="replace")
        process.stderr.close()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"toolkit plan ({mode}) failed:\n{stderr[-3000:]}")
        out.seek(0)
        jobs = len(json.load(out)["jobs"])
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "jobs": jobs}


def in_process(groups: int, repeat: int) -> dict[str, dict[str, float]]:
    """CPU seconds of make_plan and build_batch per renderer (median of ``repeat``), in this process."""
    from cpg_utils.config import set_config_paths

    import batch_build
    from toolkit import render
    from toolkit.backend import build_batch
    from toolkit.pipeline import display_url_locator, output_locator
    from toolkit.plan import PlanContext, make_plan
    from toolkit.spec import load_spec

    folder = Path(tempfile.mkdtemp(prefix="render-bench-"))
    try:
        set_config_paths([batch_build.write_config(folder)])
        spec = load_spec(REPO / "jobspecs" / "fastqe.yaml")
        groupset = batch_build.make_groups(groups)

        def once() -> tuple[float, float, int]:
            context = PlanContext(
                project="bench-test", image="australia-southeast1-docker.pkg.dev/cpg-common/images/fastqe:0.3.1-1",
                execution="service", spec_path=str(spec.path), spec_sha256=spec.content_hash,
                output_location=output_locator(), display_url=display_url_locator(),
            )
            gc.collect()
            started = time.process_time()
            plan = make_plan(spec.model, groupset, context)
            planned = time.process_time() - started
            batch_build.fresh_batch()
            gc.collect()
            started = time.process_time()
            batch, _ = build_batch(spec.model, plan)
            return planned, time.process_time() - started, len(batch._jobs)

        batch_build.toolkit(spec, batch_build.make_groups(5))  # warm-up: Hail's loop, caches
        times: dict[str, list[tuple[float, float, int]]] = {mode: [] for mode in MODES}
        for _ in range(repeat):
            for mode in MODES:
                render._simple_path_enabled = mode == "fast"
                times[mode].append(once())
        render._simple_path_enabled = True
        return {mode: {"plan": statistics.median(t[0] for t in runs), "build": statistics.median(t[1] for t in runs),
                       "jobs": runs[0][2]} for mode, runs in times.items()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from metadata_server import write_seed

    folder = Path(tempfile.mkdtemp(prefix="render-bench-home-"))
    try:
        seed = folder / "seed.json"
        write_seed(seed, args.groups)
        home = folder / "home"
        env = {key: value for key, value in os.environ.items() if not key.startswith(("SM_", "CPG_", "TOOLKIT_"))}
        subprocess.run([sys.executable, "-m", "toolkit", "metadata", "load", str(seed)], cwd=REPO, check=True,
                       env={**env, "TOOLKIT_HOME": str(home)}, stdout=subprocess.DEVNULL)
        whole_process(home, "fast")  # warm-up: the web-server config and .pyc files are made once

        runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
        for _ in range(args.repeat):
            for mode in MODES:
                runs[mode].append(whole_process(home, mode))
        steps = in_process(args.groups, args.repeat)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    def median(mode: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[mode])

    whole_jinja = median("jinja", "cpu")
    print(f"{args.groups:,} groups; median of {args.repeat}; baseline: every template through Jinja "
          f"(machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})")
    print(f"{'':<52}{'fast path':>11}{'Jinja only':>12}{'saved':>9}{'of whole':>10}")

    def row(label: str, fast: float, jinja: float, whole: float = whole_jinja) -> None:
        saved = jinja - fast
        print(f"{label:<52}{fast:>10.3f}s{jinja:>11.3f}s{saved:>8.3f}s{100 * saved / whole:>9.1f}%")

    assert runs["fast"][0]["jobs"] == runs["jinja"][0]["jobs"] == args.groups
    row("toolkit plan --format json, whole process: CPU", median("fast", "cpu"), whole_jinja)
    row("  ... wall", median("fast", "wall"), median("jinja", "wall"), median("jinja", "wall"))
    row("make_plan alone: CPU", steps["fast"]["plan"], steps["jinja"]["plan"])
    row(f"build_batch alone ({steps['fast']['jobs']:,} jobs): CPU", steps["fast"]["build"], steps["jinja"]["build"])
    print("('of whole': the saving as a share of the Jinja-only `toolkit plan` process's CPU time (wall: of its "
          "wall time); build_batch is not part of `toolkit plan`, it is what `toolkit run` adds)")


if __name__ == "__main__":
    main()
