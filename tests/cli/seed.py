"""Hostile but realistic metadata, loaded the way a user loads data: a dataset in Metamist's seed format,
through `toolkit metadata load` (JSON escapes carry newlines, NUL, escape sequences into the store)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import REPO

DEMO = REPO / "toolkit" / "metadata_server" / "demo"
DEMO_PAIR = (str(DEMO / "DEMO001_R1.fastq.gz"), str(DEMO / "DEMO001_R2.fastq.gz"))


def participant(sample: str, *, reads=DEMO_PAIR, sample_meta: dict | None = None) -> dict:
    """One participant with one sample (external id ``sample``) and one genome sequencing group."""
    return {
        "external_ids": {"": f"P-{sample}"},
        "samples": [{
            "external_ids": {"": sample},
            "type": "blood",
            "meta": sample_meta or {},
            "sequencing_groups": [{
                "type": "genome", "technology": "short-read", "platform": "illumina",
                "assays": [{
                    "type": "sequencing",
                    "meta": {
                        "reads": [{"location": location, "size": 1000, "class": "File"} for location in reads],
                        "reads_type": "fastq", "sequencing_type": "genome",
                        "sequencing_technology": "short-read", "sequencing_platform": "illumina",
                    },
                }],
            }],
        }],
    }


def load(toolkit, folder: Path, project: str, participants: list[dict]) -> None:
    """Write the dataset and load it with the real CLI."""
    path = folder / f"{project}.json"
    path.write_text(json.dumps({"projects": [{"name": project, "participants": participants}]}, indent=1))
    toolkit.run("metadata", "load", str(path))
