"""Inserting the participant -> sample -> sequencing group -> assay tree (REST upsert-many and the loaders).

Field names are those of Metamist's REST upsert models. The answer echoes the tree with ids filled in, in the
shape Metamist answers ``PUT /api/v1/participant/{project}/upsert-many`` (sequencing-group external ids are
not stored, as in Metamist).

The tree is written in bulk: one block of ids per table (numbered in the order Metamist inserts them, depth
first, so ids match a real server fed the same requests), rows inserted with ``executemany``.
"""

from __future__ import annotations

from toolkit.metadata_server.ids import IdCodec
from toolkit.metadata_server.store import INSERT_BATCH, Store, _dumps

PARTICIPANT_COLUMNS = ("id", "project_id", "external_id", "external_ids", "meta", "reported_sex", "reported_gender",
                       "karyotype")
SAMPLE_COLUMNS = ("id", "project_id", "participant_id", "external_id", "external_ids", "type", "meta", "active")
GROUP_COLUMNS = ("id", "project_id", "sample_id", "type", "technology", "platform", "meta", "archived")
ASSAY_COLUMNS = ("id", "project_id", "sample_id", "sequencing_group_id", "type", "external_ids", "meta")


class _Rows:
    """Rows waiting to be inserted; flushed parents first, so foreign keys always find their row."""

    def __init__(self, store: Store, conn):
        self.store, self.conn = store, conn
        self.participants: list[tuple] = []
        self.samples: list[tuple] = []
        self.groups: list[tuple] = []
        self.assays: list[tuple] = []

    def flush_if_full(self) -> None:
        if max(len(self.participants), len(self.samples), len(self.groups), len(self.assays)) >= INSERT_BATCH:
            self.flush()

    def flush(self) -> None:
        for table, columns, rows in (("participant", PARTICIPANT_COLUMNS, self.participants),
                                     ("sample", SAMPLE_COLUMNS, self.samples),
                                     ("sequencing_group", GROUP_COLUMNS, self.groups),
                                     ("assay", ASSAY_COLUMNS, self.assays)):
            if rows:
                self.store.insert_rows(self.conn, table, columns, rows)
                rows.clear()


def _count(participants: list[dict]) -> tuple[int, int, int]:
    samples = groups = assays = 0
    for participant in participants:
        for sample in participant.get("samples") or ():
            samples += 1
            for group in sample.get("sequencing_groups") or ():
                groups += 1
                assays += len(group.get("assays") or ())
    return samples, groups, assays


def insert_participants(store: Store, conn, project_id: int, participants: list[dict], codec: IdCodec, *,
                        echo: bool = True) -> list[dict]:
    """Insert the tree inside the caller's write transaction; answers the echo (empty when ``echo=False``)."""
    n_samples, n_groups, n_assays = _count(participants)
    next_participant = store.allocate_ids(conn, "participant", len(participants)) if participants else 0
    next_sample = store.allocate_ids(conn, "sample", n_samples) if n_samples else 0
    next_group = store.allocate_ids(conn, "sequencing_group", n_groups) if n_groups else 0
    next_assay = store.allocate_ids(conn, "assay", n_assays) if n_assays else 0
    rows = _Rows(store, conn)
    echoed: list[dict] = []
    for participant in participants:
        participant_id, next_participant = next_participant, next_participant + 1
        external_ids = participant.get("external_ids") or {}
        rows.participants.append((
            participant_id, project_id, external_ids.get(""), _dumps(external_ids, "external_ids"),
            _dumps(participant.get("meta") or {}), participant.get("reported_sex"),
            participant.get("reported_gender"), participant.get("karyotype"),
        ))
        samples_echo = []
        for sample in participant.get("samples") or ():
            sample_id, next_sample = next_sample, next_sample + 1
            sample_external_ids = sample.get("external_ids") or {}
            rows.samples.append((
                sample_id, project_id, participant_id, sample_external_ids.get(""),
                _dumps(sample_external_ids, "external_ids"), sample.get("type"), _dumps(sample.get("meta") or {}), 1,
            ))
            sample_text_id = codec.sample.encode(sample_id) if echo else None
            groups_echo = []
            for group in sample.get("sequencing_groups") or ():
                group_id, next_group = next_group, next_group + 1
                rows.groups.append((
                    group_id, project_id, sample_id, group.get("type"), group.get("technology"),
                    group.get("platform"), _dumps(group.get("meta") or {}), 0,
                ))
                assays_echo = []
                for assay in group.get("assays") or ():
                    assay_id, next_assay = next_assay, next_assay + 1
                    assay_type = assay.get("type") or "sequencing"
                    rows.assays.append((
                        assay_id, project_id, sample_id, group_id, assay_type,
                        _dumps(assay.get("external_ids") or {}, "external_ids"), _dumps(assay.get("meta") or {}),
                    ))
                    if echo:
                        assays_echo.append({
                            "id": assay_id,
                            "type": assay_type,
                            "external_ids": assay.get("external_ids") or {},
                            "sample_id": sample_text_id,
                            "meta": assay.get("meta") or {},
                        })
                if echo:
                    groups_echo.append({
                        "id": codec.sequencing_group.encode(group_id),
                        "type": group.get("type"),
                        "technology": group.get("technology"),
                        "platform": group.get("platform"),
                        "meta": group.get("meta") or {},
                        "sample_id": sample_text_id,
                        "external_ids": None,
                        "assays": assays_echo,
                    })
            if echo:
                samples_echo.append({
                    "id": sample_text_id,
                    "external_ids": sample_external_ids,
                    "meta": sample.get("meta") or {},
                    "project": None,
                    "type": sample.get("type"),
                    "participant_id": participant_id,
                    "active": None,
                    "nested_samples": [],
                    "sequencing_groups": groups_echo,
                    "non_sequencing_assays": [],
                })
        if echo:
            echoed.append({
                "id": participant_id,
                "external_ids": external_ids,
                "reported_sex": participant.get("reported_sex"),
                "reported_gender": participant.get("reported_gender"),
                "karyotype": participant.get("karyotype"),
                "meta": participant.get("meta") or {},
                "samples": samples_echo,
                "phenotypes": None,
            })
        rows.flush_if_full()
    rows.flush()
    return echoed
