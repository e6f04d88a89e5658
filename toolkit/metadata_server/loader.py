"""Loading datasets into the store: Metamist's seed format (``.json``) and CSV sample sheets (``.csv``).

Every problem is reported with its position (``file:line: field: message``) and nothing is loaded unless the whole
file is valid: the file is written inside one transaction, which is rolled back when any problem was found.

Large files stream: a seed file is read participant by participant (its outer structure, ``projects`` and their
``participants`` lists, is walked with the standard library's own JSON scanner), each participant is checked and
written in batches with ``executemany``, and only then forgotten. Line numbers cost nothing on that path: the
line of each participant is counted as the walk passes it, and a participant with a problem is parsed a second
time with a slower parser that records the line of every object in it.

CSV sample sheets have a header with at least ``project, participant, sample, sequencing_type, read1, read2``
(optional: ``sequencing_technology`` (default short-read), ``sequencing_platform`` (illumina), ``sample_type``
(blood)). Each row is one assay (one pair of reads); rows with the same project, participant, sample and
sequencing type form one sequencing group. Local read paths (relative to the CSV file) are stored as absolute
paths without a scheme, which is what Hail's LocalBackend and the tools read, with their size and
``md5:<hex>`` checksum as CPG stores them; ``gs://`` URIs are stored as given (size and checksum unknown).

Numbers that could not be read back (``NaN``, ``Infinity``, ``1e400``, integers beyond 64 bits) are refused
where they stand (see ``jsonvalues``).
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import json
import json.decoder
import json.scanner
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.errors import DataLoadError
from toolkit.metadata_server import _gc, jsonvalues
from toolkit.metadata_server._paths import default_db_path
from toolkit.metadata_server.dataset import insert_participants
from toolkit.metadata_server.ids import DEFAULT_CODEC
from toolkit.metadata_server.service import LOCAL_USER
from toolkit.metadata_server.store import ALL_ROLES, Store, _dumps

DEMO_DIR = Path(__file__).parent / "demo"
DEMO_SHEET = DEMO_DIR / "samples.csv"
DEMO_SAMPLES = ("DEMO001", "DEMO002", "DEMO003")
CSV_REQUIRED = ("project", "participant", "sample", "sequencing_type", "read1", "read2")
CSV_OPTIONAL = ("sequencing_technology", "sequencing_platform", "sample_type")
PARTICIPANTS_PER_BATCH = 2000  # written together; bounds the memory a large file holds at once
MAX_PROBLEMS = 200  # stop checking after this many: the first 20 are shown anyway


@dataclass
class LoadSummary:
    source: str
    projects: list[str] = field(default_factory=list)
    participants: int = 0
    samples: int = 0
    sequencing_groups: int = 0
    assays: int = 0

    def describe(self) -> str:
        return (
            f"loaded {self.source}: {len(self.projects)} project(s) ({', '.join(self.projects)}), "
            f"{self.participants} participant(s), {self.samples} sample(s), "
            f"{self.sequencing_groups} sequencing group(s), {self.assays} assay(s)"
        )


class _Problems:
    def __init__(self, source: Path):
        self.source = source
        self.items: list[str] = []

    def add(self, line: int | None, where: str, message: str) -> None:
        position = f"{self.source}:{line}" if line else str(self.source)
        self.items.append(f"{position}: {where}: {message}")

    @property
    def full(self) -> bool:
        return len(self.items) >= MAX_PROBLEMS

    def raise_if_any(self) -> None:
        if self.items:
            shown = self.items[:20]
            more = len(self.items) - len(shown)
            text = "\n".join(shown) + (f"\n... and {more} more" if more > 0 else "")
            raise DataLoadError(text, hint="nothing was loaded; fix the file and load it again")


def default_dataset_for(project: str) -> str:
    """CPG's convention: project ``<dataset>-test`` is the test project of ``<dataset>``."""
    return project[: -len("-test")] if project.endswith("-test") and len(project) > 5 else project


def _project_id(store: Store, conn, name: str, dataset: str | None) -> int:
    row = conn.execute("SELECT id FROM project WHERE name = ?", (name,)).fetchone()
    if row:
        return int(row[0])
    return store.create_project(
        name, dataset or default_dataset_for(name), members={LOCAL_USER: ALL_ROLES}, conn=conn
    )


def _existing_ids(store: Store, conn, project_name: str) -> dict[str, set]:
    found = store.projects_by_name([project_name]).get(project_name)
    if not found:
        return {"participant": set(), "sample": set()}
    return {table: store.existing_external_ids(conn, table, found["id"]) for table in ("participant", "sample")}


# -- JSON with line numbers ----------------------------------------------------------------------------------

def _parse_json_with_lines(text: str):
    """Parse JSON and remember the line where each object starts (keyed by ``id`` of the parsed dict).

    Pure-Python scanner: slow, so used only on the few participants that have a problem.
    """
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
    return decoder.decode(text), lines


class _JsonSyntaxError(Exception):
    def __init__(self, error: json.JSONDecodeError):
        self.error = error


_WHITESPACE = re.compile(r"[ \t\n\r]*")


class _JsonWalk:
    """Walks the outer levels of a JSON text; values below are parsed whole with the C scanner.

    ``object_keys()`` and ``array_items()`` are generators: after each key (or item) they yield, the caller reads
    the value (``value()``, or another walk one level down) before asking for the next one.
    """

    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self._scan = json.scanner.make_scanner(json.JSONDecoder())
        self._line_pos = 0
        self._line = 1

    def fail(self, message: str, pos: int | None = None):
        raise _JsonSyntaxError(json.JSONDecodeError(message, self.text, self.pos if pos is None else pos))

    def line_at(self, pos: int) -> int:
        """Line number of ``pos``; positions are asked for in increasing order, so counting is incremental."""
        if pos < self._line_pos:
            self._line_pos, self._line = 0, 1
        self._line += self.text.count("\n", self._line_pos, pos)
        self._line_pos = pos
        return self._line

    def peek(self) -> str:
        self.pos = _WHITESPACE.match(self.text, self.pos).end()
        return self.text[self.pos:self.pos + 1]

    def value(self):
        self.peek()
        try:
            value, self.pos = self._scan(self.text, self.pos)
        except StopIteration as stop:
            self.fail("Expecting value", stop.value)
        except json.JSONDecodeError as error:
            raise _JsonSyntaxError(error) from None
        except RecursionError:
            self.fail("nested too deeply")
        return value

    def _expect(self, char: str, message: str) -> None:
        if self.peek() != char:
            self.fail(message)
        self.pos += 1

    def _next_or_end(self, end: str, what: str) -> bool:
        char = self.peek()
        self.pos += 1
        if char == ",":
            return True
        if char == end:
            return False
        self.fail("Expecting ',' delimiter" if char else f"Unterminated {what}", self.pos - 1)
        return False

    def object_keys(self) -> Iterator[str]:
        self._expect("{", "Expecting '{'")
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            if self.peek() != '"':
                self.fail("Expecting property name enclosed in double quotes")
            try:
                key, self.pos = json.decoder.scanstring(self.text, self.pos + 1)
            except json.JSONDecodeError as error:
                raise _JsonSyntaxError(error) from None
            self._expect(":", "Expecting ':' delimiter")
            yield key
            if not self._next_or_end("}", "object"):
                return

    def array_items(self) -> Iterator[int]:
        self._expect("[", "Expecting '['")
        if self.peek() == "]":
            self.pos += 1
            return
        index = 0
        while True:
            yield index
            index += 1
            if not self._next_or_end("]", "array"):
                return


# -- seed format --------------------------------------------------------------------------------------------

class _SeedChecker:
    """The checks of one seed file; ``line_of(obj)`` gives an object's line when known (None otherwise)."""

    def __init__(self, problems: _Problems):
        self.problems = problems
        self.line_of = lambda obj: None
        self.added: list[tuple[set, str]] = []  # external ids this check put into a "seen" set

    def expect(self, obj, key, kinds, where, required=True):
        value = obj.get(key) if isinstance(obj, dict) else None
        if value is None:
            if required:
                self.problems.add(self.line_of(obj), f"{where}.{key}", "required field is missing")
            return None
        if not isinstance(value, kinds):
            names = "/".join(kind.__name__ for kind in (kinds if isinstance(kinds, tuple) else (kinds,)))
            self.problems.add(self.line_of(obj), f"{where}.{key}", f"must be {names}, got {type(value).__name__}")
            return None
        return value

    def external_id(self, obj, where, seen: set, already: set, noun: str):
        ids = self.expect(obj, "external_ids", dict, where)
        if ids is None:
            return
        primary = ids.get("")
        if not isinstance(primary, str) or not primary:
            self.problems.add(self.line_of(obj), f"{where}.external_ids",
                              'needs a primary external id under the key ""')
        elif primary in seen:
            self.problems.add(self.line_of(obj), f"{where}.external_ids", f"{noun} {primary!r} appears twice in the file")
        elif primary in already:
            self.problems.add(self.line_of(obj), f"{where}.external_ids",
                              f"{noun} {primary!r} already exists in the store")
        else:
            seen.add(primary)
            self.added.append((seen, primary))

    def participant(self, participant, pw: str, seen: dict[str, set], known: dict[str, set]) -> tuple[int, int, int]:
        """Check one participant's tree; answers its (samples, groups, assays) counts."""
        counts = [0, 0, 0]
        if not isinstance(participant, dict):
            self.problems.add(None, pw, "must be an object")
            return 0, 0, 0
        self.external_id(participant, pw, seen["participant"], known["participant"], "participant")
        self.expect(participant, "meta", dict, pw, required=False)
        self.expect(participant, "reported_sex", int, pw, required=False)
        for j, sample in enumerate(self.expect(participant, "samples", list, pw, required=False) or []):
            sw = f"{pw}.samples[{j}]"
            if not isinstance(sample, dict):
                self.problems.add(None, sw, "must be an object")
                continue
            counts[0] += 1
            self.external_id(sample, sw, seen["sample"], known["sample"], "sample")
            self.expect(sample, "type", str, sw)
            self.expect(sample, "meta", dict, sw, required=False)
            for k, group in enumerate(self.expect(sample, "sequencing_groups", list, sw, required=False) or []):
                gw = f"{sw}.sequencing_groups[{k}]"
                if not isinstance(group, dict):
                    self.problems.add(None, gw, "must be an object")
                    continue
                counts[1] += 1
                for key in ("type", "technology", "platform"):
                    self.expect(group, key, str, gw)
                self.expect(group, "meta", dict, gw, required=False)
                for m, assay in enumerate(self.expect(group, "assays", list, gw, required=False) or []):
                    aw = f"{gw}.assays[{m}]"
                    if not isinstance(assay, dict):
                        self.problems.add(None, aw, "must be an object")
                        continue
                    counts[2] += 1
                    self.expect(assay, "type", str, aw)
                    self.expect(assay, "meta", dict, aw)
        return counts[0], counts[1], counts[2]

    def numbers(self, participant, pw: str) -> bool:
        """Report the first number of the participant that cannot be stored; True when there was one."""
        bad = jsonvalues.find_bad_number(participant) if jsonvalues.has_bad_number(participant) else None
        if bad is not None:
            self.problems.add(self.line_of(_container(participant, bad.parts)), f"{pw}.{bad.path}", bad.reason)
        return bad is not None


def _container(root, parts: list):
    """The innermost object (dict) on the way to ``parts`` inside ``root``: where a bad value's line is."""
    container = root
    node = root
    for part in parts[:-1]:
        node = node[part]
        if isinstance(node, dict):
            container = node
    return container


class _TooManyProblems(Exception):
    pass


class _SeedLoader:
    """Streams one seed file into the store (inside the caller's transaction), collecting problems."""

    def __init__(self, path: Path, text: str, store: Store, conn, summary: LoadSummary):
        self.path, self.text, self.store, self.conn, self.summary = path, text, store, conn, summary
        self.problems = _Problems(path)
        self.checker = _SeedChecker(self.problems)
        self.walk = _JsonWalk(text)
        self.project_names: set[str] = set()
        self.group_ids: dict[tuple[str, str], int] = {}  # (project, group external id) -> raw id, for post_seed_actions
        self.actions: list[tuple[int, object]] = []

    def load(self) -> None:
        walk = self.walk
        if walk.peek() != "{":
            self.problems.add(1, "(top level)", "must be an object with a 'projects' list")
            return
        saw_projects = False
        for key in walk.object_keys():
            if key == "projects":
                saw_projects = True
                if walk.peek() != "[":
                    line = walk.line_at(walk.pos)
                    value = walk.value()
                    self.problems.add(line, "(top level).projects", f"must be list, got {type(value).__name__}")
                    continue
                for index in walk.array_items():
                    self._project(index)
            elif key == "post_seed_actions":
                if walk.peek() != "[":
                    line = walk.line_at(walk.pos)
                    value = walk.value()
                    self.problems.add(line, "(top level).post_seed_actions", f"must be list, got {type(value).__name__}")
                    continue
                for _index in walk.array_items():
                    walk.peek()
                    self.actions.append((walk.line_at(walk.pos), walk.value()))
            else:
                walk.value()
        if walk.peek():
            walk.fail("Extra data")
        if not saw_projects:
            self.problems.add(1, "(top level).projects", "required field is missing")
        self._post_seed_actions()

    def _project(self, index: int) -> None:
        walk, where = self.walk, f"projects[{index}]"
        if walk.peek() != "{":
            line = walk.line_at(walk.pos)
            walk.value()
            self.problems.add(line, where, "must be an object")
            return
        line = walk.line_at(walk.pos)
        fields: dict = {}
        state: dict | None = None
        deferred: list[int] = []  # where participants start when they come before the project's name
        for key in walk.object_keys():
            if key == "participants" and walk.peek() == "[":
                fields[key] = []
                if isinstance(fields.get("name"), str):
                    state = self._participants(fields, where, walk.array_items())
                else:
                    for _index in walk.array_items():
                        walk.peek()
                        deferred.append(walk.pos)
                        walk.value()
            else:
                fields[key] = walk.value()
        self.checker.line_of = lambda obj: line
        name = self.checker.expect(fields, "name", str, where)
        self.checker.expect(fields, "dataset", str, where, required=False)
        self.checker.expect(fields, "participants", list, where)
        if name is None:
            return
        if name in self.project_names:
            self.problems.add(line, f"{where}.name", f"project {name!r} appears twice")
        self.project_names.add(name)
        if state is None:  # the name came after the participants (or there are none): do them now
            resumed = walk.pos
            state = self._participants(fields, where, self._at(deferred))
            walk.pos = resumed
        self._write(state, fields, final=True)

    def _at(self, positions: list[int]) -> Iterator[int]:
        for index, position in enumerate(positions):
            self.walk.pos = position
            yield index

    def _participants(self, fields: dict, where: str, items: Iterator[int]) -> dict:
        """Check and write, batch by batch, the participants the walk is at (one per item of ``items``)."""
        walk, name = self.walk, fields["name"]
        state = {
            "project_id": None, "known": _existing_ids(self.store, self.conn, name),
            "seen": {"participant": set(), "sample": set()}, "batch": [],
        }
        for index in items:
            walk.peek()
            start = walk.pos
            line = walk.line_at(start)
            participant = walk.value()
            pw = f"{where}.participants[{index}]"
            before = len(self.problems.items)
            self.checker.added.clear()
            self.checker.line_of = lambda obj, line=line: line
            samples, groups, assays = self.checker.participant(participant, pw, state["seen"], state["known"])
            if len(self.problems.items) > before:
                self._recheck_with_lines(start, walk.pos, line, pw, before, state)
                if self.problems.full:
                    raise _TooManyProblems
                continue
            if self.problems.items:  # nothing will be written: check the numbers here instead
                self._number_problems(participant, start, walk.pos, line, pw)
                continue
            self.summary.participants += 1
            self.summary.samples += samples
            self.summary.sequencing_groups += groups
            self.summary.assays += assays
            state["batch"].append((participant, start, walk.pos, line, pw))
            if len(state["batch"]) >= PARTICIPANTS_PER_BATCH:
                self._write(state, fields)
        return state

    def _recheck_with_lines(self, start: int, end: int, line: int, pw: str, before: int, state: dict) -> None:
        """Report this participant's problems with the line of each object: parse it again, recording lines."""
        del self.problems.items[before:]
        for seen, primary in self.checker.added:  # the first check's own additions, or it finds itself twice
            seen.discard(primary)
        parsed, lines = _parse_json_with_lines(self.text[start:end])
        self.checker.line_of = lambda obj: line - 1 + lines[id(obj)] if id(obj) in lines else line
        self.checker.participant(parsed, pw, state["seen"], state["known"])

    def _number_problems(self, participant, start: int, end: int, line: int, pw: str) -> None:
        self.checker.line_of = lambda obj: line
        if self.checker.numbers(participant, pw):  # found: say where, from a parse that records lines
            del self.problems.items[-1]
            parsed, lines = _parse_json_with_lines(self.text[start:end])
            self.checker.line_of = lambda obj: line - 1 + lines[id(obj)] if id(obj) in lines else line
            self.checker.numbers(parsed, pw)

    def _write(self, state: dict, fields: dict, final: bool = False) -> None:
        if self.problems.items or not (state["batch"] or final):
            return
        name = fields["name"]
        if state["project_id"] is None:
            dataset = fields.get("dataset") if isinstance(fields.get("dataset"), str) else None
            state["project_id"] = _project_id(self.store, self.conn, name, dataset)
            if name not in self.summary.projects:
                self.summary.projects.append(name)
        if not state["batch"]:
            return
        participants = [entry[0] for entry in state["batch"]]
        next_group = self.conn.execute(
            "SELECT COALESCE(MAX(value), 0) + 1 FROM counter WHERE name = 'sequencing_group'").fetchone()[0]
        try:
            insert_participants(self.store, self.conn, state["project_id"], participants, DEFAULT_CODEC, echo=False)
        except (jsonvalues.BadJsonValue, OverflowError):
            # The store refused a number (checked where JSON is written, so the common case pays no extra
            # walk): find which participants hold one, and where.
            for entry in state["batch"]:
                self._number_problems(*entry)
            if not self.problems.items:  # not a number after all: say so rather than fail silently
                raise
            state["batch"] = []
            return
        for participant in participants:  # the groups got consecutive ids from next_group, in this order
            for sample in participant.get("samples") or ():
                for group in sample.get("sequencing_groups") or ():
                    external = (group.get("external_ids") or {}).get("")
                    if external:
                        self.group_ids[(name, external)] = next_group
                    next_group += 1
        state["batch"] = []

    def _post_seed_actions(self) -> None:
        for index, (line, action) in enumerate(self.actions):
            aw = f"post_seed_actions[{index}]"
            if not isinstance(action, dict) or action.get("action") != "archive_sequencing_group":
                self.problems.add(line, f"{aw}.action", "only 'archive_sequencing_group' is supported")
                continue
            key = (action.get("project"), action.get("sequencing_group_external_id"))
            if key not in self.group_ids:
                if not self.problems.items:  # with other problems nothing was written: the group may be fine
                    self.problems.add(line, aw, f"no sequencing group {key[1]!r} in project {key[0]!r} in this file")
                continue
            self.conn.execute("UPDATE sequencing_group SET archived = 1 WHERE id = ?", (self.group_ids[key],))


def _load_seed(path: Path, store: Store, summary: LoadSummary) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataLoadError(f"{path}: cannot read: {error}") from None
    with store.transaction() as conn:
        loader = _SeedLoader(path, text, store, conn, summary)
        try:
            loader.load()
        except _JsonSyntaxError as syntax:
            error = syntax.error
            loader.problems.items.clear()
            loader.problems.add(error.lineno, f"column {error.colno}", f"invalid JSON: {error.msg}")
        except _TooManyProblems:
            pass
        loader.problems.raise_if_any()  # inside the transaction: a problem rolls every write back


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


@dataclass
class _CsvGroup:
    line: int
    technology: str
    platform: str
    assays: list = field(default_factory=list)  # per assay: its list of read entries


@dataclass
class _CsvSample:
    line: int
    type: str
    groups: dict = field(default_factory=dict)  # sequencing type -> _CsvGroup


def _read_csv(path: Path, problems: _Problems) -> Iterator[tuple[int, dict]]:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as error:
        raise DataLoadError(f"{path}: cannot read: {error.strerror}") from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = [name.strip() for name in next(reader, [])]
        except (csv.Error, UnicodeDecodeError) as error:
            problems.add(1, "header", f"cannot parse: {error}")
            return
        missing = [name for name in CSV_REQUIRED if name not in header]
        if missing:
            problems.add(1, "header", f"missing column(s): {', '.join(missing)} "
                                      f"(expected: {', '.join(CSV_REQUIRED)})")
            problems.raise_if_any()
        unknown = [name for name in header if name and name not in CSV_REQUIRED + CSV_OPTIONAL]
        if unknown:
            problems.add(1, "header", f"unknown column(s): {', '.join(unknown)}")
        columns = [(index, name) for index, name in enumerate(header) if name in CSV_REQUIRED + CSV_OPTIONAL]
        try:
            for values in reader:
                row = {name: values[index].strip() if index < len(values) else "" for index, name in columns}
                yield reader.line_num, row
        except (csv.Error, UnicodeDecodeError) as error:
            problems.add(reader.line_num, "row", f"cannot parse: {error}")


def _load_csv(path: Path, store: Store, summary: LoadSummary) -> None:
    problems = _Problems(path)
    base = path.parent
    # project -> participant -> sample -> _CsvSample; dicts keep the order of first appearance (the id order)
    tree: dict[str, dict[str, dict[str, _CsvSample]]] = {}
    participant_lines: dict[tuple[str, str], int] = {}
    sample_owner: dict[tuple[str, str], str] = {}
    rows = 0
    for line, row in _read_csv(path, problems):
        rows += 1
        empty = [name for name in ("project", "participant", "sample", "sequencing_type", "read1") if not row[name]]
        for name in empty:
            problems.add(line, name, "must not be empty")
        if empty:
            continue
        project, participant, sample_name = row["project"], row["participant"], row["sample"]
        owner = sample_owner.setdefault((project, sample_name), participant)
        if owner != participant:
            problems.add(line, "sample", f"sample {sample_name!r} already belongs to participant {owner!r}")
            continue
        reads = []
        for column in ("read1", "read2"):
            if not row[column]:
                continue
            entry, error = read_entry(row[column], base)
            if error:
                problems.add(line, column, error)
            else:
                reads.append(entry)
        technology = row.get("sequencing_technology") or "short-read"
        platform = row.get("sequencing_platform") or "illumina"
        participant_lines.setdefault((project, participant), line)
        samples = tree.setdefault(project, {}).setdefault(participant, {})
        sample = samples.get(sample_name)
        if sample is None:
            sample = samples[sample_name] = _CsvSample(line, row.get("sample_type") or "blood")
        group = sample.groups.get(row["sequencing_type"])
        if group is None:
            group = sample.groups[row["sequencing_type"]] = _CsvGroup(line, technology, platform)
        if (group.technology, group.platform) != (technology, platform):
            problems.add(line, "sequencing_technology",
                         "differs from an earlier row of the same sample and sequencing type")
        group.assays.append(reads)
    if not rows and not problems.items:
        problems.add(2, "row", "the sample sheet has no data rows")
    problems.raise_if_any()
    with store.transaction() as conn:
        for project_name, participants in tree.items():
            known = _existing_ids(store, conn, project_name)
            for participant_name, samples in participants.items():
                if participant_name in known["participant"]:
                    problems.add(participant_lines[(project_name, participant_name)], "participant",
                                 f"{participant_name!r} already exists in project {project_name!r}")
                for sample_name, sample in samples.items():
                    if sample_name in known["sample"]:
                        problems.add(sample.line, "sample",
                                     f"{sample_name!r} already exists in project {project_name!r}")
        problems.raise_if_any()
        for project_name, participants in tree.items():
            project_id = _project_id(store, conn, project_name, None)
            summary.projects.append(project_name)
            batch = []
            for participant_name, samples in participants.items():
                batch.append(_csv_participant(participant_name, samples, summary))
                if len(batch) >= PARTICIPANTS_PER_BATCH:
                    insert_participants(store, conn, project_id, batch, DEFAULT_CODEC, echo=False)
                    batch = []
            insert_participants(store, conn, project_id, batch, DEFAULT_CODEC, echo=False)


def _csv_participant(name: str, samples: dict[str, _CsvSample], summary: LoadSummary) -> dict:
    """The upsert tree of one participant of a sample sheet (built only when written: it is the bulky part)."""
    summary.participants += 1
    sample_trees = []
    for sample_name, sample in samples.items():
        summary.samples += 1
        group_trees = []
        for sg_type, group in sample.groups.items():
            summary.sequencing_groups += 1
            summary.assays += len(group.assays)
            group_trees.append({
                "type": sg_type, "technology": group.technology, "platform": group.platform, "meta": {},
                "assays": [{"type": "sequencing", "external_ids": {}, "meta": {
                    "reads": reads,
                    "reads_type": "fastq",
                    "sequencing_type": sg_type,
                    "sequencing_technology": group.technology,
                    "sequencing_platform": group.platform,
                }} for reads in group.assays],
            })
        sample_trees.append({"external_ids": {"": sample_name}, "type": sample.type, "meta": {},
                             "sequencing_groups": group_trees})
    return {"external_ids": {"": name}, "meta": {}, "samples": sample_trees}


# -- entry points -------------------------------------------------------------------------------------------

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
        with _gc.paused(), store.bulk_load():
            (_load_seed if suffix == ".json" else _load_csv)(path, store, summary)
    finally:
        if own_store:
            store.close()
    return summary


def load_demo(db_path: Path | None = None, *, store: Store | None = None) -> LoadSummary:
    return load_dataset(DEMO_SHEET, db_path, store=store)


def demo_is_loaded(store: Store) -> bool:
    """The demo project holds the demo's samples already (loading it again would only be refused)."""
    from toolkit.metadata_server import DEMO_PROJECT

    project = store.projects_by_name([DEMO_PROJECT]).get(DEMO_PROJECT)
    if project is None:
        return False
    with store.read_snapshot() as conn:
        return set(DEMO_SAMPLES) <= store.existing_external_ids(conn, "sample", project["id"])


def load_demo_once(db_path: Path | None = None) -> LoadSummary | None:
    store = Store(Path(db_path) if db_path else default_db_path())
    try:
        if demo_is_loaded(store):
            relocate_demo_reads(store)
            return None
        return load_demo(store=store)
    finally:
        store.close()


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
        # Only assays whose meta names a file in a folder called demo can hold a demo read: this runs at every
        # start of the embedded server, and the demo's project may hold 100,000 other assays (0.5 s to parse).
        candidates = conn.execute(
            "SELECT id, meta FROM assay WHERE project_id = ? AND instr(meta, '/demo/') > 0", (project_id,)
        ).fetchall()
        for assay_id, meta_text in candidates:
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
