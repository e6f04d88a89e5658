"""Operations shared by the REST and GraphQL layers: access checks and analysis writes.

Messages and the order of checks follow the golden recording of real Metamist, so that a user sees the same
errors locally and in production.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from toolkit.metadata_server import jsonvalues
from toolkit.metadata_server import outputs as outputs_module
from toolkit.metadata_server.ids import DEFAULT_CODEC, IdCodec
from toolkit.metadata_server.store import (
    ROLES_READ,
    BadRequest,
    IntegrityFailure,
    NoProjectAccess,
    NotFound,
    ProjectDoesNotExist,
    Store,
    now_timestamp,
)

LOCAL_USER = "local-dev"

# REST spelling <-> GraphQL enum name.
STATUS_REST = ("queued", "in-progress", "failed", "completed", "unknown")
STATUS_TO_GRAPHQL = {status: status.upper().replace("-", "_") for status in STATUS_REST}
STATUS_FROM_GRAPHQL = {value: key for key, value in STATUS_TO_GRAPHQL.items()}

ENUMS = {
    "analysisType": ["analysis-runner", "cram", "custom", "es-index", "gvcf", "joint-calling", "qc", "sv", "web"],
    "assayType": ["sequencing"],
    "sampleType": ["blood", "saliva"],
    "sequencingPlatform": ["illumina", "oxford-nanopore", "pacbio"],
    "sequencingTechnology": ["bulk-rna-seq", "long-read", "short-read", "single-cell-rna-seq"],
    "sequencingType": ["chip", "exome", "genome", "mtseq", "transcriptome"],
}


@dataclass
class Service:
    store: Store
    codec: IdCodec = DEFAULT_CODEC
    inspector: outputs_module.ObjectInspector = field(default_factory=outputs_module.ObjectInspector)
    user: str = LOCAL_USER

    # -- access ------------------------------------------------------------------------------------------

    def project_for_read(self, names: list[str], *, graphql: bool = True) -> list[dict]:
        return self._projects(names, ROLES_READ, graphql=graphql)

    def project_for_write(self, name: str, *, graphql: bool = False) -> dict:
        return self._projects([name], ("writer",), graphql=graphql)[0]

    def _projects(self, names: list[str], roles: tuple[str, ...], *, graphql: bool) -> list[dict]:
        found = self.store.projects_by_name(names)
        missing = [name for name in names if name not in found]
        if missing:
            if graphql:
                raise ProjectDoesNotExist(
                    "Could not find projects with names: " + ", ".join(f'"{name}"' for name in missing)
                )
            raise ProjectDoesNotExist(
                f"Project with id {missing[0]!r} does not exist, or you do not have the appropriate permissions"
            )
        user_roles = self.store.roles(self.user)
        denied = [name for name in names if not (user_roles.get(found[name]["id"], set()) & set(roles))]
        if denied:
            raise NoProjectAccess(
                f"{self.user} does not have {' or '.join(roles)} access to resources from the following "
                f"project(s), or they may not exist: " + ", ".join(repr(name) for name in denied)
            )
        return [found[name] for name in names]

    def readable_project_ids(self) -> set[int]:
        return {
            project_id for project_id, roles in self.store.roles(self.user).items() if roles & set(ROLES_READ)
        }

    # -- analyses ----------------------------------------------------------------------------------------

    def create_analysis(self, project_name: str, *, analysis_type: str, status: str, meta: dict | None,
                        sequencing_group_ids: list[str] | None, output=None, outputs=None, active: bool | None,
                        author: str | None = None, graphql: bool = False) -> int:
        """Create an analysis; ``status`` in REST spelling. Errors as Metamist's, including its side effects."""
        project = self.project_for_write(project_name, graphql=graphql)
        raw_sg_ids = [self.codec.sequencing_group.decode(sg_id) for sg_id in (sequencing_group_ids or [])]
        if not raw_sg_ids:
            raise BadRequest('Must specify "sequencing_group_ids" or "cohort_ids"')
        entries = outputs_module.collect_entries(output, outputs)
        try:
            outputs_module.check_schemes(entries)
            scheme_error = None
        except ValueError as error:
            scheme_error = error
        inspected = [] if scheme_error else outputs_module.inspect_entries(entries, self.inspector)
        jsonvalues.check(meta or {}, ["meta"])
        timestamp = now_timestamp() if status == "completed" else None
        unique_sg_ids = list(dict.fromkeys(raw_sg_ids))
        # One write transaction: the check for unknown groups and the insert see the same store.
        with self.store.transaction() as conn:
            existing = self.store.existing_sequencing_group_ids(conn, unique_sg_ids)
            unknown = [sg for sg in unique_sg_ids if sg not in existing]
            if unknown:
                # Metamist inserts the analysis, then fails on the foreign key: the row is rolled back but the id
                # is used up. Reproduced so ids stay in step with a real server replaying the same requests.
                self.store.next_id(conn, "analysis")
            else:
                analysis_id = self.store.insert_analysis(
                    conn, project["id"], analysis_type, status, meta, True if active is None else active, author,
                    timestamp, unique_sg_ids,
                )
                if not scheme_error:
                    self.store.replace_analysis_outputs(conn, analysis_id, inspected, new=True)
        if unknown:
            names = ", ".join(self.codec.sequencing_group.encode(sg) for sg in unknown)
            raise IntegrityFailure(f"sequencing group(s) not found: {names} (foreign key on analysis_sequencing_group)")
        if scheme_error:
            # Metamist checks the output paths after inserting the analysis: the row stays, without outputs.
            raise BadRequest(str(scheme_error))
        return analysis_id

    def update_assay(self, assay_id: int, meta: dict | None) -> int:
        """Metamist's ``PATCH /api/v1/assay/`` for the meta (merged as JSON_MERGE_PATCH), with its checks."""
        rows = self.store.assays(ids=[assay_id])
        if not rows:
            raise NotFound(f"Assay with id {assay_id} does not exist")
        project = self.store.projects_by_id([rows[0]["project_id"]])[rows[0]["project_id"]]
        self.project_for_write(project["name"])
        if meta is not None:
            with self.store.transaction() as conn:
                self.store.update_assay_meta(conn, assay_id, meta)
        return assay_id

    def update_analysis(self, analysis_id: int, *, status=None, meta=None, active=None, output=None,
                        outputs=None) -> bool:
        inspected = None
        if output is not None or outputs is not None:
            entries = outputs_module.collect_entries(output, outputs)
            try:
                outputs_module.check_schemes(entries)
            except ValueError as error:
                raise BadRequest(str(error)) from None
            inspected = outputs_module.inspect_entries(entries, self.inspector)
        with self.store.transaction() as conn:
            found = self.store.update_analysis(conn, analysis_id, status=status, meta=meta, active=active)
            if found and inspected is not None:
                self.store.replace_analysis_outputs(conn, analysis_id, inspected)
        return found

    def analyses_rest(self, analyses: list[dict], only_sequencing_groups: set[int] | None = None) -> list[dict]:
        """Analyses in the shape of REST ``/details`` and ``/query`` answers.

        A query by sequencing group lists only the queried groups of each analysis, as Metamist does.
        """
        ids = [analysis["id"] for analysis in analyses]
        outputs_by_id = self.store.analysis_outputs(ids)
        links: dict[int, list[int]] = {}
        for analysis_id, sg_id in self.store.analysis_links(analysis_ids=ids) if ids else []:
            if only_sequencing_groups is not None and sg_id not in only_sequencing_groups:
                continue
            links.setdefault(analysis_id, []).append(sg_id)
        answers = []
        for analysis in analyses:
            output, outputs = outputs_module.render_outputs(outputs_by_id.get(analysis["id"], []), graphql=False)
            answers.append({
                "type": analysis["type"],
                "status": analysis["status"],
                "id": analysis["id"],
                "output": output,
                "outputs": outputs,
                "sequencing_group_ids": [
                    self.codec.sequencing_group.encode(sg) for sg in links.get(analysis["id"], [])
                ],
                "cohort_ids": [],
                "author": analysis["author"],
                "timestamp_completed": analysis["timestamp_completed"],
                "project": analysis["project_id"],
                "active": bool(analysis["active"]),
                "meta": analysis["meta"],
            })
        return answers

    def analysis_details(self, analysis_id: int) -> dict:
        found = self.store.analyses(ids=[analysis_id])
        if not found:
            raise NotFound(f"Couldn't find analysis with id = {analysis_id}")
        return self.analyses_rest(found)[0]
