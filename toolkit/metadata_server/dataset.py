"""Inserting the participant -> sample -> sequencing group -> assay tree (REST upsert-many and the loaders).

Field names are those of Metamist's REST upsert models. The answer echoes the tree with ids filled in, in the
shape Metamist answers ``PUT /api/v1/participant/{project}/upsert-many`` (sequencing-group external ids are
not stored, as in Metamist).
"""

from __future__ import annotations

from toolkit.metadata_server.ids import IdCodec
from toolkit.metadata_server.store import Store


def insert_participants(store: Store, conn, project_id: int, participants: list[dict], codec: IdCodec) -> list[dict]:
    echoed = []
    for participant in participants:
        participant_id = store.insert_participant(
            conn, project_id, participant.get("external_ids") or {}, participant.get("meta"),
            participant.get("reported_sex"), participant.get("reported_gender"), participant.get("karyotype"),
        )
        samples = [
            _insert_sample(store, conn, project_id, participant_id, sample, codec)
            for sample in participant.get("samples") or []
        ]
        echoed.append({
            "id": participant_id,
            "external_ids": participant.get("external_ids") or {},
            "reported_sex": participant.get("reported_sex"),
            "reported_gender": participant.get("reported_gender"),
            "karyotype": participant.get("karyotype"),
            "meta": participant.get("meta") or {},
            "samples": samples,
            "phenotypes": None,
        })
    return echoed


def _insert_sample(store: Store, conn, project_id: int, participant_id: int, sample: dict, codec: IdCodec) -> dict:
    sample_id = store.insert_sample(
        conn, project_id, participant_id, sample.get("external_ids") or {}, sample.get("type"), sample.get("meta")
    )
    sample_text_id = codec.sample.encode(sample_id)
    groups = []
    for group in sample.get("sequencing_groups") or []:
        sg_id = store.insert_sequencing_group(
            conn, project_id, sample_id, group.get("type"), group.get("technology"), group.get("platform"),
            group.get("meta"),
        )
        assays = []
        for assay in group.get("assays") or []:
            assay_id = store.insert_assay(
                conn, project_id, sample_id, sg_id, assay.get("type") or "sequencing", assay.get("external_ids"),
                assay.get("meta"),
            )
            assays.append({
                "id": assay_id,
                "type": assay.get("type") or "sequencing",
                "external_ids": assay.get("external_ids") or {},
                "sample_id": sample_text_id,
                "meta": assay.get("meta") or {},
            })
        groups.append({
            "id": codec.sequencing_group.encode(sg_id),
            "type": group.get("type"),
            "technology": group.get("technology"),
            "platform": group.get("platform"),
            "meta": group.get("meta") or {},
            "sample_id": sample_text_id,
            "external_ids": None,
            "assays": assays,
        })
    return {
        "id": sample_text_id,
        "external_ids": sample.get("external_ids") or {},
        "meta": sample.get("meta") or {},
        "project": None,
        "type": sample.get("type"),
        "participant_id": participant_id,
        "active": None,
        "nested_samples": [],
        "sequencing_groups": groups,
        "non_sequencing_assays": [],
    }
