"""Command and text rendering: quoting, strictness, the sandbox, and what a tool really receives.

The quoting tests run the rendered command the way Hail Batch does (``/bin/bash -c`` with the command
wrapped in braces) against a tiny script that records its argv (NUL-terminated), and check that the argv is
exactly the intended one and that nothing else ran: hostile names carry ``touch pwned`` payloads, so any
injection leaves a file behind.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from toolkit.errors import EXIT_SPEC, ToolkitError
from toolkit import render as render_module
from toolkit.render import (
    CommandContext,
    RenderError,
    ShellWords,
    render_command,
    render_output_path,
    render_text,
)

# After `--`, values that start with "-" are arguments like any other (before it they are refused).
COMMAND = "argv-dump -- {{ reads[0] }} {{ reads[1] }} --id {{ group.id }} > {{ outputs.report }}\n"

SHELL_FRAGMENTS = [
    "'", '"', "\\", "`touch pwned`", "$(touch pwned)", "; touch pwned;", "&& touch pwned", "| touch pwned",
    "\ntouch pwned\n", "\r", "\t", " ", "#", "*", "?", "[a-z]", "{a,b}", "~", "~/pwned", "$HOME", "${IFS}",
    "$'\\x41'", "!!", "-", "--", "-rf", ">pwned", "<", "&", "%", "\u00e9", "\u4e2d", "\U0001f600", "\u2028",
    "\u00a0", "__RESOURCE_FILE__0", "__JOB__1",
]

_characters = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
_pieces = st.one_of(st.text(_characters, max_size=6), st.sampled_from(SHELL_FRAGMENTS))
hostile_text = st.lists(_pieces, max_size=6).map("".join)
# A file name: anything but '/' and NUL, not '.' or '..', within the usual 255-byte limit.
hostile_file_name = (
    st.lists(_pieces, min_size=1, max_size=6)
    .map(lambda parts: "".join(parts).replace("/", "_"))
    .filter(lambda name: name not in ("", ".", "..") and len(name.encode()) <= 200)
)

# Writes its arguments NUL-terminated: exact bytes (no argument can hold a NUL), and a bash script starts in
# a few milliseconds where a Python one takes tens, which keeps hundreds of examples fast.
ARGV_DUMP = "#!/bin/bash\nprintf '%s\\0' \"$@\"\n"


def _write_argv_dump(bin_dir: Path) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "argv-dump"
    script.write_text(ARGV_DUMP)
    script.chmod(0o755)
    return script


def _dumped_argv(path: Path) -> list[str]:
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\0"), data
    return [argument.decode("utf-8") for argument in data.split(b"\0")[:-1]]


def _files_under(root: Path) -> set[str]:
    return {str(Path(folder, name).relative_to(root)) for folder, _, names in os.walk(root) for name in names}


def _run_like_hail(command: str, work_dir: Path, bin_dir: Path) -> subprocess.CompletedProcess:
    # hailtop.batch runs each job as `/bin/bash -c` over the commands wrapped in `{ ... }` groups.
    script = "{\n{\n" + command.strip() + "\n}\n}"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(work_dir), "LC_ALL": "C.UTF-8"}
    return subprocess.run(["/bin/bash", "-c", script], cwd=work_dir, env=env, capture_output=True, timeout=30)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(read_1=hostile_text, read_2=hostile_text, group_id=hostile_text, report_name=hostile_file_name)
@example(
    read_1="a b'; touch ~/pwned #.fq", read_2="$(touch pwned)", group_id="`touch pwned`", report_name="r"
)
@example(read_1="-", read_2="--help", group_id="", report_name="-x")
@example(read_1="*", read_2="\ntouch pwned\n", group_id="__RESOURCE_FILE__0", report_name="a b;c'd\"e\ne")
def test_hostile_values_reach_the_tool_as_exactly_the_intended_arguments(
    read_1, read_2, group_id, report_name
):
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        bin_dir = tmp_path / "bin"
        _write_argv_dump(bin_dir)
        work_dir = tmp_path / "work"
        (work_dir / "out").mkdir(parents=True)
        report = work_dir / "out" / report_name
        context = CommandContext(
            reads=[read_1, read_2], outputs={"report": str(report)}, group={"id": group_id}
        )

        result = _run_like_hail(render_command(COMMAND, context), work_dir, bin_dir)

        assert result.returncode == 0, result.stderr.decode(errors="replace")
        assert _dumped_argv(report) == ["--", read_1, read_2, "--id", group_id]
        assert _files_under(tmp_path) == {"bin/argv-dump", f"work/out/{report_name}"}


@settings(max_examples=100, deadline=None)
@given(
    reads=st.lists(hostile_text, max_size=4),
    separator=st.sampled_from([" ", "  ", "\t", ",", ";", "\n", " | "]),
)
def test_whole_list_and_join_give_one_argument_per_read_or_one_joined_argument(reads, separator):
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        bin_dir = tmp_path / "bin"
        _write_argv_dump(bin_dir)
        work_dir = tmp_path / "work"
        work_dir.mkdir()
        template = "argv-dump -- {{ reads }} -- {{ reads | join(group.separator) }} > out.argv"
        context = CommandContext(reads=reads, group={"id": "g", "separator": separator})

        result = _run_like_hail(render_command(template, context), work_dir, bin_dir)

        assert result.returncode == 0, result.stderr.decode(errors="replace")
        blank = set(separator) <= {" ", "\t"}
        expected_joined = list(reads) if blank else [separator.join(reads)]
        assert _dumped_argv(work_dir / "out.argv") == ["--", *reads, "--", *expected_joined]
        assert _files_under(tmp_path) == {"bin/argv-dump", "work/out.argv"}


# ------------------------------------------------------------------------------------- through Hail Batch

HAIL_READ_NAMES = [
    "-rf.fq.gz",
    "a b'; touch pwned #.fq",
    "$(touch pwned).fq",
    "`touch pwned`.fq",
    "-rf *.fq",
    "new\nline; touch pwned.fq",
    "__RESOURCE_FILE__0 \"q\" \u00e9.fq",
]


@pytest.mark.slow
def test_through_hail_local_backend_each_read_is_one_argument_and_nothing_runs(tmp_path, monkeypatch):
    import hailtop.batch as hb

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    argv_dump = _write_argv_dump(tmp_path / "bin")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    read_paths = []
    for index, name in enumerate(HAIL_READ_NAMES):
        # Each in a folder of its own, so the basename Hail localises is exactly the hostile name (one
        # starts with '-': the localised path is absolute, so the option rule never sees a leading '-').
        read_paths.append(data_dir / str(index) / name)
        read_paths[-1].parent.mkdir()
        read_paths[-1].write_text("ACGT\n")
    group_id = "CPG1 $(touch pwned) __RESOURCE_FILE__0"
    # One job: LocalBackend copies each written output with a fresh Python process (about 1.5 s each).
    batch = hb.Batch(backend=hb.LocalBackend(tmp_dir=str(tmp_path / "scratch")))
    job = batch.new_job(name="argv")
    reads = [batch.read_input(str(path)) for path in read_paths]
    context = CommandContext(reads=reads, outputs={"report": job.ofile}, group={"id": group_id})
    template = (
        f"{argv_dump} {{{{ reads }}}} --bai {{{{ reads[0] ~ '.bai' }}}} --id {{{{ group.id }}}} "
        "> {{ outputs.report }}"
    )
    job.command(render_command(template, context))
    report = tmp_path / "report.argv"
    batch.write_output(job.ofile, str(report))

    batch.run(delete_scratch_on_exit=False)  # kept, to check that every argument is a real localised file

    argv = _dumped_argv(report)
    localised, tail = argv[: len(read_paths)], argv[len(read_paths) :]
    assert [os.path.basename(argument) for argument in localised] == [path.name for path in read_paths]
    assert all(argument.startswith(f"{tmp_path}/scratch/") for argument in localised)
    assert all(Path(argument).read_text() == "ACGT\n" for argument in localised)
    assert tail == ["--bai", localised[0] + ".bai", "--id", group_id]
    assert not [path for path in tmp_path.rglob("*") if path.name.startswith("pwned")]


# ----------------------------------------------------------------------------------------------- units


def _context(**overrides) -> CommandContext:
    values = {
        "reads": ["/in/R1 x.fq", "/in/R2.fq"],
        "outputs": {"report": "/out/CPG1.html"},
        "group": {"id": "CPG1", "sample": "S-1", "empty": None, "lanes": [1, 2], "meta": {"kit": "a b"}},
        "params": {"max_reads": 10, "flag": True},
        "resources": {"cpu": 2, "memory": "4Gi", "storage": "10Gi"},
    }
    values.update(overrides)
    return CommandContext(**values)


def test_literal_template_text_is_untouched_and_values_are_quoted():
    command = render_command(
        "tool {{ reads[0] }} --n {{ params.max_reads }} -t {{ resources.cpu }}"
        " | gzip -c > {{ outputs.report }} 2>&1\n",
        _context(),
    )
    assert command == "tool '/in/R1 x.fq' --n 10 -t 2 | gzip -c > /out/CPG1.html 2>&1\n"


def test_item_and_attribute_syntax_reach_the_same_slot():
    assert render_command("t {{ outputs['report'] }} {{ group['sample'] }}", _context()) == "t /out/CPG1.html S-1"
    assert render_command("t {{ group.meta.kit }} {{ group.meta['kit'] }}", _context()) == "t 'a b' 'a b'"


def test_a_list_renders_as_its_items_each_quoted():
    assert render_command("x {{ reads }} {{ group.lanes }}", _context()) == "x '/in/R1 x.fq' /in/R2.fq 1 2"
    assert render_command("x {{ reads }}.", _context(reads=[])) == "x ."


def test_join_quotes_each_item_and_returns_shell_words():
    assert render_command("t {{ reads | join(' ') }}", _context()) == "t '/in/R1 x.fq' /in/R2.fq"
    assert render_command("t {{ reads | join(',') }}", _context()) == "t '/in/R1 x.fq',/in/R2.fq"
    assert render_command("t {{ reads | join(';\n') }}", _context()) == "t '/in/R1 x.fq'';\n'/in/R2.fq"
    assert render_command("t {{ reads | join }}", _context()) == "t '/in/R1 x.fq'/in/R2.fq"


def test_a_value_marked_safe_in_the_template_is_still_quoted():
    # `safe` and `tojson` exist in Jinja, but they mark HTML safety; nothing bypasses shell quoting.
    assert render_command("t {{ group.meta.kit | safe }}", _context()) == "t 'a b'"
    assert render_command("t {{ group.meta.kit | string }}", _context()) == "t 'a b'"
    assert render_command("t {{ group.meta.kit | tojson }}", _context()) == "t '\"a b\"'"
    assert isinstance(ShellWords("x"), str)


def test_unknown_slot_names_the_slot_the_template_and_the_group():
    with pytest.raises(RenderError) as caught:
        render_command("fastqe {{ reads[0] }}\n  > {{ outputs.reprot }}", _context())
    error = caught.value
    assert error.message == (
        "command template, line 2, group CPG1: unknown slot outputs.reprot (known: report)"
    )
    assert isinstance(error, ToolkitError) and error.exit_code == EXIT_SPEC == 2
    assert (error.template_name, error.group_id, error.lineno) == ("command", "CPG1", 2)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ sample }}", "'sample' is undefined (the slots are: reads, outputs, group, params, resources, read, groups, project)"),
        ("{{ group.nope }}", "unknown slot group.nope (known: empty, id, lanes, meta, sample)"),
        ("{{ group.keys }}", "unknown slot group.keys"),
        ("{{ params['max-reads'] }}", "unknown slot params['max-reads']"),
        ("{{ reads[2] }}", "reads[2] does not exist: it has 2 entries"),
        ("{{ group.empty }}", "group.empty has no value (null) for this group"),
        ("{{ group }}", "<group> is a set of named values"),
        ("{% if %}", "Expected an expression"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
    ],
)
def test_template_problems_are_render_errors_with_clear_messages(template, expected):
    with pytest.raises(RenderError) as caught:
        render_command(template, _context())
    assert expected in caught.value.message
    assert "\n" not in caught.value.render()


def test_a_null_field_can_be_tested_or_defaulted():
    assert render_command("t {{ group.empty | default('none') }}", _context()) == "t none"
    assert render_command("{% if group.empty is defined %}x{% else %}y{% endif %}", _context()) == "y"


@pytest.mark.parametrize(
    "template",
    [
        "{{ reads.__class__ }}",
        "{{ reads.__class__.__mro__[1].__subclasses__() }}",
        "{{ group.__class__ }}",
        "{{ group._values }}",
        "{{ ''.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ params.__init__.__globals__ }}",
        "{% set x = [1].append(2) %}",
    ],
)
def test_the_sandbox_blocks_escapes(template):
    with pytest.raises(RenderError) as caught:
        render_command(template, _context())
    assert "not allowed in a jobspec template" in caught.value.message


def test_internal_attributes_are_not_reachable_by_item_either():
    with pytest.raises(RenderError, match="unknown slot group._values"):
        render_command("{{ group['_values'] }}", _context())


def test_nul_in_a_value_is_refused():
    with pytest.raises(RenderError, match="NUL"):
        render_command("x {{ group.id }}", _context(group={"id": "a\x00b"}))


def test_hail_placeholders_of_this_context_stay_bare_for_hail_to_substitute():
    context = _context(reads=["__RESOURCE_FILE__7", "/in/R2 x.fq"], outputs={"report": "__RESOURCE_FILE__8"})
    command = render_command("t {{ reads }} {{ reads[0] ~ ' .bai' }} > {{ outputs.report }}", context)
    assert command == "t __RESOURCE_FILE__7 '/in/R2 x.fq' __RESOURCE_FILE__7' .bai' > __RESOURCE_FILE__8"


def test_placeholder_shaped_metadata_is_hidden_from_hail_even_when_it_names_a_read_of_this_job():
    context = _context(reads=["__RESOURCE_FILE__7"], group={"id": "__RESOURCE_FILE__7 __JOB__1"})
    assert render_command("t --id {{ group.id }}", context) == "t --id '__''RESOURCE_FILE__7 __''JOB__1'"
    context = _context(reads=["__RESOURCE_FILE__7"], group={"id": "__RESOURCE_FILE__7"})
    assert render_command("t --id {{ group.id }}", context) == "t --id __''RESOURCE_FILE__7"


def test_a_hail_file_changed_by_a_filter_is_refused():
    with pytest.raises(RenderError, match="changed by a filter"):
        render_command("t {{ reads[0] | upper }}", _context(reads=["__RESOURCE_FILE__7"]))


def test_a_placeholder_hail_would_still_see_is_refused():
    with pytest.raises(RenderError, match="'__JOB__3', which Hail Batch would replace"):
        render_command("t __JOB__3", _context())
    with pytest.raises(RenderError, match="'__RESOURCE_FILE__71'"):
        render_command("t {{ reads[0] }}{{ 1 }}", _context(reads=["__RESOURCE_FILE__7"]))


def test_text_templates_are_not_quoted_but_are_strict():
    assert render_text("{{ group.meta.kit }}-{{ reads }}", _context(), name="register.report.meta.kit") == (
        "a b-/in/R1 x.fq /in/R2.fq"
    )
    expected = "register.report.meta.x template, line 1, group CPG1: unknown slot"
    with pytest.raises(RenderError, match=expected):
        render_text("{{ group.x }}", _context(), name="register.report.meta.x")


def test_output_path_renders_relative_paths():
    name = "outputs.report.path"
    assert render_output_path("fastqe/{{ group.id }}.html", _context(), name=name) == "fastqe/CPG1.html"
    assert render_output_path("{{ group.id }}:{{ group.sample }} x", _context(), name=name) == "CPG1:S-1 x"


@pytest.mark.parametrize(
    ("group_id", "expected"),
    [
        ("../../etc", "'.' or '..' segments"),
        ("a/../../b", "'.' or '..' segments"),
        ("./a", "'.' or '..' segments"),
        ("/etc/passwd", "empty segment"),
        ("a\nb", "control character"),
        ("a\x00b", "NUL"),
        ("", "empty segment"),
    ],
)
def test_output_path_escapes_are_refused(group_id, expected):
    with pytest.raises(RenderError) as caught:
        render_output_path("r/{{ group.id }}/r", _context(group={"id": group_id}), name="outputs.r.path")
    assert expected in caught.value.message
    assert caught.value.message.startswith("outputs.r.path template, ")
    assert f"group {group_id!r}" in caught.value.message or f"group {group_id}:" in caught.value.message


@pytest.mark.parametrize("template", ["/a/{{ group.id }}", "gs://b/{{ group.id }}", "{{ group.id }}/", ".."])
def test_output_path_must_stay_under_its_root(template):
    with pytest.raises(RenderError):
        render_output_path(template, _context(), name="outputs.report.path")


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(["a", "Z9", ".", "..", "...", "/", "//", ":", "gs:", "\x00", "\n", "\x7f", "\x1f",
                                 " ", "-", "\u00e9", "\u212a", "x" * 254, "x" * 256]), max_size=7).map("".join))
@example("a/b.html")
@example("a/")
@example("c:/x")
def test_plain_path_shortcut_says_what_the_rules_say(path):
    """The one-regex check of ordinary paths accepts exactly what the full rules accept (no path it lets through
    is one they refuse)."""
    full_rules = render_module._output_path_rules(path)
    assert render_module._output_path_problem(path) == full_rules
    if render_module._PLAIN_RELATIVE_PATH.fullmatch(path) and path.isascii():
        assert full_rules is None


# -------------------------------------------------------------------------- simple templates without Jinja


# Literal text: shell syntax, quotes, newlines (\r too: Jinja normalises it), a lone '}' - anything but '{'.
_literal = st.lists(
    st.one_of(
        st.sampled_from(
            [" ", "  ", "\n", "\r\n", "\r", "\t", "'", '"', "\\", "|", ">", "2>&1", ";", "&&", "$", "$(", ")",
             "`", "#", "*", "}", "-}", "%}", "__JOB__1", "__RESOURCE_FILE__", "toolkitfile", "fastqe",
             "--html", "\u00e9", "\u2028"]
        ),
        st.text(st.characters(exclude_categories=("Cs",), exclude_characters="{\x00"), max_size=4),
    ),
    max_size=5,
).map("".join)
_attribute = st.sampled_from(
    ["id", "sample", "report", "missing", "empty", "lanes", "meta", "kit", "cpu", "memory", "n", "flag",
     "keys", "items", "count", "upper", "_values", "_lookup", "__class__", "real"]
)
_step = st.one_of(
    _attribute.map(lambda name: f".{name}"),
    _attribute.map(lambda name: f"[{name!r}]"),
    _attribute.map(lambda name: f'["{name}"]'),
    st.integers(0, 3).map(lambda index: f"[{index}]"),
    st.integers(0, 3).map(lambda index: f".{index}"),
    st.just("['a b']"),
)
_slot_name = st.sampled_from(render_module.SLOT_NAMES)
_blank = st.sampled_from(["", " ", "  ", "\n", " \n  "])


@st.composite
def _lookup_tag(draw):
    open_, close = draw(st.sampled_from([("{{", "}}"), ("{{-", "}}"), ("{{", "-}}"), ("{{-", "-}}")]))
    steps = "".join(draw(st.lists(_step, max_size=3)))
    return f"{open_}{draw(_blank)}{draw(_slot_name)}{steps}{draw(_blank)}{close}"


_comment = _literal.map(lambda text: "{# " + text.replace("#}", "") + " #}")
simple_template = st.lists(st.one_of(_literal, _lookup_tag(), _comment), max_size=6).map("".join)

_placeholder = st.integers(0, 12).map(lambda number: f"__RESOURCE_FILE__{number}")
_value = st.one_of(
    hostile_text,
    _placeholder,
    st.sampled_from(["", "a\x00b", "\ud800", "toolkitfile0123456789abcdef_0_", "__JOB__2 x"]),
    st.integers(-5, 10**20),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
)
_field = st.one_of(
    _value, st.lists(_value, max_size=3), st.dictionaries(_attribute, _value, max_size=3)
)
_fields = st.dictionaries(st.one_of(_attribute, st.just("a b")), _field, max_size=6)


@st.composite
def _render_context(draw):
    reads = draw(st.lists(st.one_of(hostile_text, _placeholder), max_size=3))
    outputs = draw(
        st.dictionaries(
            st.sampled_from(["report", "id", "_values"]), st.one_of(hostile_text, _placeholder), max_size=2
        )
    )
    group = {"id": draw(st.one_of(hostile_text, st.just("CPG1"))), **draw(_fields)}
    return CommandContext(
        reads=reads, outputs=outputs, group=group, params=draw(_fields), resources=draw(_fields)
    )


def _outcome(render, template, context):
    try:
        result = ("rendered", render(template, context))
    except RenderError as error:
        result = ("refused", error.message, error.lineno)
    # Stand-ins are random per render, and so is the address in the repr of a bound method (`group.id.upper`
    # renders as one, both ways): everything else must be equal.
    return tuple(
        re.sub(r"toolkitfile[0-9a-f]{16}| at 0x[0-9a-f]+", "<varies>", part) if isinstance(part, str)
        else part
        for part in result
    )


_RENDERERS = {
    "command": render_command,
    "text": lambda template, context: render_text(template, context, name="register.r.meta.m"),
    "output path": lambda template, context: render_output_path(template, context, name="outputs.r.path"),
}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(template=simple_template, context=_render_context(), renderer=st.sampled_from(sorted(_RENDERERS)))
@example(
    template="fastqe {{ reads[0] }} {{ reads[1] }} --html > {{ outputs.report }}\n",
    context=_context(),
    renderer="command",
)
@example(
    template="{{ reads[2][0].count }} {{ group.id.upper }}",
    context=_context(reads=["", "", "x"]),
    renderer="text",
)
@example(template="a\n{{ group\n.nope }}", context=_context(), renderer="text")
@example(template="{{ reads }}{{ group.lanes }}{{ group.meta }}", context=_context(), renderer="command")
# A command that does not parse, and a value the wrong number of words: both paths name the value's problem first.
@example(template="|>{{reads}}", context=_context(reads=[]), renderer="command")
@example(
    template="t {{ reads[0] }}{{ group.id }} {{ reads }}",
    context=_context(reads=["__RESOURCE_FILE__7", "__RESOURCE_FILE__7"], group={"id": "1"}),
    renderer="command",
)
def test_simple_templates_render_exactly_as_through_jinja(template, context, renderer):
    render = _RENDERERS[renderer]
    environment = (
        render_module._shell_environment() if renderer == "command" else render_module._text_environment()
    )
    assert render_module._simple_template(environment, template) is not None, template  # the path under test

    simple = _outcome(render, template, context)
    with render_module._jinja_path_only():
        jinja = _outcome(render, template, context)

    assert simple == jinja


@pytest.mark.parametrize(
    "template",
    [
        "{{ reads | join(' ') }}",
        "{{ reads[0] ~ '.bai' }}",
        "{{ 'x' }}",
        "{{ reads[-1] }}",
        "{{ reads[true] }}",
        "{{ range }}",
        "{{ sample }}",
        "{% if reads %}x{% endif %}",
        "{{ group.id() }}",
        "{{ reads[0:1] }}",
        "{{ ",
    ],
)
def test_anything_beyond_lookups_is_left_to_jinja(template):
    assert render_module._simple_template(render_module._shell_environment(), template) is None


def test_text_without_template_syntax_is_returned_as_it_is_after_jinja_newline_normalisation():
    assert render_text("FastQE", _context(), name="register.r.meta.stage") == "FastQE"
    assert render_text("a\r\nb\rc\n", _context(), name="register.r.meta.stage") == "a\nb\nc\n"
    with pytest.raises(RenderError, match="'.' or '..' segments"):
        render_output_path("a/../b", _context(), name="outputs.r.path")


# ------------------------------------------------------------------------ where values land (render time)

# Templates with {% %} blocks: `toolkit validate` reads their text without the tags, so the rendered
# command is what decides. Each would run metadata as code (or read it as an option) if rendered.
@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{% if 1 %}echo '{{ group.sample }}'{% endif %}", "inside single quotes"),
        ("{% for r in reads %}echo \"x {{ r }}\"\n{% endfor %}", "inside double quotes"),
        ("{% if 1 %}cat <<EOF\n{{ group.sample }}\nEOF\n{% endif %}", "in a heredoc body"),
        ("{% if 1 %}cat <<'EOF'\n{{ group.sample }}\nEOF\n{% endif %}", "in a heredoc body"),
        ("{% if 1 %}echo $(( {{ group.sample }} + 1 )){% endif %}", "in an arithmetic expression"),
        ("{% if 1 %}[[ {{ group.sample }} -eq 1 ]]{% endif %}", "inside [[ ]]"),
        ("{% if 1 %}echo `echo {{ group.sample }}`{% endif %}", "inside backticks"),
        ("{% if 1 %}case x in {{ group.sample }}) ;; esac{% endif %}", "case or [[ ]] pattern"),
        ("{% if 1 %}# {{ group.sample }}\ntool{% endif %}", "in a comment"),
        ("{% if 1 %}{{ group.sample }} --version{% endif %}", "the program of a command"),
        ("{% if 1 %}eval {{ group.sample }}{% endif %}", "an argument of eval"),
        ("tool {% if 1 %}{{ \"'\" }}{% endif %}x{{ group.sample }}", None),  # a quoted quote: fine
        ("{% set q = \"'\" %}echo {% if 1 %}'{% endif %}{{ group.sample }}{% if 1 %}'{% endif %}", "single quotes"),
        # A filter block works on the text around markers, never on the quoted values...
        ("{% filter replace(\"'\", '') %}tool x{{ group.sample }}{% endfilter %}", None),
        # ...and one that changes a marker is refused.
        ("{% filter upper %}tool {{ group.sample }}{% endfilter %}", "a filter changed a value"),
        ("{% if 1 %}X={{ reads }} tool{% endif %}", "gives 2 words where the shell takes exactly one"),
    ],
)
def test_a_value_the_shell_would_reread_is_refused_at_render_time(template, reason):
    context = _context(group={"id": "CPG1", "sample": "x; touch pwned; `touch pwned` $(touch pwned)"})
    if reason is None:
        assert render_command(template, context).endswith("x'x; touch pwned; `touch pwned` $(touch pwned)'")
        return
    with pytest.raises(RenderError) as caught:
        render_command(template, context)
    assert reason in caught.value.problem
    assert caught.value.group_id == "CPG1"


def test_a_misplaced_value_in_a_simple_template_is_refused_with_its_line():
    with pytest.raises(RenderError) as caught:
        render_command("tool {{ reads[0] }}\necho '{{ group.sample }}'", _context())
    assert caught.value.lineno == 2
    assert caught.value.problem.startswith("{{ ... }} is inside single quotes: remove the quotes")


@pytest.mark.parametrize("template", [
    "sort {{ group.note }} {{ reads[0] }}",
    "{% if 1 %}sort {{ group.note }} {{ reads[0] }}{% endif %}",
    "sort {{ group.notes }}",  # a list: every item starts an argument
    "sort {{ group.notes | join(' ') }}",
    "sort -k1 {{ group.note ~ '' }}",  # computed from metadata: still metadata
    "{% set n = group.note %}sort {{ n }}",
    "for x in {{ group.note }}; do sort $x; done",
])
def test_a_metadata_value_that_would_be_read_as_an_option_is_refused(template):
    context = _context(group={"id": "CPG1", "note": "--output=/etc/x", "notes": ["a", "--output=/etc/x"]})
    with pytest.raises(RenderError, match=r"starts with '-', so the program would read it as an option"):
        render_command(template, context)


@pytest.mark.parametrize(("template", "expected"), [
    ("sort -- {{ group.note }} {{ reads[0] }}", "sort -- --output=/etc/x /in/R1.fq"),
    ("sort {{ group.note | allow_leading_dash }}", "sort --output=/etc/x"),
    ("sort --key={{ group.note }} x{{ group.note }}", "sort --key=--output=/etc/x x--output=/etc/x"),
    ("X={{ group.note }} sort > {{ group.note }}", "X=--output=/etc/x sort > --output=/etc/x"),
    ("head -n {{ params.n }} {{ resources.cpu }}", "head -n -1 2"),  # params and resources are not metadata
    ("{% if 1 %}sort -- {{ group.notes }}{% endif %}", "sort -- a --output=/etc/x"),
])
def test_a_leading_dash_is_allowed_after_double_dash_with_the_filter_or_not_at_an_argument_start(
    template, expected
):
    context = _context(
        reads=["/in/R1.fq"], params={"n": -1}, resources={"cpu": 2},
        group={"id": "CPG1", "note": "--output=/etc/x", "notes": ["a", "--output=/etc/x"]},
    )
    assert render_command(template, context) == expected


def test_allow_leading_dash_leaves_text_templates_unchanged():
    context = _context(group={"id": "-x"})
    assert render_text("{{ group.id | allow_leading_dash }}", context, name="register.r.meta.m") == "-x"


# ------------------------------------------------------------------------------------------- limits


@pytest.mark.parametrize(
    "template",
    [
        "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
        "{% for c in 'x' * 999999 %}{% for d in 'x' * 999999 %}{% endfor %}{% endfor %}",
        "x {{ 'a' * 10**9 }}",
        "x {{ [1] * 10**9 }}",
        "x {{ 10 ** (10 ** 10) }}",
        "x {{ 9 ** 999999 }}",
        "x {{ '%s' | format('a' * 999999) ~ ('a' * 999999) }}",
        "x {{ '%999999999s' | format(1) }}",
        "x {{ '%s%s%s%s' % ('a' * 900000, 1, 2, 3) }}",
        "x {{ '{:>999999999}'.format(1) }}",
        "x {{ '{0}{0}{0}{0}{0}'.format('a' * 900000) }}",
        "x {{ 'a' | center(10**9) }}",
        "x {{ 'a'.ljust(999999999) }}",
        "x {{ ('a' * 999999) | indent(999999) }}",
        "x {{ ('a\n' * 499999) | indent(5) }}",
        "x {{ 'a' | wordwrap(1, wrapstring='b' * 999999) }}",
        "x {{ ('a' * 999999).replace('', 'bb') }}",
        "x {{ ('a' * 999999) | replace('a', 'bb') }}",
        "x {{ range(99999) | join(',' * 100) }}",
        "x {{ ('b' * 999999).join(['a', 'a', 'a']) }}",
        "x {{ (['a' * 999999] * 2) | join }}",
        "x {{ 'a' | batch(10**9, 'b') | list }}",
        "x {{ range(10) | batch(1) | sum(start=[]) }}",
        "x {{ ('a\t' * 10) .expandtabs(999999) }}",
        "x {{ lipsum(10**6) }}",
        "{% set ns = namespace(s='a' * 999) %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}x",
        "{% set ns = namespace(s='a' * 999) %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}x",
        "{% macro f() %}{{ f() }}{% endmacro %}x {{ f() }}",
        "{% for i in range(2000) %}{{ 'a' * 999 }}{% endfor %}",
    ],
)
def test_templates_that_would_exhaust_the_machine_are_refused_quickly(template):
    with pytest.raises(RenderError) as caught:
        render_command(template, _context())
    assert caught.value.group_id == "CPG1"
    assert "Traceback" not in caught.value.problem


def test_a_render_limit_is_marked_as_such():
    with pytest.raises(RenderError) as caught:
        render_command("x {{ 'a' * 10**9 }}", _context())
    assert caught.value.limit and caught.value.lineno == 1
    with pytest.raises(RenderError) as caught:
        render_command("x {{ group.nope }}", _context())
    assert not caught.value.limit


def test_ordinary_loops_filters_and_macros_still_render():
    template = (
        "{% macro opt(name, value) %}--{{ name }}={{ value }}{% endmacro %}"
        "tool {% for r in reads %}{{ r }} {% endfor %}{{ reads | join(',') }} "
        "{{ '%s-%d' | format(group.sample, params.max_reads) }} {{ group.sample | center(9) }}"
    )
    assert render_command(template, _context()) == (
        "tool '/in/R1 x.fq' /in/R2.fq '/in/R1 x.fq',/in/R2.fq S-1-10 '   S-1   '"
    )


@pytest.mark.parametrize(("cpu", "rendered"), [("2", "2"), ("2.0", "2"), ("0.5", "0.5"), ("1.5", "1.5")])
def test_resources_cpu_renders_a_whole_number_as_an_integer(tmp_path, cpu, rendered):
    from toolkit.plan import resolve_resources
    from toolkit.query.groups import Group
    from toolkit.spec import load_spec

    repo = Path(__file__).resolve().parents[2]
    text = (repo / "jobspecs" / "fastqe.yaml").read_text().replace("../dockerfiles/", f"{repo}/dockerfiles/")
    text = re.sub(r"(?m)^  cpu: .*$", f"  cpu: {cpu}", text)
    (tmp_path / "spec.yaml").write_text(text)
    spec = load_spec(tmp_path / "spec.yaml")
    resources = resolve_resources(spec.model.resources, Group(id="CPG1"))
    context = _context(resources={"cpu": resources.cpu, "memory": resources.memory, "storage": "1Gi"})
    assert render_command("tool --threads {{ resources.cpu }}", context) == f"tool --threads {rendered}"


@pytest.mark.parametrize("template", [
    "sort 2> /dev/null {{ group.note }}",  # the grammar keeps the value in the redirection: bash passes it to sort
    "sort > {{ outputs.report }} {{ group.note }}",
    "{% if 1 %}sort >> log {{ group.notes }}{% endif %}",
])
def test_a_metadata_value_after_a_redirection_target_is_an_argument_and_may_not_be_an_option(template):
    context = _context(group={"id": "CPG1", "note": "--output=/etc/x", "notes": ["a", "--output=/etc/x"]})
    with pytest.raises(RenderError, match=r"starts with '-', so the program would read it as an option"):
        render_command(template, context)
    context = _context(group={"id": "CPG1", "note": "plain", "notes": ["a", "b"]})
    assert render_command(template, context).startswith("sort ")


@pytest.mark.parametrize("template", [
    "{% set params = group %}sort {{ params.note }}",
    "{% for resources in [group.note] %}sort {{ resources }}{% endfor %}",
    "{% with params = group %}sort {{ params.note }}{% endwith %}",
    "{% set params %}{{ group.note }}{% endset %}sort {{ params }}",
])
def test_params_or_resources_bound_by_the_template_to_metadata_are_metadata(template):
    """Found by the audit of issue 7: the leading-dash rule exempted any expression naming only `params` or
    `resources`, even when the template had bound that name to a metadata value."""
    context = _context(group={"id": "CPG1", "note": "--output=/etc/x"})
    with pytest.raises(RenderError, match=r"starts with '-', so the program would read it as an option"):
        render_command(template, context)


def test_constants_params_and_resources_stay_exempt_from_the_leading_dash_rule():
    context = _context(params={"n": -1}, resources={"cpu": 2})
    assert render_command("{% set x = 1 %}head {{ '-n' }} {{ params.n }} -p {{ resources.cpu }}", context) == \
        "head -n -1 -p 2"


@pytest.mark.parametrize("template", [
    "tool {{ " + "[" * 300 + "]" * 300 + " }}",
    "tool {{ reads[0]" + "|string" * 1500 + " }}",
    "{% if 1 %}" * 300 + "tool" + "{% endif %}" * 300,
])
def test_a_template_too_deep_for_jinja_or_python_is_a_render_error_not_a_crash(template):
    """validate refuses these first (tests/spec/test_hostile_files.py); a render must not crash either."""
    with pytest.raises(RenderError, match="nests too deeply to be compiled") as caught:
        render_command(template, _context())
    assert caught.value.limit
