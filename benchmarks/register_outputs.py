"""Benchmark: registering 1,000 outputs through ``toolkit.registration.register_jobs`` itself (the code path
of ``toolkit run``: the check for what is registered already, the creates, the re-check for a concurrent run's
duplicates), next to the same function as another git revision has it (prints numbers; not a test).

    .venv/bin/python benchmarks/register_outputs.py [--outputs 1000] [--repeat 3] [--baseline-ref 08c2e78]
    .venv/bin/python benchmarks/register_outputs.py --url http://127.0.0.1:18080 --repeat 1

Without ``--url``: the embedded server on a demo database of its own, in this process, as ``toolkit run``
starts it. With ``--url``: a Metamist running with ``SM_ENVIRONMENT=local`` (e.g. the real one of
``../shared/real-metamist/``, seeded with a project that has sequencing groups; ``--project``).

Rows, all in the same run: ``toolkit/registration`` at ``--baseline-ref`` (read with ``git show``: what the
toolkit did before, one REST create after another), then this checkout's with the creates one per request one
after another, batched but one request at a time, batched and 16 requests at once, and as ``toolkit run`` does
against this server (and any ``--settings``). ``--replace`` adds the same for a rerun that replaces every
output's Analysis (``--force``, or stale outputs: 1,000 creates and 1,000 Analyses made inactive). Each
measurement registers a jobspec name of its own, with ``gs://`` outputs (``--scheme file``: ``file://``, which
Metamist does not look up) and meta like FastQE's (about 1 KB an Analysis), and then checks what a user would:
Metamist holds exactly one active Analysis per output. Wall time, best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import types
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _metamist_target import metamist_target  # noqa: E402 - shared by the registration benchmarks


def registration_at(ref: str):
    """``toolkit.registration`` as it is at the git revision ``ref``, imported under a name of its own."""
    path = "toolkit/registration/__init__.py"
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{ref}:{path}"], capture_output=True, text=True,
                            check=True).stdout
    name = f"registration_at_{uuid.uuid4().hex[:8]}"
    module = types.ModuleType(name)
    module.__file__ = f"{ref}:{path}"
    sys.modules[name] = module  # dataclasses look their module up
    exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102 - our own repository's code
    return module


OUTPUT_ROOTS = {"gs": "gs://cpg-bench-test-web/", "file": "file:///bench-test-web/"}
output_root = OUTPUT_ROOTS["gs"]


def jobs_for(spec: str, run: str, sgs: list[str], count: int, replacing: dict[str, int] | None = None,
             key: str = "sha256:first"):
    """``count`` planned jobs of the jobspec ``spec``, one web output each, as the planner makes them."""
    from toolkit.plan.model import Action, PlannedJob, PlannedOutput, PlannedRegistration, Resources, WorkUnit
    from toolkit.query.groups import Group

    jobs = []
    for number in range(count):
        sg = sgs[number % len(sgs)]
        path = f"{run}/{spec}/{sg}-{number}.html"
        uri = f"{output_root}{path}"
        meta = {
            "jobspec": spec, "jobspec_output": "report",
            "display_url": f"https://test-web.populationgenomics.org.au/bench/{path}",
            "provenance": {
                "jobspec": spec,
                "jobspec_sha256": "9cdbc0767235b120a86202f50e9f9163e8f11f28b0b74ac1e8beab4c147a49e9",
                "image": "australia-southeast1-docker.pkg.dev/cpg-common/images/fastqe@sha256:" + "a" * 64,
                "tool_version": "fastqe, version 0.3.1", "toolkit": "0.1.0",
                "command": "fastqe-report --html ${BATCH_TMPDIR}/out/report "
                           "--metrics ${BATCH_TMPDIR}/out/metrics "
                           f"-- ${{BATCH_TMPDIR}}/inputs/a/{sg}_R1.fastq.gz "
                           f"${{BATCH_TMPDIR}}/inputs/b/{sg}_R2.fastq.gz",
                "reuse": {"key": key},
            },
            "metrics": {"reads": 4000 + number, "bases": 600_000 + number, "mean_quality": 35.2, "gc": 0.41,
                        "q30_fraction": 0.93, "n_fraction": 0.0001, "min_length": 150, "max_length": 150},
        }
        replaces = (replacing[uri],) if replacing else ()
        registration = PlannedRegistration(
            output="report", type="web", status="completed", output_uri=uri, sequencing_group_ids=(sg,),
            meta=meta, replaces=replaces, reuse_key=key,
        )
        jobs.append(PlannedJob(
            unit=WorkUnit(f"{sg}-{number}", "sequencing-group", Group(sg), (Group(sg),), ()),
            action=Action.RUN, reason="new", name=f"{spec} {sg}", image="img", command="true",
            outputs={"report": PlannedOutput("report", "web", "r.html", uri, uri)},
            resources=Resources(1, "1Gi", "1Gi", 2**30, 2**30), registrations=(registration,),
        ))
    return jobs


def plan_for(project: str, spec: str, jobs):
    from toolkit.plan.model import Plan

    return Plan(spec, f"{spec}.yaml", "0" * 64, project, "img", "host", jobs=list(jobs))


def active_by_output(project: str, spec: str) -> dict[str, int]:
    """What a user would check: output -> how many active Analyses the jobspec has for it."""
    from toolkit.registration import spec_analyses

    counts: dict[str, int] = {}
    for analysis in spec_analyses(project, spec):
        counts[analysis["output"]] = counts.get(analysis["output"], 0) + 1
    return counts


def measure(project: str, sgs: list[str], count: int, register, replace: bool) -> tuple[float, bool]:
    """Wall time of ``register(plan, jobs)`` for a fresh jobspec, and whether it left exactly one active
    Analysis per output (and reported every output registered)."""
    from toolkit.registration import register_jobs

    run = uuid.uuid4().hex[:10]
    spec = f"bench-{run}"
    jobs = jobs_for(spec, run, sgs, count)
    if replace:
        # The first registration is not measured: it makes the Analyses the measured rerun replaces.
        first = register_jobs(plan_for(project, spec, jobs), jobs)
        by_job = {r.group_id: r.analysis_id for r in first.registered}
        jobs = jobs_for(spec, run, sgs, count, key="sha256:second", replacing={
            job.registrations[0].output_uri: by_job[job.id] for job in jobs})
    started = time.perf_counter()
    report = register(plan_for(project, spec, jobs), jobs)
    seconds = time.perf_counter() - started
    counts = active_by_output(project, spec)
    correct = (not report.failed and len(report.created) == count and len(counts) == count
               and set(counts.values()) == {1})
    return seconds, correct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outputs", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", help="a Metamist with SM_ENVIRONMENT=local (default: the embedded server)")
    parser.add_argument("--project", default="sandbox-test")
    parser.add_argument("--baseline-ref", default="08c2e78",
                        help="git revision whose registration is baseline (default: before batched registration)")
    parser.add_argument("--settings", nargs="*", default=[],
                        help="more (creates per request)x(requests at once) to try, e.g. 10x8 25x4")
    parser.add_argument("--replace", action="store_true", help="also a rerun that replaces every output")
    parser.add_argument("--scheme", choices=sorted(OUTPUT_ROOTS), default="gs",
                        help="outputs' scheme: Metamist looks gs:// ones up in GCS (default gs)")
    args = parser.parse_args()
    global output_root
    output_root = OUTPUT_ROOTS[args.scheme]

    from toolkit import registration

    with metamist_target(args.url, args.project) as (where, sgs):
        baseline = registration_at(args.baseline_ref)

        def configured(per_request: int, at_once: int):
            return lambda plan, jobs: registration.register_jobs(
                plan, jobs, per_request=per_request, requests_at_once=at_once)

        per_request = registration.MUTATIONS_PER_REQUEST
        at_once = registration.requests_at_once_for_current_server()
        ways = [
            (f"{args.baseline_ref}: REST, one create after another (baseline)", baseline.register_jobs),
            ("now, 1 create per request, one request at a time", configured(1, 1)),
            (f"now, {per_request} creates per request, one request at a time", configured(per_request, 1)),
            (f"now, {per_request} creates per request, {registration.REQUESTS_AT_ONCE} requests at once",
             configured(per_request, registration.REQUESTS_AT_ONCE)),
            (f"now, as toolkit run does here ({per_request} per request, {at_once} at once)",
             registration.register_jobs),
        ]
        for setting in args.settings:
            per_request, at_once = (int(part) for part in setting.split("x"))
            ways.append((f"now, {per_request} creates per request, {at_once} requests at once", configured(
                per_request, at_once)))
        jobs = jobs_for("bench-warm-up", uuid.uuid4().hex[:10], sgs, 20)
        registration.register_jobs(plan_for(args.project, "bench-warm-up", jobs), jobs)  # connections, caches
        print(f"register {args.outputs:,} {args.scheme}:// outputs in {where}, project {args.project} "
              f"({len(sgs)} sequencing groups); best of {args.repeat}; machine: {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.1f}")
        scenarios = [("new outputs", False)]
        if args.replace:
            scenarios.append(("replacing every output's Analysis", True))
        for title, replace in scenarios:
            # Round after round of every way, so that each way meets about the same number of Analyses stored
            # before it (the store grows with every measurement).
            best = {label: float("inf") for label, _ in ways}
            correct = {label: True for label, _ in ways}
            for _ in range(args.repeat):
                for label, way in ways:
                    seconds, right = measure(args.project, sgs, args.outputs, way, replace)
                    best[label] = min(best[label], seconds)
                    correct[label] &= right
            print(f"\n{title}{'':<{76 - len(title)}}{'wall':>9}{'per second':>12}{'vs baseline':>13}"
                  "  one active Analysis per output")
            first = best[ways[0][0]]
            for label, _ in ways:
                print(f"{label:<76}{best[label]:>7.2f} s{args.outputs / best[label]:>12,.0f}"
                      f"{best[label] / first:>12.2f}x  {'yes' if correct[label] else 'NO'}")


if __name__ == "__main__":
    main()
