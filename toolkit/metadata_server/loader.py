"""Loading datasets into the store: Metamist's seed format (``.json``) and CSV sample sheets (``.csv``).

Everything is checked first and every problem is reported with its position (``file:line: field: message``);
then the whole file is written in one transaction, so an invalid file loads nothing.

CSV sample sheets have a header with at least ``project, participant, sample, sequencing_type, read1, read2``
(optional: ``sequencing_technology`` (default short-read), ``sequencing_platform`` (illumina), ``sample_type``
(blood)). Each row is one assay (one pair of reads); rows with the same project, participant, sample and
sequencing type form one sequencing group. Local read paths (relative to the CSV file) are stored as absolute
paths without a scheme, which is what Hail's LocalBackend and the tools read, with their size and
``md5:<hex>`` checksum as CPG stores them; ``gs://`` URIs are stored as given (size and checksum unknown).
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import json
import json.scanner
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.errors import DataLoadError
from toolkit.metadata_server._paths import default_db_path
from toolkit.metadata_server.dataset import insert_participants
from toolkit.metadata_server.ids import DEFAULT_CODEC
from toolkit.metadata_server.service import LOCAL_USER
from toolkit.metadata_server.store import ALL_ROLES, Store, _dumps

DEMO_DIR = Path(__file__).parent / "demo"
DEMO_SHEET = DEMO_DIR / "samples.csv"
CSV_REQUIRED = ("project", "participant", "sample", "sequencing_type", "read1", "read2")
CSV_OPTIONAL = ("sequencing_technology", "sequencing_platform", "sample_type")


@dataclass
class LoadSummary:
    source: str
    projects: list[str] = field(default_factory=list)
    participants: int = 0
    samples: int = 0
    sequencing_groups: list[str] = field(default_factory=list)
    assays: int = 0

    def describe(self) -> str:
        return (
            f"loaded {self.source}: {len(self.projects)} project(s) ({', '.join(self.projects)}), "
            f"{self.participants} participant(s), {self.samples} sample(s), "
            f"{len(self.sequencing_groups)} sequencing group(s), {self.assays} assay(s)"
        )


class _Problems:
    def __init__(self, source: Path):
        self.source = source
        self.items: list[str] = []

    def add(self, line: int | None, where: str, message: str) -> None:
        position = f"{self.source}:{line}" if line else str(self.source)
        self.items.append(f"{position}: {where}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            shown = self.items[:20]
            more = len(self.items) - len(shown)
            text = "\n".join(shown) + (f"\n... and {more} more" if more > 0 else "")
            raise DataLoadError(text, hint="nothing was loaded; fix the file and load it again")


def default_dataset_for(project: str) -> str:
    """CPG's convention: project ``<dataset>-test`` is the test project of ``<dataset>``."""
    return project[: -len("-test")] if project.endswith("-test") and len(project) > 5 else project


# -- JSON with line numbers ----------------------------------------------------------------------------------

def _parse_json_with_lines(text: str, problems: _Problems):
    """Parse JSON and remember the line where each object starts (keyed by ``id``)."""
    newlines = [index for index, char in enumerate(text) if char == "\n"]
    lines: dict[int, int] = {}
    decoder = json.JSONDecoder()
    plain_parse_object = decoder.parse_object

    def parse_object(s_and_end, *args):
        _s, end = s_and_end
        value, new_end = plain_parse_object(s_and_end, *args)
        lines[id(value)] = bisect.bisect_left(newlines, end - 1) + 1
        return value, new_end

    decoder.parse_object = parse_object
    decoder.scan_once = json.scanner.py_make_scanner(decoder)
    try:
        return decoder.decode(text), lines
    except json.JSONDecodeError as error:
        problems.add(error.lineno, f"column {error.colno}", f"invalid JSON: {error.msg}")
        problems.raise_if_any()
        raise AssertionError("unreachable") from error


# -- seed format --------------------------------------------------------------------------------------------

def _check_seed(data, lines: dict[int, int], problems: _Problems, existing: dict[str, dict[str, set]]):
    def line_of(obj):
        return lines.get(id(obj))

    def expect(obj, key, kinds, where, required=True):
        value = obj.get(key) if isinstance(obj, dict) else None
        if value is None:
            if required:
                problems.add(line_of(obj), f"{where}.{key}", "required field is missing")
            return None
        if not isinstance(value, kinds):
            names = "/".join(kind.__name__ for kind in (kinds if isinstance(kinds, tuple) else (kinds,)))
            problems.add(line_of(obj), f"{where}.{key}", f"must be {names}, got {type(value).__name__}")
            return None
        return value

    def external_id(obj, where, seen: set, already: set, noun: str):
        ids = expect(obj, "external_ids", dict, where)
        if ids is None:
            return
        primary = ids.get("")
        if not isinstance(primary, str) or not primary:
            problems.add(line_of(obj), f"{where}.external_ids", 'needs a primary external id under the key ""')
        elif primary in seen:
            problems.add(line_of(obj), f"{where}.external_ids", f"{noun} {primary!r} appears twice in the file")
        elif primary in already:
            problems.add(line_of(obj), f"{where}.external_ids", f"{noun} {primary!r} already exists in the store")
        else:
            seen.add(primary)

    if not isinstance(data, dict):
        problems.add(1, "(top level)", "must be an object with a 'projects' list")
        return
    projects = expect(data, "projects", list, "(top level)")
    names = set()
    for p_index, project in enumerate(projects or []):
        where = f"projects[{p_index}]"
        if not isinstance(project, dict):
            problems.add(None, where, "must be an object")
            continue
        name = expect(project, "name", str, where)
        expect(project, "dataset", str, where, required=False)
        if name in names:
            problems.add(line_of(project), f"{where}.name", f"project {name!r} appears twice")
        names.add(name)
        known = existing.get(name, {"participant": set(), "sample": set()})
        seen_participants: set = set()
        seen_samples: set = set()
        for i, participant in enumerate(expect(project, "participants", list, where) or []):
            pw = f"{where}.participants[{i}]"
            if not isinstance(participant, dict):
                problems.add(None, pw, "must be an object")
                continue
            external_id(participant, pw, seen_participants, known["participant"], "participant")
            expect(participant, "meta", dict, pw, required=False)
            expect(participant, "reported_sex", int, pw, required=False)
            for j, sample in enumerate(expect(participant, "samples", list, pw, required=False) or []):
                sw = f"{pw}.samples[{j}]"
                if not isinstance(sample, dict):
                    problems.add(None, sw, "must be an object")
                    continue
                external_id(sample, sw, seen_samples, known["sample"], "sample")
                expect(sample, "type", str, sw)
                expect(sample, "meta", dict, sw, required=False)
                for k, group in enumerate(expect(sample, "sequencing_groups", list, sw, required=False) or []):
                    gw = f"{sw}.sequencing_groups[{k}]"
                    if not isinstance(group, dict):
                        problems.add(None, gw, "must be an object")
                        continue
                    for key in ("type", "technology", "platform"):
                        expect(group, key, str, gw)
                    expect(group, "meta", dict, gw, required=False)
                    for m, assay in enumerate(expect(group, "assays", list, gw, required=False) or []):
                        aw = f"{gw}.assays[{m}]"
                        if not isinstance(assay, dict):
                            problems.add(None, aw, "must be an object")
                            continue
                        expect(assay, "type", str, aw)
                        expect(assay, "meta", dict, aw)
    for a_index, action in enumerate(data.get("post_seed_actions") or []):
        aw = f"post_seed_actions[{a_index}]"
        if not isinstance(action, dict) or action.get("action") != "archive_sequencing_group":
            problems.add(line_of(action) if isinstance(action, dict) else None, f"{aw}.action",
                         "only 'archive_sequencing_group' is supported")


def _load_seed(path: Path, store: Store, summary: LoadSummary) -> None:
    problems = _Problems(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataLoadError(f"{path}: cannot read: {error}") from None
    data, lines = _parse_json_with_lines(text, problems)
    with store.transaction() as conn:
        existing = {}
        if isinstance(data, dict) and isinstance(data.get("projects"), list):
            names = [p.get("name") for p in data["projects"] if isinstance(p, dict) and isinstance(p.get("name"), str)]
            for name, project in store.projects_by_name(names).items():
                existing[name] = {
                    "participant": store.existing_external_ids(conn, "participant", project["id"]),
                    "sample": store.existing_external_ids(conn, "sample", project["id"]),
                }
        _check_seed(data, lines, problems, existing)
        problems.raise_if_any()
        sg_by_external: dict[tuple[str, str], str] = {}
        for project in data["projects"]:
            project_id = _project_id(store, conn, project["name"], project.get("dataset"))
            echoed = insert_participants(store, conn, project_id, project.get("participants") or [], DEFAULT_CODEC)
            summary.projects.append(project["name"])
            for p_in, p_out in zip(project.get("participants") or [], echoed, strict=False):
                summary.participants += 1
                for s_in, s_out in zip(p_in.get("samples") or [], p_out["samples"], strict=False):
                    summary.samples += 1
                    for g_in, g_out in zip(s_in.get("sequencing_groups") or [], s_out["sequencing_groups"], strict=False):
                        summary.sequencing_groups.append(g_out["id"])
                        summary.assays += len(g_out["assays"])
                        group_eid = (g_in.get("external_ids") or {}).get("")
                        if group_eid:
                            sg_by_external[(project["name"], group_eid)] = g_out["id"]
        for index, action in enumerate(data.get("post_seed_actions") or []):
            key = (action.get("project"), action.get("sequencing_group_external_id"))
            if key not in sg_by_external:
                problems.add(lines.get(id(action)), f"post_seed_actions[{index}]",
                             f"no sequencing group {key[1]!r} in project {key[0]!r} in this file")
                continue
            raw = DEFAULT_CODEC.sequencing_group.decode(sg_by_external[key])
            conn.execute("UPDATE sequencing_group SET archived = 1 WHERE id = ?", (raw,))
        problems.raise_if_any()


def _project_id(store: Store, conn, name: str, dataset: str | None) -> int:
    row = conn.execute("SELECT id FROM project WHERE name = ?", (name,)).fetchone()
    if row:
        return int(row[0])
    return store.create_project(
        name, dataset or default_dataset_for(name), members={LOCAL_USER: ALL_ROLES}, conn=conn
    )


# -- CSV sample sheets --------------------------------------------------------------------------------------

def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_entry(location: str, base: Path) -> tuple[dict | None, str | None]:
    """The CPG ``reads`` entry for one read file, or an error message."""
    if location.startswith("gs://"):
        return {"location": location, "basename": location.rsplit("/", 1)[-1], "class": "File"}, None
    if "://" in location:
        return None, "only local paths and gs:// URIs are supported"
    path = Path(location).expanduser()
    if not path.is_absolute():
        path = base / path
    path = path.resolve()
    if not path.is_file():
        return None, f"file not found: {path}"
    return {
        "location": str(path),
        "basename": path.name,
        "class": "File",
        "size": path.stat().st_size,
        "checksum": f"md5:{_md5(path)}",
    }, None


def _load_csv(path: Path, store: Store, summary: LoadSummary) -> None:
    problems = _Problems(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as error:
        raise DataLoadError(f"{path}: cannot read: {error.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in (reader.fieldnames or [])]
        reader.fieldnames = header
        missing = [name for name in CSV_REQUIRED if name not in header]
        if missing:
            problems.add(1, "header", f"missing column(s): {', '.join(missing)} "
                                      f"(expected: {', '.join(CSV_REQUIRED)})")
            problems.raise_if_any()
        unknown = [name for name in header if name not in CSV_REQUIRED + CSV_OPTIONAL]
        if unknown:
            problems.add(1, "header", f"unknown column(s): {', '.join(unknown)}")
        rows = []
        try:
            for row in reader:
                rows.append((reader.line_num, {key: (value or "").strip() for key, value in row.items() if key}))
        except (csv.Error, UnicodeDecodeError) as error:
            problems.add(reader.line_num, "row", f"cannot parse: {error}")
    if not rows:
        problems.add(2, "row", "the sample sheet has no data rows")
    base = path.parent
    tree: dict[str, dict] = {}  # project -> participant -> sample -> sequencing type -> group
    sample_owner: dict[tuple[str, str], str] = {}
    for line, row in rows:
        for name in ("project", "participant", "sample", "sequencing_type", "read1"):
            if not row.get(name):
                problems.add(line, name, "must not be empty")
        if any(not row.get(name) for name in ("project", "participant", "sample", "sequencing_type", "read1")):
            continue
        owner = sample_owner.setdefault((row["project"], row["sample"]), row["participant"])
        if owner != row["participant"]:
            problems.add(line, "sample", f"sample {row['sample']!r} already belongs to participant {owner!r}")
            continue
        reads = []
        for column in ("read1", "read2"):
            if not row.get(column):
                continue
            entry, error = read_entry(row[column], base)
            if error:
                problems.add(line, column, error)
            else:
                reads.append(entry)
        technology = row.get("sequencing_technology") or "short-read"
        platform = row.get("sequencing_platform") or "illumina"
        participants = tree.setdefault(row["project"], {})
        samples = participants.setdefault(row["participant"], {})
        sample = samples.setdefault(row["sample"], {"type": row.get("sample_type") or "blood", "groups": {}})
        group = sample["groups"].setdefault(row["sequencing_type"], {
            "technology": technology, "platform": platform, "assays": [], "line": line,
        })
        if (group["technology"], group["platform"]) != (technology, platform):
            problems.add(line, "sequencing_technology",
                         "differs from an earlier row of the same sample and sequencing type")
        group["assays"].append({
            "type": "sequencing",
            "external_ids": {},
            "meta": {
                "reads": reads,
                "reads_type": "fastq",
                "sequencing_type": row["sequencing_type"],
                "sequencing_technology": technology,
                "sequencing_platform": platform,
            },
        })
    problems.raise_if_any()
    with store.transaction() as conn:
        for project_name, participants in tree.items():
            found = store.projects_by_name([project_name]).get(project_name)
            if found:
                known_participants = store.existing_external_ids(conn, "participant", found["id"])
                known_samples = store.existing_external_ids(conn, "sample", found["id"])
                for participant_name, samples in participants.items():
                    if participant_name in known_participants:
                        problems.add(None, "participant", f"{participant_name!r} already exists in project "
                                                          f"{project_name!r}")
                    for sample_name in samples:
                        if sample_name in known_samples:
                            problems.add(None, "sample", f"{sample_name!r} already exists in project "
                                                         f"{project_name!r}")
        problems.raise_if_any()
        for project_name, participants in tree.items():
            project_id = _project_id(store, conn, project_name, None)
            payload = [
                {
                    "external_ids": {"": participant_name},
                    "meta": {},
                    "samples": [
                        {
                            "external_ids": {"": sample_name},
                            "type": sample["type"],
                            "meta": {},
                            "sequencing_groups": [
                                {"type": sg_type, "technology": group["technology"], "platform": group["platform"],
                                 "meta": {}, "assays": group["assays"]}
                                for sg_type, group in sample["groups"].items()
                            ],
                        }
                        for sample_name, sample in samples.items()
                    ],
                }
                for participant_name, samples in participants.items()
            ]
            echoed = insert_participants(store, conn, project_id, payload, DEFAULT_CODEC)
            summary.projects.append(project_name)
            for participant in echoed:
                summary.participants += 1
                for sample in participant["samples"]:
                    summary.samples += 1
                    for group in sample["sequencing_groups"]:
                        summary.sequencing_groups.append(group["id"])
                        summary.assays += len(group["assays"])


def load_dataset(path: Path, db_path: Path | None = None, *, store: Store | None = None) -> LoadSummary:
    path = Path(path)
    if not path.is_file():
        raise DataLoadError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in (".json", ".csv"):
        raise DataLoadError(f"{path}: unknown dataset format {suffix!r}: expected .json (Metamist seed format) "
                            "or .csv (sample sheet)")
    own_store = store is None
    store = store or Store(Path(db_path) if db_path else default_db_path())
    summary = LoadSummary(source=str(path))
    try:
        (_load_seed if suffix == ".json" else _load_csv)(path, store, summary)
    finally:
        if own_store:
            store.close()
    return summary


def load_demo(db_path: Path | None = None, *, store: Store | None = None) -> LoadSummary:
    return load_dataset(DEMO_SHEET, db_path, store=store)


def ensure_demo_loaded(db_path: Path | None = None) -> bool:
    """Load the demo into an empty store (True), else keep its read paths pointing at this installation."""
    store = Store(Path(db_path) if db_path else default_db_path())
    try:
        if not store.is_empty():
            relocate_demo_reads(store)
            return False
        load_demo(store=store)
        return True
    finally:
        store.close()


def relocate_demo_reads(store: Store) -> int:
    """The demo's reads are stored as absolute paths into the package that loaded them. When that checkout
    or virtualenv is gone (moved, re-cloned), point them at this installation's copies of the same files.
    Returns how many reads were moved; reads that still exist, and anything not from the demo, are untouched.
    """
    from toolkit.metadata_server import DEMO_PROJECT

    projects = store.projects_by_name([DEMO_PROJECT])
    if DEMO_PROJECT not in projects:
        return 0
    project_id = projects[DEMO_PROJECT]["id"]
    moved = 0
    with store.transaction() as conn:
        for assay_id, meta_text in conn.execute("SELECT id, meta FROM assay WHERE project_id = ?", (project_id,)).fetchall():
            meta = json.loads(meta_text)
            reads = meta.get("reads")
            if not isinstance(reads, list):
                continue
            changed = False
            for read in reads:
                location = read.get("location") if isinstance(read, dict) else None
                if not location or "://" in location or Path(location).exists():
                    continue
                here = DEMO_DIR / Path(location).name
                if Path(location).parent.name == "demo" and here.is_file():
                    read["location"] = str(here)
                    changed = True
                    moved += 1
            if changed:
                conn.execute("UPDATE assay SET meta = ? WHERE id = ?", (_dumps(meta), assay_id))
    return moved
