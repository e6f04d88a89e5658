"""The offline check of where a command template's values land (toolkit/spec/_templates.py + toolkit/shell.py)."""

from __future__ import annotations

import pytest

from toolkit.spec._templates import command_placement_problems


def _errors(template: str) -> list[tuple[int, int, int | None, str]]:
    return [(p.line, p.column, p.length, p.message) for p in command_placement_problems(template)
            if p.severity == "error"]


def test_positions_point_at_the_tag_through_comments_raw_blocks_and_whitespace_control():
    template = "{# a comment {{ x }} #}tool {% raw %}{{ not a value }}{% endraw %} \\\n  -o\n  '{{- group.id -}}'"
    [(line, column, length, message)] = _errors(template)
    assert (line, column, length) == (3, 4, len("{{- group.id -}}"))
    assert message.startswith("{{- group.id -}} is inside single quotes")


@pytest.mark.parametrize("template", [
    "tool {{ reads[0] }} > {{ outputs.report }} 2>&1 | gzip -c",
    "x=$(basename {{ reads[0] }} .fq.gz)\ntool --name \"$x\" -- {{ group.id }}",
    "for r in {{ reads }}; do tool -- \"$r\"; done",
    "if [ {{ params.n }} -gt 0 ]; then tool {{ reads | join(',') }}; fi",
    "tool <(zcat {{ reads[0] }}) --tag={{ group.id }} {{ group.id }}.bam",
    "cat <<'EOF' > cfg\nliteral $text\nEOF\ntool --config cfg {{ reads[0] }}",
])
def test_plain_words_are_accepted(template):
    assert command_placement_problems(template) == []


def test_a_template_with_blocks_that_is_not_shell_without_them_gets_a_warning_not_an_error():
    template = "tool {% for r in reads %}{{ r }}{% if not loop.last %} |{% endif %}{% endfor %}"
    [problem] = command_placement_problems(template)
    assert problem.severity == "warning"
    assert "checked when the plan is made" in problem.message


def test_a_template_without_blocks_must_be_valid_shell():
    [problem] = command_placement_problems('tool {{ reads[0] }} "unterminated')
    assert problem.severity == "error" and "not valid shell" in problem.message


# Found by the audit of issue 7: the program that reads a value was taken to be the command's first word, so a
# wrapped shell (`nohup sh -c {{ v }}`) ran metadata as code; a value after a redirection's target was taken for
# another target, though bash passes it to the command (`sort 2>/dev/null {{ v }}` let `--output=/x` through,
# `exec 3>/dev/null {{ v }}` ran it); `find -exec {{ v }}` and `timeout -s KILL 5 {{ v }}` chose the program.
@pytest.mark.parametrize(("template", "reason"), [
    ("nohup sh -c {{ group.note }}", "in a sh -c command"),
    ("env sh -c {{ group.note }}", "in a sh -c command"),
    ("env -u HOME LC_ALL=C bash -c {{ group.note }}", "in a bash -c command"),
    ("timeout 60 bash -c {{ group.note }}", "in a bash -c command"),
    ("xargs -0 -I {} sh -c {{ group.note }}", "in a sh -c command"),
    ("sudo -u nobody sh -c {{ group.note }}", "in a sh -c command"),
    ("find . -exec sh -c {{ group.note }} \\;", "in a sh -c command"),
    ("find . -name x -exec {{ group.note }} \\;", "where find -exec expects the program it runs"),
    ("find . -execdir {{ group.note }} {} +", "where find -execdir expects the program it runs"),
    ("timeout -s KILL 5 {{ group.note }}", "where timeout expects the program it runs"),
    ("env -u HOME {{ group.note }}", "where env expects the program it runs"),
    ("xargs -I {} {{ group.note }}", "where xargs expects the program it runs"),
    ("chroot /srv {{ group.note }}", "where chroot expects the program it runs"),
    ("nohup nice -n 5 {{ group.note }}", "where nice expects the program it runs"),
    ("su nobody -c {{ group.note }}", "the command su -c runs"),
    ("tool > out.txt; exec 3> /dev/null {{ group.note }}", "an argument of exec"),
    ("{ tool; } > out.txt {{ group.note }}", "after a redirection's target"),
])
def test_values_a_wrapped_program_runs_as_code_or_as_its_program_are_refused(template, reason):
    [(_line, _column, _length, message)] = _errors(template)
    assert reason in message, message


@pytest.mark.parametrize("template", [
    "timeout -s KILL 5 sort -- {{ group.note }}",
    "xargs -0 echo {{ group.note }}",
    "env LC_ALL=C sort -k1 -- {{ group.note }}",
    "find . -exec echo {} \\; -name {{ group.note }}",
    "find {{ reads[0] }} -name x",
    "sort > out.txt -- {{ group.note }}",
    "sort -- {{ group.note }} 2> /dev/null > {{ outputs.report }}",
    "tool 2>&1 > {{ outputs.report }}",
])
def test_wrapped_programs_and_redirections_still_take_plain_values(template):
    assert _errors(template) == []
