"""SQLite storage of the embedded metadata server.

One file in WAL mode, one connection per thread. Every write runs in ``BEGIN IMMEDIATE`` so concurrent writers
queue on SQLite's lock instead of failing half-way; a GraphQL query reads from one snapshot (``read_snapshot``).
Reads return :class:`Row` dicts; JSON columns (``meta``, ``external_ids``) are stored as text and parsed, with
key order preserved, only when asked for, because Metamist returns meta exactly as stored. JSON is written only
through ``jsonvalues.dumps``, which refuses numbers a strict reader could not read back.

Bulk writes (the loaders, upsert-many) allocate a block of ids at once (``allocate_ids``) and insert with
``executemany``.

Ids are allocated from the ``counter`` table rather than SQLite's rowid so that the embedded server can use up
an id the way Metamist's MariaDB auto-increment does on a failed insert (see ``Service.create_analysis``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import orjson

from toolkit.metadata_server import jsonvalues

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS project (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, dataset TEXT NOT NULL, meta TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS project_member (
    project_id INTEGER NOT NULL REFERENCES project(id), member TEXT NOT NULL, role TEXT NOT NULL,
    PRIMARY KEY (project_id, member, role)
);
CREATE TABLE IF NOT EXISTS participant (
    id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES project(id),
    external_id TEXT, external_ids TEXT NOT NULL, meta TEXT NOT NULL,
    reported_sex INTEGER, reported_gender TEXT, karyotype TEXT
);
CREATE INDEX IF NOT EXISTS participant_project ON participant(project_id, external_id);
CREATE TABLE IF NOT EXISTS sample (
    id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES project(id),
    participant_id INTEGER REFERENCES participant(id),
    external_id TEXT, external_ids TEXT NOT NULL, type TEXT, meta TEXT NOT NULL, active INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sample_project ON sample(project_id, external_id);
CREATE INDEX IF NOT EXISTS sample_participant ON sample(participant_id);
CREATE TABLE IF NOT EXISTS sequencing_group (
    id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES project(id),
    sample_id INTEGER NOT NULL REFERENCES sample(id),
    type TEXT NOT NULL, technology TEXT NOT NULL, platform TEXT NOT NULL, meta TEXT NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sequencing_group_project ON sequencing_group(project_id);
CREATE INDEX IF NOT EXISTS sequencing_group_sample ON sequencing_group(sample_id);
CREATE TABLE IF NOT EXISTS assay (
    id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES project(id),
    sample_id INTEGER NOT NULL REFERENCES sample(id),
    sequencing_group_id INTEGER REFERENCES sequencing_group(id),
    type TEXT NOT NULL, external_ids TEXT NOT NULL, meta TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS assay_sequencing_group ON assay(sequencing_group_id);
CREATE TABLE IF NOT EXISTS analysis (
    id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES project(id),
    type TEXT NOT NULL, status TEXT NOT NULL, meta TEXT NOT NULL, active INTEGER NOT NULL,
    author TEXT, timestamp_completed TEXT
);
CREATE INDEX IF NOT EXISTS analysis_project ON analysis(project_id);
CREATE TABLE IF NOT EXISTS analysis_sequencing_group (
    analysis_id INTEGER NOT NULL REFERENCES analysis(id),
    sequencing_group_id INTEGER NOT NULL REFERENCES sequencing_group(id),
    PRIMARY KEY (analysis_id, sequencing_group_id)
);
CREATE INDEX IF NOT EXISTS analysis_sg_by_sg ON analysis_sequencing_group(sequencing_group_id);
CREATE TABLE IF NOT EXISTS output_file (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, basename TEXT NOT NULL, dirname TEXT NOT NULL,
    nameroot TEXT NOT NULL, nameext TEXT NOT NULL, file_checksum TEXT, size INTEGER,
    parent_id INTEGER REFERENCES output_file(id)
);
CREATE TABLE IF NOT EXISTS analysis_output (
    analysis_id INTEGER NOT NULL REFERENCES analysis(id), seq INTEGER NOT NULL,
    file_id INTEGER REFERENCES output_file(id), output TEXT, json_key TEXT, parent_seq INTEGER,
    PRIMARY KEY (analysis_id, seq)
);
"""

ROLES_READ = ("reader", "writer", "contributor")
ROLES_WRITE = ("writer",)
ALL_ROLES = ("reader", "contributor", "writer", "project_admin", "project_member_admin")


class StoreError(Exception):
    """Base of the errors the API layers translate to Metamist's error answers."""

    kind = "ValueError"


class BadRequest(StoreError):
    kind = "ValueError"


class NotFound(StoreError):
    kind = "NotFoundError"


class ProjectDoesNotExist(StoreError):
    kind = "ProjectDoesNotExist"


class NoProjectAccess(StoreError):
    kind = "NoProjectAccess"


class IntegrityFailure(StoreError):
    kind = "IntegrityError"


class CorruptValue(StoreError):
    """Stored JSON that a strict parser refuses: written by a toolkit from before values were checked."""

    kind = "ValueError"


def now_timestamp() -> str:
    """Metamist's timestamp format: seconds, no timezone."""
    return datetime.now(timezone.utc).replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S")


def _merge_patch(target, patch):
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _dumps(value, where: str = "meta") -> str:
    """The only way JSON enters the store: numbers that could not be read back are refused (jsonvalues)."""
    if type(value) is dict and not value:  # most meta and external_ids of a bulk load
        return "{}"
    return jsonvalues.dumps(value, [where])


class Row(dict):
    """A row as a dict whose JSON columns are parsed on first access (most answers need few of them).

    The raw text sits under ``"<column>:json"``; ``row["meta"]`` parses it once and keeps the value.
    """

    __slots__ = ()

    def __missing__(self, key):
        raw = dict.get(self, f"{key}:json")
        if raw is None:
            raise KeyError(key)
        try:
            value = jsonvalues.loads(raw)
        except ValueError:
            raise CorruptValue(
                f"the stored {key} of row {self.get('id')} is not strict JSON (NaN, Infinity or an out-of-range "
                "number, stored by an older toolkit): load that dataset into a new store"
            ) from None
        self[key] = value
        return value

    def json_fragment(self, key: str):
        """The column as it is stored, to embed in an answer unparsed (or its value, when parsed already)."""
        if key in self:
            return self[key]
        try:
            return jsonvalues.stored_fragment(dict.__getitem__(self, f"{key}:json"))
        except ValueError:
            return self[key]  # parses it strictly: CorruptValue, naming the row


# The columns each entity is read with. JSON columns come as "<column>:json" (see Row); a missing external id
# reads as "" as in Metamist. Booleans stay SQLite integers: GraphQL's Boolean and the REST layer convert them.
_COLUMNS = {
    "project": 'id, name, dataset, meta AS "meta:json"',
    "participant": 'id, project_id, COALESCE(external_id, \'\') AS external_id, external_ids AS "external_ids:json",'
                   ' meta AS "meta:json", reported_sex, reported_gender, karyotype',
    "sample": 'id, project_id, participant_id, COALESCE(external_id, \'\') AS external_id,'
              ' external_ids AS "external_ids:json", type, meta AS "meta:json", active',
    "sequencing_group": 'id, project_id, sample_id, type, technology, platform, meta AS "meta:json", archived',
    "assay": 'id, project_id, sample_id, sequencing_group_id, type, external_ids AS "external_ids:json",'
             ' meta AS "meta:json"',
    "analysis": 'id, project_id, type, status, meta AS "meta:json", active, author, timestamp_completed',
}


def _placeholders(count: int) -> str:
    return ",".join("?" * count)


# Up to this many values go into a statement as parameters; longer lists go as one JSON array parameter that
# SQLite unpacks itself (json_each): one statement for 100,000 ids instead of a hundred, and ordered in SQL.
_INLINE = 64
# Rows per executemany in bulk inserts: large enough to amortise, small enough to bound the memory held.
INSERT_BATCH = 5000


def _in(column: str, values: list) -> tuple[str, list]:
    """``column IN (...)`` for ``values`` (deduplicated), with its parameters."""
    values = list(dict.fromkeys(values))
    if len(values) <= _INLINE:
        return f"{column} IN ({_placeholders(len(values))})", values
    return f"{column} IN (SELECT value FROM json_each(?))", [orjson.dumps(values).decode()]


class Store:
    """The server's data. Thread-safe: each thread gets its own SQLite connection."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        try:
            self._create_schema()
        except sqlite3.DatabaseError as error:  # not a database, damaged, or not ours to open
            self.close()
            from toolkit.errors import EnvironmentProblem

            raise EnvironmentProblem(
                f"the metadata store {self.path} cannot be opened: {error}",
                hint="if it is damaged or not a toolkit store, move it aside: the next command starts a new one "
                "with the demo project (then `toolkit metadata load` your data again)",
            ) from None

    # -- connections -------------------------------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=60)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=60000")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        with self._connections_lock:
            for conn in self._connections:
                try:
                    conn.close()
                except sqlite3.ProgrammingError:  # closed from another thread already
                    pass
            self._connections.clear()
        self._local = threading.local()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; ``BEGIN IMMEDIATE`` takes the write lock up front, so no upgrade deadlock."""
        conn = self.connection()
        if conn.in_transaction:  # nested use inside one transaction: join it
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    @contextmanager
    def read_snapshot(self) -> Iterator[sqlite3.Connection]:
        """Reads that see one state of the store, even while other requests write (WAL keeps the snapshot).

        Only for read-only work: a write inside would have to upgrade the lock and could fail on a busy store.
        """
        conn = self.connection()
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN DEFERRED")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """A larger page cache for this thread's connection while a big file is loaded: its indexes then stay in
        memory instead of going back and forth through the WAL (2 MB by default; this allows 256 MB)."""
        conn = self.connection()
        previous = conn.execute("PRAGMA cache_size").fetchone()[0]
        conn.execute("PRAGMA cache_size = -262144")
        try:
            yield
        finally:
            conn.execute(f"PRAGMA cache_size = {int(previous)}")

    def _create_schema(self) -> None:
        conn = self.connection()
        conn.executescript(_SCHEMA)
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO settings(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    def _query(self, sql: str, params: Iterable = ()) -> list[sqlite3.Row]:
        return self.connection().execute(sql, tuple(params)).fetchall()

    def _rows(self, sql: str, params: Sequence = ()) -> list[Row]:
        cursor = self.connection().cursor()
        cursor.row_factory = None  # plain tuples: Row is built from them directly
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description]
        return [Row(zip(names, values, strict=True)) for values in cursor.fetchall()]

    @staticmethod
    def next_id(conn: sqlite3.Connection, name: str) -> int:
        return Store.allocate_ids(conn, name, 1)

    @staticmethod
    def allocate_ids(conn: sqlite3.Connection, name: str, count: int) -> int:
        """Take ``count`` consecutive ids of the ``name`` sequence; answers the first (inside a write transaction)."""
        row = conn.execute(
            "INSERT INTO counter(name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value RETURNING value",
            (name, count),
        ).fetchone()
        return int(row[0]) - count + 1

    # -- projects and roles ------------------------------------------------------------------------------

    def is_empty(self) -> bool:
        return self._query("SELECT COUNT(*) FROM project")[0][0] == 0

    def create_project(
        self, name: str, dataset: str, *, members: dict[str, Iterable[str]] | None = None, conn=None
    ) -> int:
        with self.transaction() if conn is None else _joined(conn) as conn:
            if conn.execute("SELECT 1 FROM project WHERE name = ?", (name,)).fetchone():
                raise BadRequest(f"Project with name {name!r} already exists")
            project_id = self.next_id(conn, "project")
            conn.execute(
                "INSERT INTO project(id, name, dataset, meta) VALUES (?, ?, ?, '{}')", (project_id, name, dataset)
            )
            for member, roles in (members or {}).items():
                for role in roles:
                    conn.execute(
                        "INSERT OR IGNORE INTO project_member(project_id, member, role) VALUES (?, ?, ?)",
                        (project_id, member, role),
                    )
        return project_id

    def set_project_members(self, project_id: int, members: list[tuple[str, list[str]]]) -> None:
        with self.transaction() as conn:
            for member, roles in members:
                conn.execute("DELETE FROM project_member WHERE project_id = ? AND member = ?", (project_id, member))
                for role in roles:
                    conn.execute(
                        "INSERT OR IGNORE INTO project_member(project_id, member, role) VALUES (?, ?, ?)",
                        (project_id, member, role),
                    )

    def projects_by_name(self, names: Iterable[str]) -> dict[str, Row]:
        condition, params = _in("name", list(names))
        return {row["name"]: row for row in self._rows(f"SELECT {_COLUMNS['project']} FROM project WHERE {condition}",
                                                       params)}

    def projects_by_id(self, ids: Iterable[int]) -> dict[int, Row]:
        return {row["id"]: row for row in self._select("project", ids=set(ids))}

    def roles(self, user: str) -> dict[int, set[str]]:
        result: dict[int, set[str]] = {}
        for row in self._query("SELECT project_id, role FROM project_member WHERE member = ?", (user,)):
            result.setdefault(row["project_id"], set()).add(row["role"])
        return result

    def readable_projects(self, user: str) -> list[Row]:
        return self._rows(
            f"SELECT {_COLUMNS['project']} FROM project WHERE id IN (SELECT project_id FROM project_member "
            f"WHERE member = ? AND role IN ({_placeholders(len(ROLES_READ))})) ORDER BY id",
            (user, *ROLES_READ),
        )

    # -- participants, samples, sequencing groups, assays ---------------------------------------------------

    def insert_rows(self, conn, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
        """Bulk insert (one executemany per call; callers pass at most about ``INSERT_BATCH`` rows)."""
        conn.executemany(
            f"INSERT INTO {table}({', '.join(columns)}) VALUES ({_placeholders(len(columns))})", rows
        )

    def archive_sequencing_groups(self, sg_ids: list[int]) -> None:
        with self.transaction() as conn:
            condition, params = _in("id", sg_ids)
            conn.execute(f"UPDATE sequencing_group SET archived = 1 WHERE {condition}", params)

    def existing_external_ids(self, conn, table: str, project_id: int) -> set[str]:
        assert table in ("participant", "sample")
        rows = conn.execute(
            f"SELECT external_id FROM {table} WHERE project_id = ? AND external_id IS NOT NULL", (project_id,)
        ).fetchall()
        return {row[0] for row in rows}

    def participants(self, *, project_ids: list[int] | None = None, ids: list[int] | None = None) -> list[Row]:
        return self._select("participant", project_ids=project_ids, ids=ids)

    def samples(self, *, project_ids=None, ids=None, participant_ids=None) -> list[Row]:
        return self._select("sample", project_ids=project_ids, ids=ids, participant_id=participant_ids)

    def sequencing_groups(self, *, project_ids=None, ids=None, sample_ids=None, archived: bool | None = None
                          ) -> list[Row]:
        """``archived`` narrows in SQL (None: both), for the common default of active groups only."""
        extra = "" if archived is None else f" AND archived = {int(archived)}"
        return self._select("sequencing_group", project_ids=project_ids, ids=ids, sample_id=sample_ids,
                            extra_sql=extra)

    def assays(self, *, sequencing_group_ids=None, ids=None, sample_ids=None) -> list[Row]:
        return self._select("assay", ids=ids, sequencing_group_id=sequencing_group_ids, sample_id=sample_ids)

    def _select(self, table: str, *, project_ids=None, ids=None, extra_sql: str = "", **column_values) -> list[Row]:
        """Rows of ``table`` with each given column in its list of values (``extra_sql``: more conditions), by id."""
        conditions: list[tuple[str, list]] = []
        if project_ids is not None:
            conditions.append(("project_id", list(project_ids)))
        if ids is not None:
            conditions.append(("id", list(ids)))
        for column, values in column_values.items():
            if values is not None:
                conditions.append((column, list(values)))
        if any(not values for _, values in conditions):
            return []
        where, params = ["1"], []
        for column, values in conditions:
            condition, condition_params = _in(column, values)
            where.append(condition)
            params.extend(condition_params)
        return self._rows(
            f"SELECT {_COLUMNS[table]} FROM {table} WHERE {' AND '.join(where)}{extra_sql} ORDER BY id", params
        )

    # -- analyses ----------------------------------------------------------------------------------------

    def existing_sequencing_group_ids(self, conn, ids: Iterable[int]) -> set[int]:
        condition, params = _in("id", list(ids))
        return {row[0] for row in conn.execute(f"SELECT id FROM sequencing_group WHERE {condition}", params)}

    def insert_analysis(self, conn, project_id: int, analysis_type: str, status: str, meta: dict | None,
                        active: bool, author: str | None, timestamp_completed: str | None,
                        sequencing_group_ids: list[int]) -> int:
        meta_text = _dumps(meta or {})  # refused before an id is taken
        analysis_id = self.next_id(conn, "analysis")
        conn.execute(
            "INSERT INTO analysis(id, project_id, type, status, meta, active, author, timestamp_completed)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (analysis_id, project_id, analysis_type, status, meta_text, int(active), author, timestamp_completed),
        )
        conn.executemany(
            "INSERT OR IGNORE INTO analysis_sequencing_group(analysis_id, sequencing_group_id) VALUES (?, ?)",
            [(analysis_id, sg_id) for sg_id in sequencing_group_ids],
        )
        return analysis_id

    def replace_analysis_outputs(self, conn, analysis_id: int, entries: list[dict], *, new: bool = False) -> None:
        """Store the analysis's outputs; ``entries`` come from :mod:`outputs` (existing files carry ``file``).

        ``new``: the analysis was just inserted, so it has no outputs to replace.
        """
        if not new:
            conn.execute("DELETE FROM analysis_output WHERE analysis_id = ?", (analysis_id,))
        file_ids: dict[int, int] = {}
        for seq, entry in enumerate(entries):
            file_id = None
            if entry.get("file") is not None:
                parent_seq = entry.get("parent")
                parent_file = file_ids.get(parent_seq) if parent_seq is not None else None
                file_id = self._upsert_output_file(conn, entry["file"], parent_file)
                file_ids[seq] = file_id
            conn.execute(
                "INSERT INTO analysis_output(analysis_id, seq, file_id, output, json_key, parent_seq)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (analysis_id, seq, file_id, None if file_id else entry["path"], entry.get("key"),
                 entry.get("parent")),
            )

    def _upsert_output_file(self, conn, file: dict, parent_id: int | None) -> int:
        # Metamist upserts output files keyed by path; every upsert uses up an id even when the row exists.
        new_id = self.next_id(conn, "output_file")
        existing = conn.execute("SELECT id FROM output_file WHERE path = ?", (file["path"],)).fetchone()
        values = (file["basename"], file["dirname"], file["nameroot"], file["nameext"], file["file_checksum"],
                  file["size"], parent_id)
        if existing:
            conn.execute(
                "UPDATE output_file SET basename=?, dirname=?, nameroot=?, nameext=?, file_checksum=?, size=?,"
                " parent_id=? WHERE id = ?",
                (*values, existing[0]),
            )
            return int(existing[0])
        conn.execute(
            "INSERT INTO output_file(id, path, basename, dirname, nameroot, nameext, file_checksum, size, parent_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (new_id, file["path"], *values),
        )
        return new_id

    def update_assay_meta(self, conn, assay_id: int, patch: dict) -> bool:
        """Merge ``patch`` into the assay's meta as MariaDB's JSON_MERGE_PATCH does (RFC 7396: objects merge
        key by key, null removes a key), which is what Metamist's update_assay runs."""
        row = conn.execute("SELECT meta FROM assay WHERE id = ?", (assay_id,)).fetchone()
        if row is None:
            return False
        merged = _merge_patch(jsonvalues.loads(row["meta"]) if row["meta"] else {}, patch)
        conn.execute("UPDATE assay SET meta = ? WHERE id = ?", (_dumps(merged), assay_id))
        return True

    def update_analysis(self, conn, analysis_id: int, *, status=None, meta=None, active=None) -> bool:
        row = conn.execute("SELECT * FROM analysis WHERE id = ?", (analysis_id,)).fetchone()
        if row is None:
            return False
        assignments: dict[str, object] = {}
        if status is not None:
            assignments["status"] = status
            if status == "completed" and not row["timestamp_completed"]:
                assignments["timestamp_completed"] = now_timestamp()
        if meta:
            merged = Row({"id": analysis_id, "meta:json": row["meta"]})["meta"]
            merged.update(meta)
            assignments["meta"] = _dumps(merged)
        if active is not None:
            assignments["active"] = int(active)
        if assignments:
            sql = ", ".join(f"{column} = ?" for column in assignments)
            conn.execute(f"UPDATE analysis SET {sql} WHERE id = ?", (*assignments.values(), analysis_id))
        return True

    def analyses(self, *, ids=None, project_ids=None, sequencing_group_ids=None) -> list[Row]:
        if sequencing_group_ids is not None:
            links = self.analysis_links(sequencing_group_ids=sequencing_group_ids)
            analysis_ids = sorted({link[0] for link in links})
            if ids is not None:
                analysis_ids = sorted(set(analysis_ids) & set(ids))
            ids = analysis_ids
        return self._select("analysis", ids=ids, project_ids=project_ids)

    def analysis_links(self, *, analysis_ids=None, sequencing_group_ids=None) -> list[tuple[int, int]]:
        column, values = (
            ("analysis_id", analysis_ids) if analysis_ids is not None else ("sequencing_group_id", sequencing_group_ids)
        )
        if not values:
            return []
        condition, params = _in(column, list(values))
        rows = self._query(
            "SELECT analysis_id, sequencing_group_id FROM analysis_sequencing_group"
            f" WHERE {condition} ORDER BY analysis_id, sequencing_group_id",
            params,
        )
        return [(row[0], row[1]) for row in rows]

    def analysis_outputs(self, analysis_ids: Iterable[int]) -> dict[int, list[dict]]:
        result: dict[int, list[dict]] = {}
        analysis_ids = list(analysis_ids)
        if not analysis_ids:
            return result
        condition, params = _in("o.analysis_id", analysis_ids)
        rows = self._query(
            "SELECT o.analysis_id, o.seq, o.output, o.json_key, o.parent_seq, f.id AS file_id, f.parent_id,"
            " f.path, f.basename, f.dirname, f.nameroot, f.nameext, f.file_checksum, f.size"
            " FROM analysis_output o LEFT JOIN output_file f ON f.id = o.file_id"
            f" WHERE {condition} ORDER BY o.analysis_id, o.seq",
            params,
        )
        for row in rows:
            result.setdefault(row["analysis_id"], []).append(dict(row))
        return result


@contextmanager
def _joined(conn):
    yield conn
