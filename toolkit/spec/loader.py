"""``load_spec``: file -> YAML with positions -> pydantic models -> cross-field checks -> LoadedSpec.

Every problem found is collected; if any is an error, one SpecError carries them all (warnings included,
so the author sees the whole picture).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from toolkit.errors import SpecError
from toolkit.spec._file import SpecFileProblem, read_spec_bytes
from toolkit.spec._shape import shape_diagnostics
from toolkit.spec._source import SourceDocument, YamlProblem, parse_yaml
from toolkit.spec.diagnostics import Diagnostic
from toolkit.spec.limits import MAX_ERRORS_SHOWN
from toolkit.spec.models import JobSpec
from toolkit.spec.validate import cross_field_diagnostics


@dataclass(frozen=True)
class LoadedSpec:
    path: Path  # absolute
    model: JobSpec
    text: str
    content_hash: str  # sha256 hex of the file's bytes, recorded in provenance
    warnings: tuple[Diagnostic, ...] = field(default=(), compare=False)
    # The parsed YAML with positions, for errors found after loading (plan time) that point into the file.
    document: SourceDocument | None = field(default=None, compare=False, repr=False)

    def resolve(self, relative: str | Path) -> Path:
        """A path written in the spec, relative to the spec file's folder (absolute paths are kept)."""
        return (self.path.parent / relative).resolve()

    def at_value(self, path: tuple[str | int, ...], message: str, severity: str = "error") -> Diagnostic:
        """A diagnostic at the value of ``path`` (e.g. ``("register", "report", "type")``) in this spec's file."""
        document = self.document
        if document is None:
            document, _ = parse_yaml(str(self.path), self.text)
        return document.at_value(path, message, severity)


def _whole_file(file: str, message: str) -> SpecError:
    return SpecError([Diagnostic(file, 0, 0, message)], source_name=file)


def _decode(file: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        bad = raw[error.start : error.start + 1].hex()
        raise SpecError(
            [Diagnostic(file, line, column, f"the jobspec is not UTF-8 text (byte 0x{bad} at line {line}, column {column})")],
            source_name=file,
        ) from None


def _at_most_shown(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """The first MAX_ERRORS_SHOWN diagnostics by position, then one saying how many more there are."""
    if len(diagnostics) <= MAX_ERRORS_SHOWN:
        return diagnostics
    first_hidden = diagnostics[MAX_ERRORS_SHOWN]
    hidden = diagnostics[MAX_ERRORS_SHOWN:]
    errors = sum(1 for d in hidden if d.is_error)
    counts = [f"{count:,} more {word}{'s' if count != 1 else ''}"
              for count, word in ((errors, "error"), (len(hidden) - errors, "warning")) if count]
    summary = Diagnostic(
        first_hidden.file, first_hidden.line, first_hidden.column,
        f"{' and '.join(counts)} from here on (only the first {MAX_ERRORS_SHOWN} are shown: fix those and "
        "validate again)",
        first_hidden.end_column,
    )
    return diagnostics[:MAX_ERRORS_SHOWN] + [summary]


def load_spec(path: Path | str) -> LoadedSpec:
    """Read, validate and cross-check a jobspec; raise SpecError with every diagnostic if anything is wrong."""
    file = str(path)
    spec_path = Path(path)
    try:
        raw = read_spec_bytes(spec_path)
    except SpecFileProblem as problem:
        raise _whole_file(file, str(problem)) from None
    text = _decode(file, raw)
    try:
        document, diagnostics = parse_yaml(file, text)
    except YamlProblem as problem:
        raise SpecError([problem.diagnostic], source_name=file) from None

    model = None
    try:
        model = JobSpec.model_validate(document.data)
    except ValidationError as error:
        diagnostics += shape_diagnostics(document, error)
    diagnostics += cross_field_diagnostics(document, spec_path.absolute().parent)

    unique = list(dict.fromkeys(diagnostics))
    unique.sort(key=Diagnostic.sort_key)
    if model is None or any(d.is_error for d in unique):
        raise SpecError(_at_most_shown(unique), source_name=file)
    return LoadedSpec(
        path=spec_path.resolve(),
        model=model,
        text=text,
        content_hash=hashlib.sha256(raw).hexdigest(),
        warnings=tuple(unique),
        document=document,
    )


def read_spec_data(path: Path) -> object | None:
    """A spec file's plain data (through the same guarded reading), or None when it cannot be read as YAML.

    For looking at another spec (``inputs.from_jobspec``) without validating it: its own problems are reported
    when it is validated itself.
    """
    try:
        raw = read_spec_bytes(path)
        document, _ = parse_yaml(str(path), raw.decode("utf-8-sig"))
    except (SpecFileProblem, YamlProblem, UnicodeDecodeError):
        return None
    return document.data
