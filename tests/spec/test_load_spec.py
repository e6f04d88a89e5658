"""load_spec on the bundled FastQE spec, on files that are not jobspecs at all, and on position mapping
inside multi-line strings."""

from __future__ import annotations

import hashlib
import textwrap
from pathlib import Path

import pytest

from toolkit.errors import SpecError
from toolkit.spec import Diagnostic, LoadedSpec, load_spec, render_diagnostics

REPO = Path(__file__).resolve().parents[2]
FASTQE = REPO / "jobspecs" / "fastqe.yaml"
DOCKERFILE = REPO / "dockerfiles" / "fastqe" / "Dockerfile"
COMMAND = "command: |\n  fastqe {{ reads[0] }} {{ reads[1] }} --html > {{ outputs.report }}\n"


def only_diagnostic(path) -> Diagnostic:
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert len(caught.value.diagnostics) == 1, caught.value.render()
    return caught.value.diagnostics[0]


def test_fastqe_spec_loads_clean():
    loaded = load_spec(FASTQE)
    assert isinstance(loaded, LoadedSpec)
    assert loaded.path == FASTQE and loaded.path.is_absolute()
    assert loaded.content_hash == hashlib.sha256(FASTQE.read_bytes()).hexdigest()
    assert loaded.text == FASTQE.read_text(encoding="utf-8")
    assert loaded.warnings == ()
    spec = loaded.model
    assert (spec.name, spec.image.name, spec.image.tag) == ("fastqe", "fastqe", "0.3.1-1")
    assert loaded.resolve(spec.image.dockerfile) == DOCKERFILE
    assert spec.command.strip() == (
        "fastqe-report --html {{ outputs.report }} --metrics {{ outputs.metrics }} -- {{ reads[0] }} {{ reads[1] }}"
    )
    assert spec.outputs["metrics"].category == "analysis" and spec.outputs["metrics"].metrics["reads"] == "integer"
    assert spec.scope == "sequencing-group" and spec.shell.preamble() == "set -o errexit -o pipefail\n"
    assert spec.outputs["report"].path == "fastqe/{{ group.id }}.html"
    assert spec.outputs["report"].category == "web"
    assert spec.register["report"].type == "web"
    assert spec.inputs.expect.reads_range() == (2, 2) and spec.inputs.expect.on_mismatch == "skip"
    assert spec.version_command == "fastqe --version"
    assert {name: source.from_ for name, source in spec.inputs.variables.items()} == {
        "project": "project", "sgids": "sgids"}


def test_fastqe_dockerfile_is_the_tutorials_plus_fastqe_report():
    lines = [line for line in DOCKERFILE.read_text().splitlines() if line and not line.startswith("#")]
    assert lines[:3] == ["FROM python:3.10-slim", "ARG VERSION=0.3.1", "RUN pip install --no-cache-dir fastqe==${VERSION}"]
    assert lines[-1] == "RUN pip install --no-cache-dir /opt/fastqe-report && fastqe-report --version"


def test_loading_is_relative_to_the_spec_not_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_spec(FASTQE).model.name == "fastqe"


def test_missing_file(tmp_path):
    diagnostic = only_diagnostic(tmp_path / "nope.yaml")
    assert diagnostic.line == 0 and "no such jobspec file" in diagnostic.message


def test_directory(tmp_path):
    diagnostic = only_diagnostic(tmp_path)
    assert "is a folder" in diagnostic.message


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"version: 1\nname: caf\xe9\n")
    diagnostic = only_diagnostic(path)
    assert (diagnostic.line, diagnostic.column) == (2, 10)
    assert "not UTF-8" in diagnostic.message


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty(tmp_path, text):
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    assert "empty" in only_diagnostic(path).message


@pytest.mark.parametrize("text,word", [("- a\n- b\n", "a list"), ("just words\n", "a single value")])
def test_top_level_not_a_mapping(tmp_path, text, word):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    diagnostic = only_diagnostic(path)
    assert (diagnostic.line, diagnostic.column) == (1, 1) and word in diagnostic.message


def _spec_with(tmp_path: Path, command_block: str, query_block: str | None = None) -> Path:
    """The FastQE spec with the command (and optionally the query) block replaced verbatim."""
    text = FASTQE.read_text()
    start = text.index("command: |")
    end = text.index("\noutputs:")
    text = text[:start] + command_block.rstrip("\n") + "\n" + text[end:]
    if query_block is not None:
        start = text.index("  query: |")
        end = text.index("  variables:")
        text = text[:start] + query_block + text[end:]
    text = text.replace("../dockerfiles/", str(REPO / "dockerfiles") + "/")
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def _error_position(path: Path, needle: str) -> tuple[int, int]:
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    matches = [d for d in caught.value.diagnostics if needle in d.message]
    assert len(matches) == 1, caught.value.render()
    return matches[0].line, matches[0].column


def _line_column_of(path: Path, line_text: str, token: str) -> tuple[int, int]:
    lines = path.read_text().split("\n")
    line = next(i for i, text in enumerate(lines) if line_text in text)
    return line + 1, lines[line].index(token) + 1


def test_folded_command_maps_to_the_right_source_line(tmp_path):
    path = _spec_with(tmp_path, "command: >\n  fastqe {{ reads[0] }} {{ reads[1] }}\n  --html > {{ outputs.rep }}\n")
    assert _error_position(path, "unknown output 'rep'") == _line_column_of(path, "--html >", "rep }")


def test_literal_block_with_indentation_indicator(tmp_path):
    path = _spec_with(tmp_path, "command: |2\n    fastqe {{ reads[0] }} {{ reads[1] }} --html > {{ outputs.report }} {{ nope }}\n")
    assert _error_position(path, "unknown template slot 'nope'") == _line_column_of(path, "{{ nope }}", "nope")


def test_quoted_command(tmp_path):
    path = _spec_with(tmp_path, "command: 'fastqe {{ reads[0] }} > {{ outputs.report }} {{ params.x }}'\n")
    assert _error_position(path, "unknown param 'x'") == _line_column_of(path, "params.x", "x }")


def test_query_in_a_block_with_a_header_comment(tmp_path):
    query = textwrap.dedent("""\
        query: |   # the comment does not move positions

          query Q($project: String!, $sgids: [String!]) {
            project(name: $project) { sequencingGroups(id: {in_: $sgids}) { idd } }
          }
        """)
    path = _spec_with(tmp_path, COMMAND, textwrap.indent(query, "  "))
    assert _error_position(path, "Cannot query field 'idd'") == _line_column_of(path, "{ idd }", "idd")


def test_variable_source_type_must_fit_the_query(tmp_path):
    query = "  query: |\n    query Q($project: [String!], $sgids: [String!]) {\n      sequencingGroups(project: {in_: $project}, id: {in_: $sgids}) { id }\n    }\n"
    path = _spec_with(tmp_path, COMMAND, query)
    assert _error_position(path, "but `from: project` gives a string") == _line_column_of(path, "query Q(", "$project")


def test_warnings_do_not_fail_the_load(tmp_path):
    text = FASTQE.read_text().replace("../dockerfiles/", str(REPO / "dockerfiles") + "/")
    text = text.split("register:")[0]
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    loaded = load_spec(path)
    assert [d.severity for d in loaded.warnings] == ["warning", "warning"]
    messages = sorted(warning.message for warning in loaded.warnings)
    # the report is not registered now, and the metrics have no Analysis to go into
    assert "registers none" in messages[0] and "not registered" in messages[1]


def test_render_format_and_order(tmp_path):
    source = tmp_path / "s.yaml"
    source.write_text("alpha: 1\nbeta: two\n")
    rendered = render_diagnostics([
        Diagnostic(str(source), 2, 7, "second", end_column=10),
        Diagnostic(str(source), 1, 1, "first", severity="warning"),
    ])
    assert rendered.splitlines() == [
        f"{source}:1:1: warning: first",
        "alpha: 1",
        "^~~~~~~~",
        f"{source}:2:7: error: second",
        "beta: two",
        "      ^~~",
        "1 error, 1 warning",
    ]
