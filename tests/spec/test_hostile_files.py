"""Files that would exhaust the machine, through the real CLI: each is refused with one clear, positioned error
and exit 2, never a hang, a traceback or exit 70, and every verb that reads a spec refuses it the same way.

The bounds are in toolkit/spec/limits.py; the subprocess timeout below only keeps a regression (a hang on a
FIFO, an endless read of /dev/zero) from blocking the suite: nothing here measures time.
"""

from __future__ import annotations

import os
import re
import socket

import pytest

from tests.conftest import REPO
from toolkit.spec.limits import MAX_DEPTH, MAX_QUERY_DEPTH, MAX_SPEC_BYTES, MAX_UNKNOWN_KEYS_SHOWN, MAX_VALUES

FASTQE = REPO / "jobspecs" / "fastqe.yaml"
# Every verb that reads a spec, with the arguments it needs besides the spec.
SPEC_VERBS = {
    "validate": [], "plan": [], "run": [], "outputs": [], "build": [], "test": ["--host"], "publish": [],
}
GUARD_SECONDS = 120


def fastqe_text() -> str:
    """The bundled spec, with its Dockerfile and fixture paths made absolute: the copy validates anywhere."""
    return FASTQE.read_text().replace("../dockerfiles/", f"{REPO}/dockerfiles/").replace(
        "fixtures/fastqe/", f"{REPO}/jobspecs/fixtures/fastqe/")


def refused(toolkit, *args: str, extra_env: dict | None = None):
    """Run the CLI; it must exit 2 without an internal error. Returns stderr."""
    done = toolkit.run(*args, check=2, timeout=GUARD_SECONDS, extra_env=extra_env)
    assert "internal error" not in done.stderr, done.stderr
    return done.stderr


def first_error(stderr: str) -> tuple[str, int, int, str]:
    match = re.search(r"^(.*?):(\d+):(\d+): error: (.*)$", stderr, flags=re.MULTILINE)
    assert match, stderr
    return match.group(1), int(match.group(2)), int(match.group(3)), match.group(4)


# -- files that are not regular files, or too large ---------------------------------------------------------

@pytest.mark.parametrize("verb", SPEC_VERBS)
def test_every_verb_refuses_a_fifo_without_waiting_for_a_writer(toolkit, tmp_path, verb):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    stderr = refused(toolkit, verb, str(fifo), *SPEC_VERBS[verb])
    assert stderr.startswith(f"{fifo}: error: is a named pipe (FIFO), not a regular file"), stderr


@pytest.mark.parametrize("verb", SPEC_VERBS)
def test_every_verb_refuses_10000_deep_nesting_at_its_position(toolkit, tmp_path, verb):
    spec = tmp_path / "deep.yaml"
    spec.write_text("version: 1\nname: " + "[" * 10_000 + "]" * 10_000 + "\n")
    stderr = refused(toolkit, verb, str(spec), *SPEC_VERBS[verb])
    assert first_error(stderr) == (str(spec), 2, 7 + MAX_DEPTH - 1,
                                   f"the YAML nests deeper than {MAX_DEPTH} levels: no jobspec needs that")


def test_dev_zero_is_refused_before_a_byte_is_read(toolkit):
    stderr = refused(toolkit, "validate", "/dev/zero")
    assert stderr.splitlines()[0] == "/dev/zero: error: is a character device, not a regular file"


def test_a_socket_and_a_folder_are_refused_by_name(toolkit, tmp_path):
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    path = tmp_path / "sock.yaml"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        stderr = refused(toolkit, "validate", str(path), str(folder))
    assert f"{path}: error: is a socket, not a regular file" in stderr
    assert f"{folder}: error: is a folder, not a jobspec file" in stderr


def test_a_file_one_byte_over_the_limit_is_refused_and_one_at_the_limit_is_read(toolkit, tmp_path):
    text = fastqe_text()
    padding = MAX_SPEC_BYTES - len(text.encode())
    at_limit = tmp_path / "at_limit.yaml"
    at_limit.write_text(text + "#" * (padding - 1) + "\n")
    assert at_limit.stat().st_size == MAX_SPEC_BYTES
    toolkit.run("validate", str(at_limit), timeout=GUARD_SECONDS)

    over = tmp_path / "over.yaml"
    over.write_text(text + "#" * padding + "\n")
    stderr = refused(toolkit, "validate", str(over))
    assert stderr.splitlines()[0] == f"{over}: error: is larger than 1 MiB, the most a jobspec may be: is it the right file?"


# -- YAML that would recurse, expand or convert without end -------------------------------------------------

@pytest.mark.parametrize("text, line, column", [
    ("version: 1\nname: &r [*r]\n", 2, 11),
    ("version: 1\nname: &r {a: [1, {b: *r}]}\n", 2, 22),
    ("version: 1\nname: &r {*r : 1}\n", 2, 11),
], ids=["list", "nested-mapping", "key"])
def test_an_alias_inside_the_value_it_names_is_a_positioned_error(toolkit, tmp_path, text, line, column):
    spec = tmp_path / "recursive.yaml"
    spec.write_text(text)
    stderr = refused(toolkit, "validate", str(spec))
    assert first_error(stderr) == (
        str(spec), line, column, "alias *r is inside the value &r it names: a value that contains itself has no end"
    )
    assert stderr.splitlines()[-1] == "1 error"


def test_an_alias_bomb_is_measured_not_expanded(toolkit, tmp_path):
    lines = ["version: 1", "a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")  # 10^9 values at the end
    spec = tmp_path / "laughs.yaml"
    spec.write_text("\n".join(lines) + "\n")
    stderr = refused(toolkit, "validate", str(spec))
    file, line, column, message = first_error(stderr)
    # 1 + 11 + 111 + 1,111 + 11,111 values fit up to d; the first *d of e crosses the bound.
    assert (file, line, column) == (str(spec), 6, 8)
    assert message == (f"the jobspec has more than {MAX_VALUES:,} keys and values (alias *d stands for 11,111 "
                       "values): no jobspec needs that many")


@pytest.mark.parametrize("number", ["1" * 100_000, "0b" + "1" * 100_000, "1" * 100_000 + ".5", "0x" + "f" * 5_000])
def test_a_huge_number_is_a_positioned_error(toolkit, tmp_path, number):
    spec = tmp_path / "number.yaml"
    spec.write_text(f"version: 1\nresources:\n  cpu: {number}\n")
    stderr = refused(toolkit, "validate", str(spec))
    assert first_error(stderr) == (
        str(spec), 3, 8,
        f"a number of {len(number):,} characters: numbers in a jobspec have at most 64 (quote it to make it text)",
    )
    shown = stderr.splitlines()[1]
    assert len(shown) < 200 and shown.startswith("  cpu: ") and shown.endswith("...")


def test_a_date_python_cannot_build_is_a_positioned_error(toolkit, tmp_path):
    spec = tmp_path / "date.yaml"
    spec.write_text("version: 1\ndescription: 2020-13-45\n")
    stderr = refused(toolkit, "validate", str(spec))
    assert first_error(stderr) == (
        str(spec), 2, 14, "YAML error: cannot read '2020-13-45' as !!timestamp (month must be in 1..12); quote it to make it text"
    )


# -- many keys ----------------------------------------------------------------------------------------------

def test_thousands_of_unknown_keys_report_the_first_few_and_how_many_more(toolkit, tmp_path):
    text = fastqe_text()
    first_key_line = len(text.splitlines()) + 1
    spec = tmp_path / "wide.yaml"
    spec.write_text(text + "".join(f"extra{i}: 1\n" for i in range(5_000)))
    stderr = refused(toolkit, "validate", str(spec))
    described = re.findall(rf"^{re.escape(str(spec))}:(\d+):1: error: unknown key 'extra(\d+)'", stderr, re.MULTILINE)
    assert [(int(line), int(index)) for line, index in described] == [
        (first_key_line + i, i) for i in range(MAX_UNKNOWN_KEYS_SHOWN)
    ]
    hidden = 5_000 - MAX_UNKNOWN_KEYS_SHOWN
    assert (f"{spec}:{first_key_line + MAX_UNKNOWN_KEYS_SHOWN}:1: error: {hidden:,} more unknown keys from here on "
            f"(only the first {MAX_UNKNOWN_KEYS_SHOWN} are described; 5,000 in all)") in stderr
    assert stderr.splitlines()[-1] == f"{MAX_UNKNOWN_KEYS_SHOWN + 1} errors"


def test_more_values_than_the_bound_stop_at_the_first_one_over(toolkit, tmp_path):
    spec = tmp_path / "millions.yaml"
    spec.write_text("version: 1\n" + "".join(f"k{i}: 1\n" for i in range(60_000)))  # 720 KB: under the size bound
    stderr = refused(toolkit, "validate", str(spec))
    file, line, column, message = first_error(stderr)
    # The document, `version` and its 1 are values 1-3; then the key of k<i> is value 4 + 2i, its 1 the next.
    index, is_value = divmod(MAX_VALUES + 1 - 4, 2)
    assert (file, line, column) == (str(spec), 2 + index, len(f"k{index}: ") + 1 if is_value else 1)
    assert message == f"the jobspec has more than {MAX_VALUES:,} keys and values: no jobspec needs that many"


def test_many_errors_of_every_kind_show_the_first_hundred_and_a_count(toolkit, tmp_path):
    spec = tmp_path / "many.yaml"
    outputs = "".join(f"  out{i}:\n    path: x\n    category: 5\n    colour: red\n" for i in range(200))
    spec.write_text(fastqe_text().replace("outputs:\n", "outputs:\n" + outputs, 1))
    stderr = refused(toolkit, "validate", str(spec))
    headers = re.findall(rf"^{re.escape(str(spec))}:\d+:\d+: (?:error|warning): .*$", stderr, re.MULTILINE)
    assert len(headers) == 101
    assert re.search(r"error: \d[\d,]* more errors and \d[\d,]* more warnings from here on \(only the first 100 are "
                     r"shown: fix those and validate again\)$", headers[-1]), headers[-1]


def test_a_jmespath_expression_nested_without_end_is_a_positioned_error(toolkit, tmp_path):
    spec = tmp_path / "jmespath.yaml"
    spec.write_text(fastqe_text().replace("groups: project.sequencingGroups", "groups: '" + "[" * 2000 + "'"))
    stderr = refused(toolkit, "validate", str(spec))
    assert first_error(stderr) == (str(spec), 25, 11, "invalid JMESPath expression in inputs.groups: nested too deeply")


# Jinja's parser recurses per bracket, unary operator, conditional expression and block, and every walk of the
# parsed template (its analysis, code generator, Python's compiler) per level of the tree, which chains of
# filters, attributes or `and` deepen one level per link: each of these exited 70 (RecursionError).
COMMAND = "-- {{ reads[0] }} {{ reads[1] }}"


@pytest.mark.parametrize(("expression", "reason"), [
    ("{{ " + "[" * 200 + " }}", "nests brackets more than 32 levels deep"),
    ("{{ " + "(" * 3000 + "reads[0] }}", "nests brackets more than 32 levels deep"),
    ("{{ " + "- " * 5000 + "1 }}", "nests unary operators more than 32 levels deep"),
    ("{{ " + "not " * 3000 + "1 }}", "nests unary operators more than 32 levels deep"),
    ("{{ " + "1 if 1 else " * 300 + "1 }}", "nests conditional expressions more than 32 levels deep"),
    ("{% if 1 %}" * 300 + "{% endif %}" * 300, "nests {% %} blocks more than 32 levels deep"),
    ("{{ reads[0]" + "|string" * 1000 + " }}", "expressions nest more than 100 levels deep"),
    ("{{ group" + ".id" * 3000 + " }}", "expressions nest more than 100 levels deep"),
    ("{{ " + " and ".join(["1"] * 3000) + " }}", "expressions nest more than 100 levels deep"),
], ids=["brackets-unclosed", "parentheses", "minus", "not", "conditional", "blocks", "filters", "attributes", "and"])
def test_a_template_nested_too_deeply_is_a_positioned_error(toolkit, tmp_path, expression, reason):
    text = fastqe_text()
    assert COMMAND in text
    spec = tmp_path / "template.yaml"
    spec.write_text(text.replace(COMMAND, f"-- {expression} {{{{ reads[1] }}}}"))
    stderr = refused(toolkit, "validate", str(spec))
    line = next(number for number, content in enumerate(text.splitlines(), 1) if COMMAND in content)
    path, found_line, _column, message = first_error(stderr)
    assert (path, found_line) == (str(spec), line) and reason in message, stderr


def test_a_template_nested_within_the_bounds_validates_and_renders(toolkit, tmp_path):
    spec = tmp_path / "template.yaml"
    inner = "{% if 1 %}" * 30 + "{{ " + "(" * 30 + "reads[0]" + ")" * 30 + "|string" * 20 + " }}" + "{% endif %}" * 30
    spec.write_text(fastqe_text().replace(COMMAND, f"-- {inner} {{{{ reads[1] }}}}"))
    assert toolkit.run("validate", str(spec)).stdout.startswith(f"ok: {spec}")
    jobs = toolkit.json("plan", str(spec), "--format", "json", "--execution", "host")["jobs"]
    assert [job["command"].split(" -- ")[1].split() for job in jobs][0][0].endswith("/DEMO001_R1.fastq.gz")


def test_a_graphql_query_nested_without_end_is_a_positioned_error(toolkit, tmp_path):
    spec = tmp_path / "query.yaml"
    original = "        sequencingGroups(id: {in_: $sgids}) {"
    spec.write_text(fastqe_text().replace(original, original + " a {" * 1000, 1))
    stderr = refused(toolkit, "validate", str(spec))
    # The query is 3 levels deep at the end of that line (15 in the file); each ` a {` adds one, and the one
    # that makes MAX_QUERY_DEPTH + 1 is the error.
    assert first_error(stderr) == (str(spec), 15, len(original) + 4 * (MAX_QUERY_DEPTH + 1 - 3),
                                   f"the query nests deeper than {MAX_QUERY_DEPTH} levels: no Metamist query needs that")


def test_an_anchor_defined_twice_is_a_positioned_warning_not_a_python_warning(toolkit, tmp_path):
    spec = tmp_path / "anchors.yaml"
    text = fastqe_text().replace("  cpu: 1\n", "  cpu: &n 1\n", 1)
    spec.write_text(text.replace("  storage_margin: 1.2", "  storage_margin: &n 1.5", 1))
    lines = spec.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if "cpu: &n" in line) + 1
    again = next(i for i, line in enumerate(lines) if "storage_margin: &n" in line) + 1
    done = toolkit.run("validate", str(spec))
    assert done.stderr.splitlines()[:3] == [
        f"{spec}:{again}:19: warning: anchor &n is defined again (first at line {first}): the aliases *n after "
        "this line stand for this value",
        "  storage_margin: &n 1.5",
        "                  ^~",
    ]
    assert "ReusedAnchorWarning" not in done.stderr
