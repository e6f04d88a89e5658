"""Benchmark the image path: cold build, warm build (content-key hit), push, pull, and the per-job overhead
of running the FastQE command in its container versus on the host under Hail's LocalBackend.

    eval "$(.ci/services/docker-up.sh)"; .ci/services/base-image.sh /tmp/toolkit-cache
    .venv/bin/python benchmarks/images.py [--spec jobspecs/fastqe.yaml] [--jobs 4] [--json]

Needs DOCKER_HOST and REGISTRY (the local registry). Publishes under a fresh image name, so it never touches
the spec's own lock or tags. Prints one line per number (or JSON with --json).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The demo's reads when this checkout has them (what `toolkit run` processes), else the tiny test fixtures.
DEMO_READS = ROOT / "toolkit" / "metadata_server" / "demo"
FIXTURES = ROOT / "tests" / "images" / "fixtures"


def benchmark_reads() -> list[Path]:
    demo = sorted(DEMO_READS.glob("DEMO001_R*.fastq.gz"))
    return demo if len(demo) == 2 else sorted(FIXTURES.glob("tiny_R*.fastq.gz"))


def timed(function, *args, **kwargs):
    started = time.monotonic()
    result = function(*args, **kwargs)
    return result, time.monotonic() - started


def copy_spec(spec: Path, workdir: Path, image_name: str) -> Path:
    """The spec and its Dockerfile folder in a scratch tree, renamed so that publishing is fresh."""
    from toolkit.spec import load_spec

    loaded = load_spec(spec)
    image = loaded.model.image
    dockerfile = loaded.resolve(image.dockerfile)
    context = loaded.resolve(image.context) if image.context else dockerfile.parent
    shutil.copytree(context, workdir / "context")
    if not (workdir / "context" / dockerfile.name).exists():
        shutil.copyfile(dockerfile, workdir / "context" / dockerfile.name)
    # the image's name is the indented one (the spec's own top-level name stays)
    text = re.sub(rf"^(\s+)name: {re.escape(image.name)}$", rf"\g<1>name: {image_name}", loaded.text, count=1, flags=re.M)
    text = text.replace(f"dockerfile: {image.dockerfile}", f"dockerfile: context/{dockerfile.name}", 1)
    if image.context:
        text = text.replace(f"context: {image.context}", "context: context", 1)
    copy = workdir / spec.name
    copy.write_text(text)
    return copy


def hail_jobs(image: str | None, jobs: int, reads: list[Path], scratch: Path) -> float:
    """Seconds for ``jobs`` FastQE jobs on LocalBackend, in ``image`` or on the host (image None)."""
    import hailtop.batch as hb

    from toolkit.images import docker_memory, local_backend_docker_flags

    backend = hb.LocalBackend(tmp_dir=str(scratch), extra_docker_run_flags=local_backend_docker_flags())
    batch = hb.Batch(name="bench", backend=backend)
    for index in range(jobs):
        job = batch.new_job(name=f"fastqe-{index}")
        inputs = [batch.read_input(str(read)) for read in reads]
        if image:
            job.image(image)
            job.memory(docker_memory("1Gi"))
        job.command(f"fastqe {inputs[0]} {inputs[1]} --html > {job.report}")
        batch.write_output(job.report, str(scratch / "out" / f"{index}.html"))
    # Hail and its job subprocesses print on stdout; keep stdout for the numbers.
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            _, seconds = timed(batch.run)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", default=str(ROOT / "jobspecs" / "fastqe.yaml"))
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from toolkit.images import (
        build_image,
        docker_client,
        engine_status,
        image_reference,
        publish_image,
    )
    from toolkit.spec import load_spec

    available, reason = engine_status()
    registry = os.environ.get("REGISTRY")
    if not available or not registry:
        print(f"cannot benchmark: {reason if not available else 'REGISTRY not set'}", file=sys.stderr)
        return 4
    quiet = lambda line: None  # noqa: E731
    numbers: dict[str, float] = {}
    workdir = Path(tempfile.mkdtemp(prefix="bench-images-"))
    try:
        spec = copy_spec(Path(args.spec), workdir, f"bench/{load_spec(args.spec).model.image.name}-{uuid.uuid4().hex[:8]}")
        loaded = load_spec(spec)
        image = loaded.model.image

        cold, numbers["cold_build_s"] = timed(build_image, loaded.path, image, registry, echo=quiet, no_cache=True)
        warm, numbers["warm_build_s"] = timed(build_image, loaded.path, image, registry, echo=quiet)
        assert cold.built and not warm.built, "the warm build must be a content-key hit"

        lock, numbers["publish_s"] = timed(publish_image, loaded, registry=registry, test_image=None, echo=quiet)
        reference = image_reference(load_spec(spec))
        client = docker_client()
        try:
            for tag in client.images.get(cold.reference).tags:
                client.images.remove(tag, force=True)
            repository, digest = reference.split("@")
            _, numbers["pull_s"] = timed(client.images.pull, repository, tag=digest)
        finally:
            client.close()

        reads = benchmark_reads()
        scratch = workdir / "hail"
        scratch.mkdir()
        os.environ["PATH"] = f"{Path(sys.executable).parent}:{os.environ['PATH']}"  # host fastqe
        hail_jobs(None, 1, reads, scratch)  # imports and first-run costs out of the way
        host = hail_jobs(None, args.jobs, reads, scratch)
        container = hail_jobs(reference, args.jobs, reads, scratch)
        numbers["host_per_job_s"] = host / args.jobs
        numbers["container_per_job_s"] = container / args.jobs
        numbers["container_overhead_per_job_s"] = (container - host) / args.jobs
        numbers["jobs"] = args.jobs
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    if args.json:
        print(json.dumps({k: round(v, 3) for k, v in numbers.items()}, indent=2))
    else:
        for name, value in numbers.items():
            print(f"{name:32s} {value:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
