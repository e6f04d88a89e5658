"""`toolkit validate` checks a spec's `tests:` against the rest of the spec, with positions: before this, an
undeclared param was silently ignored, a missing group field or a bad regular expression surfaced only when
`toolkit test` ran (the regular expression as exit 70). A missing fixture is a warning: only `toolkit test`
needs it."""

from __future__ import annotations

import re

from tests.conftest import REPO

EXAMPLE = REPO / "docs" / "examples" / "read-counts.yaml"


def test_every_mistake_in_a_spec_test_is_a_positioned_error(toolkit, tmp_path):
    text = EXAMPLE.read_text().replace("../../", f"{REPO}/")
    text = text.replace("      fields: {sample: S1}                # group.NAME", "      fields: {}  # group.NAME")
    text = text.replace("params: {min_reads: 8}", "params: {min_reads: many, max_reads: 3}")
    text = text.replace("jobspecs/fixtures/fastqe/tiny_R2.fastq.gz", "jobspecs/fixtures/fastqe/tiny_R9.fastq.gz")
    text = text.replace(r"matches: ['^tiny_R2\.fastq\.gz\t8$']", "matches: ['(unclosed']")
    text = text.replace("      counts: {exists: true, lines: 1}", "      count: {exists: true, lines: 1}")
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    lines = text.splitlines()

    def at(needle: str, occurrence: str | None = None) -> str:
        number = next(i for i, line in enumerate(lines) if needle in line and (occurrence or "") in line)
        return f"{spec}:{number + 1}:{lines[number].index(occurrence or needle) + 1}"

    done = toolkit.run("validate", str(spec), check=2)
    errors = re.findall(r"^(\S+:\d+:\d+): (error|warning): (.*)$", done.stderr, re.MULTILINE)
    assert [(where, message) for where, severity, message in errors if severity == "warning"] == [
        (at("tiny_R9", f"{REPO}/"), f"fixture '{REPO}/jobspecs/fixtures/fastqe/tiny_R9.fastq.gz' is not a file (looked "
                                    f"for {REPO}/jobspecs/fixtures/fastqe/tiny_R9.fastq.gz): `toolkit test` fails this test"),
    ]
    assert [(where, message) for where, severity, message in errors if severity == "error"] == [
        (at("fields: {}"), "tests[0].group.fields lacks 'sample': inputs.fields declares it, so the templates may use "
                           "it (give each test group every field)"),
        (at("params: {min_reads", "many"), "tests[0].params.min_reads: 'many' is not of type int"),
        (at("params: {min_reads", "max_reads"), "tests[0].params.max_reads is not a declared param (min_reads)"),
        (at("(unclosed", "'(unclosed"), "tests[0].expect.counts.matches[0]: not a regular expression (missing ), unterminated "
                          "subpattern at position 0)"),
        (at("count: {exists"), "tests[1].expect.count names an output that is not declared (outputs: counts)"),
    ]
