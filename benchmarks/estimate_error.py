"""Benchmark: how far `toolkit plan`'s time estimate is from the time the jobs then take (prints numbers).

    .venv/bin/python benchmarks/estimate_error.py [--spec jobspecs/fastqe.yaml] [--runs 2]

On the embedded demo project, in a fresh toolkit home, on the host: ``--runs`` runs of the spec (the first
as it comes, then ``--force``), each recording every job's wall time and input bytes in its Analyses
(``meta.provenance.run``). Then ``toolkit plan --force --format json`` estimates each job from those runs, and
one more ``toolkit run --force`` measures what each job really took. Printed: per job, estimate and actual,
and the mean absolute error. Baseline, in the same run: the estimate the plan gave before any run (the spec's
``estimate:`` hint, or "unknown"), against the same actual times.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def toolkit(home: Path, *args: str) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SM_", "CPG_", "TOOLKIT_"))}
    env.update({"TOOLKIT_HOME": str(home), "PYTHONWARNINGS": "ignore"})
    done = subprocess.run([sys.executable, "-m", "toolkit", *args], cwd=REPO, env=env, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(f"toolkit {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def estimates(home: Path, spec: str) -> dict[str, float | None]:
    plan = json.loads(toolkit(home, "plan", spec, "--force", "--format", "json", "--execution", "host"))
    return {job["id"]: (job["estimate"] or {}).get("seconds") for job in plan["jobs"]}


def latest_wall_seconds(home: Path, spec_name: str) -> dict[str, float]:
    """Job id -> wall_seconds of its newest active Analysis (what the last run measured)."""
    os.environ["TOOLKIT_HOME"] = str(home)
    sys.path.insert(0, str(REPO))
    from toolkit.metadata_server import start_server
    from toolkit.metamist_connection import connect
    from toolkit.registration import spec_analyses

    server = start_server(db_path=home / "metadata.sqlite")
    try:
        connect(server.url, local=True)
        found = {}
        for analysis in spec_analyses("sandbox-test", spec_name):  # oldest first: the newest wins
            run = ((analysis.get("meta") or {}).get("provenance") or {}).get("run") or {}
            if isinstance(run.get("wall_seconds"), (int, float)):
                found[run["job"]] = float(run["wall_seconds"])
        return found
    finally:
        server.stop()


def error_row(label: str, estimated: dict[str, float | None], actual: dict[str, float]) -> None:
    errors = [abs(estimated[job] - seconds) / seconds for job, seconds in actual.items()
              if estimated.get(job) is not None and seconds > 0]
    unknown = sum(1 for job in actual if estimated.get(job) is None)
    mean = f"{100 * sum(errors) / len(errors):.0f}%" if errors else "-"
    print(f"{label:36} mean absolute error {mean:>6} over {len(errors)} job(s); {unknown} unknown")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="jobspecs/fastqe.yaml")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    spec_name = Path(args.spec).stem
    with tempfile.TemporaryDirectory(prefix="estimate-error-") as folder:
        home = Path(folder) / "home"
        before = estimates(home, args.spec)  # no run yet: the spec's hint, or unknown
        for number in range(args.runs):
            toolkit(home, "run", args.spec, "--execution", "host", *(["--force"] if number else []))
        learnt = estimates(home, args.spec)
        toolkit(home, "run", args.spec, "--execution", "host", "--force")
        actual = latest_wall_seconds(home, spec_name)
        print(f"# {args.spec} on the demo project, on the host; actual = the run after the estimate")
        for job in sorted(actual):
            hint = "unknown" if before.get(job) is None else f"{before[job]:.1f} s"
            guess = "unknown" if learnt.get(job) is None else f"{learnt[job]:.1f} s"
            print(f"{job:12} before any run {hint:>9}   after {args.runs} run(s) {guess:>9}   "
                  f"actual {actual[job]:.1f} s")
        error_row("baseline: before any run", before, actual)
        error_row(f"after {args.runs} run(s)", learnt, actual)


if __name__ == "__main__":
    main()
