"""A dry run of the Hail Batch service path: the real ``hailtop.batch.ServiceBackend`` (through cpg-utils'
``get_batch``, as under analysis-runner), with stand-ins for the two things it would reach over the network
while a batch is built, so that building one touches neither and submitting one fails loudly:

* GCS, which Hail asks whether each bucket a file is read from or written to is in cold storage
  (``GoogleStorageClient.bucket_info``): answered "STANDARD" after yielding to the event loop as a request
  would, and every question recorded;
* the Batch service, which the backend asks for its default region (``HAIL_BATCH_REGIONS`` answers that) and
  which a submission would reach: its client raises.

Used by tests/backend/test_service_batch.py and benchmarks/service_batch.py.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from pathlib import Path
from typing import Iterator

CONFIG = """
[workflow]
dataset = "sandbox"
access_level = "test"
output_prefix = "fastqe/v1"
driver_image = "australia-southeast1-docker.pkg.dev/analysis-runner/images/driver:latest"

[hail]
backend = "batch"
billing_project = "sandbox"
dry_run = true  # cpg-utils: do not copy the config to the bucket when the batch is made

[storage.default]
default = "gs://cpg-sandbox-test"
web = "gs://cpg-sandbox-test-web"
analysis = "gs://cpg-sandbox-test-analysis"
tmp = "gs://cpg-sandbox-test-tmp"
web_url = "https://test-web.populationgenomics.org.au/sandbox"
"""
IMAGE = "australia-southeast1-docker.pkg.dev/cpg-common/images/fastqe@sha256:" + "a" * 64
READS_BUCKET = "cpg-sandbox-test-upload"


class SubmittedToTheService(AssertionError):
    """A dry run reached the Batch service."""


@contextlib.contextmanager
def service_dry_run(folder: Path) -> Iterator[collections.Counter]:
    """Inside the block cpg-utils' ``get_batch`` makes ServiceBackend batches offline; yields the buckets GCS was
    asked about (bucket -> times)."""
    import os

    from hailtop.aiocloud.aiogoogle.client.storage_client import GoogleStorageClient
    from hailtop.batch.backend import ServiceBackend

    from toolkit.settings import activate_cpg_config

    asked: collections.Counter = collections.Counter()

    async def bucket_info(self, bucket: str) -> dict:
        asked[bucket] += 1
        await asyncio.sleep(0)  # an answer from GCS comes back later, as this one does
        return {"storageClass": "STANDARD"}

    async def batch_client(self):
        raise SubmittedToTheService("a dry run asked the Hail Batch service for a client")

    saved = {
        "bucket_info": GoogleStorageClient.bucket_info,
        "batch_client": ServiceBackend._batch_client,
        "regions": os.environ.get("HAIL_BATCH_REGIONS"),
    }
    config = folder / "service-config.toml"
    config.write_text(CONFIG)
    GoogleStorageClient.bucket_info = bucket_info
    ServiceBackend._batch_client = batch_client
    os.environ["HAIL_BATCH_REGIONS"] = "australia-southeast1"
    activate_cpg_config([str(config)])
    try:
        yield asked
    finally:
        from cpg_utils import config as cpg_config
        from cpg_utils.hail_batch import reset_batch

        reset_batch()
        GoogleStorageClient.bucket_info = saved["bucket_info"]
        ServiceBackend._batch_client = saved["batch_client"]
        if saved["regions"] is None:
            os.environ.pop("HAIL_BATCH_REGIONS", None)
        else:
            os.environ["HAIL_BATCH_REGIONS"] = saved["regions"]
        cpg_config._config_paths = []
        cpg_config._config = None


def service_groups(count: int):
    """``count`` groups with a pair of gs:// reads each (sizes as a 30x genome's)."""
    from toolkit.query.groups import Group, GroupSet, Read

    return GroupSet(tuple(
        Group(
            id=f"CPGLCL{number}",
            reads=tuple(Read(f"gs://{READS_BUCKET}/S{number}_R{end}.fastq.gz", 21_000_000_000) for end in (1, 2)),
            fields={"sample": f"S{number}", "sequencing_type": "genome"},
        )
        for number in range(count)
    ))


def service_plan(spec, groupset):
    """The plan a service run makes (outputs in the config's gs:// buckets), without asking GCS what exists."""
    from toolkit.pipeline import display_url_locator, output_locator
    from toolkit.plan import PlanContext, make_plan

    context = PlanContext(
        project="sandbox", image=IMAGE, execution="service", spec_path=str(spec.path),
        spec_sha256=spec.content_hash, output_location=output_locator(), display_url=display_url_locator(),
    )
    return make_plan(spec.model, groupset, context)
