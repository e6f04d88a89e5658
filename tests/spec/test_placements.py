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
