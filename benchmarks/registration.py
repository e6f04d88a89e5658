"""Benchmark: creating 1,000 Analyses (what registering 1,000 outputs asks of Metamist), by each client path of
``toolkit.metamist_connection`` (prints numbers; not a test).

    .venv/bin/python benchmarks/registration.py [--creates 1000] [--repeat 3]
    .venv/bin/python benchmarks/registration.py --url http://127.0.0.1:18080 --project sandbox-test --repeat 1

Without ``--url``: the embedded server on a demo database of its own, in this process, as ``toolkit run`` starts
it. With ``--url``: a Metamist that runs with ``SM_ENVIRONMENT=local`` (e.g. the real one of
``../shared/real-metamist/``, seeded with a project that has sequencing groups).

Baseline, in the same run: one REST ``create_analysis`` after another on one client, which is what registration
did before it sent batches (``benchmarks/register_outputs.py`` measures registration itself). Then the same with a new client per call (what ``analysis_api()`` per Analysis cost), REST calls from
4 and 8 threads (each with its own client), and ``create_analyses`` (several createAnalysis mutations per
GraphQL request), alone and from 4 threads. Every way creates the same Analyses (about 1 KB each: a report's
output, display URL, provenance and metrics, as registration sends); each run checks that the ids it got back
are distinct and that Metamist holds exactly those Analyses for its outputs. Wall time, best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _metamist_target import metamist_target  # noqa: E402 - shared by the registration benchmarks


def analysis_input(number: int, run: str, sgs: list[str]) -> dict:
    """One Analysis as GraphQL's AnalysisInput; :func:`rest_model` turns it into the REST model."""
    sg = sgs[number % len(sgs)]
    return {
        "type": "web",
        "status": "COMPLETED",
        "output": f"gs://cpg-bench-test-web/{run}/fastqe/{sg}-{number}.html",
        "sequencingGroupIds": [sg],
        "meta": {
            "display_url": f"https://test-web.populationgenomics.org.au/bench/{run}/fastqe/{sg}-{number}.html",
            "provenance": {
                "jobspec": "fastqe", "jobspec_sha256": "9cdbc0767235b120a86202f50e9f9163e8f11f28b0b74ac1e8beab4c147a49e9",
                "image": "australia-southeast1-docker.pkg.dev/cpg-common/images/fastqe@sha256:" + "a" * 64,
                "tool_version": "fastqe, version 0.3.1", "toolkit": "0.1.0", "batch_id": "123456",
                "command": "fastqe-report --html ${BATCH_TMPDIR}/out/report --metrics ${BATCH_TMPDIR}/out/metrics -- "
                           f"${{BATCH_TMPDIR}}/inputs/a/{sg}_R1.fastq.gz ${{BATCH_TMPDIR}}/inputs/b/{sg}_R2.fastq.gz",
            },
            "metrics": {"reads": 4000 + number, "bases": 600_000 + number, "mean_quality": 35.2, "gc": 0.41,
                        "q30_fraction": 0.93, "n_fraction": 0.0001, "min_length": 150, "max_length": 150},
        },
    }


def rest_model(item: dict):
    from metamist.models import Analysis, AnalysisStatus

    return Analysis(type=item["type"], status=AnalysisStatus(item["status"].lower()), output=item["output"],
                    sequencing_group_ids=item["sequencingGroupIds"], meta=item["meta"])


def rest_sequential(project: str, items: list[dict]) -> list[int]:
    from toolkit.metamist_connection import analysis_api

    api = analysis_api()
    return [int(api.create_analysis(project, rest_model(item))) for item in items]


def rest_new_client_each(project: str, items: list[dict]) -> list[int]:
    """A new ApiClient (and so a new connection pool and connection) per call."""
    from metamist.api_client import ApiClient
    from metamist.apis import AnalysisApi
    from metamist.configuration import Configuration

    from toolkit.metamist_connection import current

    url = current().url
    return [int(AnalysisApi(ApiClient(Configuration(host=url))).create_analysis(project, rest_model(item)))
            for item in items]


def rest_threads(threads: int):
    def create(project: str, items: list[dict]) -> list[int]:
        from toolkit.metamist_connection import analysis_api

        def one(item: dict) -> int:
            return int(analysis_api().create_analysis(project, rest_model(item)))  # this thread's client

        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            return list(pool.map(one, items))
    return create


def graphql_batches(per_request: int, threads: int = 1):
    def create(project: str, items: list[dict]) -> list[int]:
        from toolkit.metamist_connection import create_analyses

        if threads == 1:
            return create_analyses(project, items, per_request=per_request)
        chunks = [items[start : start + per_request] for start in range(0, len(items), per_request)]
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            answers = pool.map(lambda chunk: create_analyses(project, chunk, per_request=per_request), chunks)
            return [analysis_id for ids in answers for analysis_id in ids]
    return create


def stored_ids(project: str, run: str) -> set[int]:
    from toolkit.metamist_connection import graphql_query

    analyses = graphql_query("query($p: String!) { project(name: $p) { analyses(type: {eq: \"web\"}) { id output } } }",
                             {"p": project})["project"]["analyses"]
    return {a["id"] for a in analyses if f"/{run}/" in (a["output"] or "")}


def measure(project: str, sgs: list[str], creates: int, repeat: int, way) -> tuple[float, bool]:
    best, correct = float("inf"), True
    for _ in range(repeat):
        run = uuid.uuid4().hex[:12]
        items = [analysis_input(number, run, sgs) for number in range(creates)]
        started = time.perf_counter()
        ids = way(project, items)
        best = min(best, time.perf_counter() - started)
        correct &= len(ids) == len(set(ids)) == creates and stored_ids(project, run) == set(ids)
    return best, correct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", help="a Metamist running with SM_ENVIRONMENT=local (default: the embedded server)")
    parser.add_argument("--project", default="sandbox-test")
    parser.add_argument("--per-request", type=int, nargs="+", default=None,
                        help="Analyses per GraphQL request to try (default: 25; with --url also 100)")
    parser.add_argument("--threads", type=int, nargs="+", default=None,
                        help="client threads to try (default: 4 8; with --url also 16)")
    args = parser.parse_args()

    with metamist_target(args.url, args.project) as (where, sgs):
        per_request = args.per_request or ([25, 100] if args.url else [25])
        threads = args.threads or ([4, 8, 16] if args.url else [4, 8])
        ways = [
            ("REST, one after another, one client (baseline)", rest_sequential),
            ("REST, one after another, a new client per call", rest_new_client_each),
        ]
        ways += [(f"REST, {count} threads", rest_threads(count)) for count in threads]
        for size in per_request:
            ways.append((f"GraphQL, {size} per request, one after another", graphql_batches(size)))
            ways += [(f"GraphQL, {size} per request, {count} threads", graphql_batches(size, count))
                     for count in threads]
        measure(args.project, sgs, 20, 1, rest_sequential)  # warm-up: connections, imports, caches
        print(f"{args.creates:,} Analyses created in {where}, project {args.project} ({len(sgs)} sequencing groups); "
              f"best of {args.repeat}; machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        print(f"{'':<52}{'wall':>9}{'per second':>12}{'vs baseline':>13}  ids distinct, all stored")
        baseline = None
        for label, way in ways:
            seconds, correct = measure(args.project, sgs, args.creates, args.repeat, way)
            baseline = baseline or seconds
            print(f"{label:<52}{seconds:>7.2f} s{args.creates / seconds:>12,.0f}{seconds / baseline:>12.2f}x  "
                  f"{'yes' if correct else 'NO'}")


if __name__ == "__main__":
    main()
