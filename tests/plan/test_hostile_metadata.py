"""Hostile metadata through every slot, filter and accepted placement, rendered and run by bash on the host.

Each hypothesis example is a batch of groups whose ids, fields, read names and (one per batch) param are
hostile text: quotes, substitutions, newlines, globs, leading dashes, Hail placeholders, ``rm -rf`` of a
victim folder and ``touch pwned`` canaries. Every group's output path is rendered from its id, then its
command from one of TEMPLATES (one per placement kind ``toolkit validate`` accepts, and the filters the docs
name), and all the batch's commands run in one bash process, each in its own subshell the way Hail wraps a
job. Then, for every group: either it was refused with the reason the rules give (a leading '-' where an
option would be read, an output path that leaves its folder), or the program received exactly the intended
argv. Nothing else may exist afterwards: no canary, the victim intact, no file outside the outputs.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit.render import CommandContext, RenderError, render_command, render_output_path
from toolkit.spec._templates import command_placement_problems

FRAGMENTS = [
    "'", '"', "\\", "`touch pwned`", "$(touch pwned)", "; touch pwned;", "&& touch pwned", "| touch pwned",
    "\ntouch pwned\n", "\nEOF\ntouch pwned\n", "; rm -rf ../victim ~/victim;", "\r", "\t", " ", "#", "*", "?",
    "[a-z]", "{a,b}", "a,-rf", "~", "~/pwned", "$HOME", "${IFS}", "$'\\x41'", "!!", "-", "--", "-rf",
    "--output=pwned", "-v", ">pwned", "<", "&", "%", "=", "a[$(touch pwned)]", "$((1+1))", "..", "/", "\u00e9",
    "\U0001f600", "\u2028", "\u00a0", "__RESOURCE_FILE__0", "__JOB__1", "tkvabcn0x", "]", "(", "!",
]
_characters = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
hostile = st.lists(st.one_of(st.text(_characters, max_size=4), st.sampled_from(FRAGMENTS)), max_size=5).map("".join)
# Read names as Hail localises them: any file name under an absolute input folder.
read_name = hostile.map(lambda name: name.replace("/", "_")[:80] or "r").filter(lambda name: name not in (".", ".."))

ARGV_DUMP = "#!/bin/bash\nprintf '%s\\0' \"$@\"\n"


def _tojson(text: str) -> str:
    # Jinja's tojson: JSON with <, >, & and ' escaped for HTML.
    dumped = json.dumps(text)
    for character, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027")):
        dumped = dumped.replace(character, escape)
    return dumped


def _dash(*values: str) -> bool:
    return any(value.startswith("-") for value in values)


# (template, expected): expected(group, reads, label) -> the argv the program gets (all NUL-separated
# arguments the command writes), or None when the group must be refused because a metadata value would start
# an argument with '-' before any `--`.
TEMPLATES = {
    "arguments after --": (
        "argv-dump -- {{ reads[0] }} {{ reads[1] }} --id {{ group.id }} --note={{ group.note }} "
        "{{ params.label }} > {{ outputs.report }}",
        lambda g, r, p: ["--", r[0], r[1], "--id", g["id"], "--note=" + g["note"], p],
    ),
    "arguments before --": (
        "argv-dump {{ group.note }} {{ reads }} > {{ outputs.report }}",
        lambda g, r, p: None if _dash(g["note"]) else [g["note"], *r],
    ),
    "allow_leading_dash, joined words, params": (
        "argv-dump {{ group.note | allow_leading_dash }} x{{ group.id }}y {{ params.label }} > {{ outputs.report }}",
        lambda g, r, p: [g["note"], "x" + g["id"] + "y", p],
    ),
    "assignments": (
        "X={{ group.note }}\nexport Y={{ group.id }}\nargv-dump -- \"$X\" \"$Y\" > {{ outputs.report }}",
        lambda g, r, p: ["--", g["note"], g["id"]],
    ),
    "array elements": (
        "a=({{ reads }} {{ group.id | allow_leading_dash }})\nargv-dump -- \"${a[@]}\" > {{ outputs.report }}",
        lambda g, r, p: ["--", *r, g["id"]],
    ),
    "for words and join(' ')": (
        "for w in {{ group.note }} {{ reads | join(' ') }}; do printf '%s\\0' \"$w\"; done > {{ outputs.report }}",
        lambda g, r, p: None if _dash(g["note"]) else [g["note"], *r],
    ),
    "case subject, $( ) in quotes, join(',')": (
        "case {{ group.id }} in\n  *) argv-dump -- \"$(printf '%s' {{ group.note }})\" {{ reads | join(',') }};;\n"
        "esac > {{ outputs.report }}",
        lambda g, r, p: None if _dash(g["note"]) else ["--", g["note"].rstrip("\n"), ",".join(r)],
    ),
    "here-string": (
        "argv-dump -- \"$(cat <<< {{ group.note }}; echo .)\" > {{ outputs.report }}",
        lambda g, r, p: ["--", g["note"] + "\n."],
    ),
    "[ ] test operands": (
        "[ {{ group.id | allow_leading_dash }} = {{ group.id | allow_leading_dash }} ] "
        "&& argv-dump -- same > {{ outputs.report }}",
        lambda g, r, p: ["--", "same"],
    ),
    "argument on a heredoc's line": (
        "argv-dump -- {{ group.note }} > {{ outputs.report }} <<'EOF'\nbody\nEOF",
        lambda g, r, p: ["--", g["note"]],
    ),
    "loops and conditions, upper": (
        "{\n{% for read in reads %}argv-dump -- {{ read }} {{ loop.index }}\n{% endfor %}"
        "{% if group.note %}argv-dump -- {{ group.note | upper }}\n{% endif %}} > {{ outputs.report }}",
        lambda g, r, p: [a for i, read in enumerate(r) for a in ("--", read, str(i + 1))]
        + (["--", g["note"].upper()] if g["note"] else []),
    ),
    "arguments after a redirection's target": (
        "argv-dump 2> /dev/null {{ group.note }} > {{ outputs.report }} {{ group.id | allow_leading_dash }}",
        lambda g, r, p: None if _dash(g["note"]) else [g["note"], g["id"]],
    ),
    "a program behind wrappers": (
        "env LC_ALL=C timeout 60 argv-dump {{ group.note }} {{ reads[0] }} > {{ outputs.report }}",
        lambda g, r, p: None if _dash(g["note"]) else [g["note"], r[0]],
    ),
    "tojson, default, replace": (
        "argv-dump -- {{ group.note | tojson }} {{ group.missing | default(group.id) }} "
        "{{ group.note | replace('a', '-') }} > {{ outputs.report }}",
        lambda g, r, p: ["--", _tojson(g["note"]), g["id"], g["note"].replace("a", "-")],
    ),
}
OUTPUT_PATH = "out/{{ group.n }}/{{ group.id }}.argv"
GROUPS_PER_BATCH = 40


def test_every_template_here_is_one_validate_accepts():
    for name, (template, _expected) in TEMPLATES.items():
        assert command_placement_problems(template) == [], name


def _files_under(root: Path) -> set[str]:
    return {str(Path(folder, name).relative_to(root)) for folder, _, names in os.walk(root) for name in names}


def _argv(data: bytes) -> list[str]:
    assert data == b"" or data.endswith(b"\0"), data
    return [argument.decode("utf-8") for argument in data.split(b"\0")[:-1]]


def test_hostile_metadata_never_runs_and_each_group_runs_exactly_or_is_refused_with_its_reason():
    counts: Counter[str] = Counter()

    @settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(
        template_name=st.sampled_from(sorted(TEMPLATES)),
        label=hostile,
        groups=st.lists(st.tuples(hostile, hostile, read_name, read_name), min_size=GROUPS_PER_BATCH,
                        max_size=GROUPS_PER_BATCH),
    )
    def check(template_name, label, groups):
        template, expected_argv = TEMPLATES[template_name]
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            bin_dir, work = root / "bin", root / "work"
            bin_dir.mkdir()
            (bin_dir / "argv-dump").write_text(ARGV_DUMP)
            (bin_dir / "argv-dump").chmod(0o755)
            (root / "victim").mkdir()
            (root / "victim" / "keep").write_text("keep")
            (work / "out").mkdir(parents=True)
            script, expected, kept = [], {}, {"bin/argv-dump", "victim/keep"}
            for n, (group_id, note, read_1, read_2) in enumerate(groups):
                group = {"id": group_id, "note": note, "n": n}
                reads = [f"{work}/in/{read_1}", f"{work}/in/{read_2}"]
                context = CommandContext(reads=reads, group=group, params={"label": label})
                counts["values"] += 5  # id, note, two reads, and the output path made from the id
                try:
                    suffix = render_output_path(OUTPUT_PATH, context, name="outputs.report.path")
                except RenderError as error:
                    # Refused only for a reason the rules give: the id cannot be part of a relative path.
                    assert "output path" in error.problem, error.problem
                    assert group_id == "" or "/" in group_id or "." in group_id or not group_id.isprintable() \
                        or any(c in group_id for c in "\r\n\x1f\x7f\x85\u2028"), (group_id, error.problem)
                    counts["refused paths"] += 1
                    continue
                report = work / suffix
                assert report.resolve().is_relative_to(work / "out"), suffix
                context = CommandContext(
                    reads=reads, outputs={"report": str(report)}, group=group, params={"label": label}
                )
                wanted = expected_argv(group, reads, label)
                try:
                    command = render_command(template, context)
                except RenderError as error:
                    assert wanted is None, (template_name, group, error.problem)
                    assert "starts with '-'" in error.problem, error.problem
                    counts["refused commands"] += 1
                    continue
                assert wanted is not None, (template_name, group, command)
                report.parent.mkdir(parents=True, exist_ok=True)
                expected[report] = wanted
                kept.add(str(report.relative_to(root)))
                # As Hail runs a job: the command in braces; each group in a subshell of its own.
                script.append("(\n{\n{\n" + command + "\n}\n}\n)\n")
            env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(work), "LC_ALL": "C.UTF-8"}
            done = subprocess.run(["/bin/bash", "-c", "".join(script)], cwd=work, env=env, capture_output=True,
                                  timeout=120)
            assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
            for report, wanted in expected.items():
                assert _argv(report.read_bytes()) == wanted, (template_name, report)
            counts["ran"] += len(expected)
            assert _files_under(root) == kept, _files_under(root) ^ kept

    check()
    print(dict(counts))
    assert counts["values"] >= 10_000
    assert counts["ran"] > counts["refused commands"] > 0
