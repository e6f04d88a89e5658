"""Every example in docs/jobspec.md is a tested file (issue 8 item 6); every test docs/security.md names exists.

Each ```yaml block of the page is preceded by `<!-- example: PATH -->` and is a verbatim run of whole lines of
that file under docs/examples/; every example file validates without an error or a warning; the spec tests
of every example run and pass (on the host); the ```text block showing a failed test is what `toolkit test`
prints for that failure; and every `toolkit` command shown parses with the current CLI.
"""

from __future__ import annotations

import re
import shlex

import pytest

from tests.conftest import REPO
from toolkit.cli import build_parser

DOC = REPO / "docs" / "jobspec.md"
EXAMPLES = sorted((REPO / "docs" / "examples").glob("*.yaml"))
FENCE = re.compile(r"(?:<!-- example: (?P<file>\S+) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)```", re.S)


def blocks(lang: str) -> list[re.Match]:
    return [match for match in FENCE.finditer(DOC.read_text()) if match.group("lang") == lang]


def test_every_yaml_example_in_the_docs_is_a_run_of_lines_of_an_example_file():
    yaml_blocks = blocks("yaml")
    assert len(yaml_blocks) >= 2
    shown = set()
    for block in yaml_blocks:
        assert block.group("file"), f"a yaml block without an `<!-- example: PATH -->` line:\n{block.group('body')[:200]}"
        example = REPO / block.group("file")
        assert example in EXAMPLES, f"{block.group('file')} is not a file under docs/examples/"
        assert ("\n" + block.group("body")) in ("\n" + example.read_text()), (
            f"the block shown for {block.group('file')} is not a run of that file's lines"
        )
        shown.add(example)
    assert shown == set(EXAMPLES), "every example file is shown in the docs"


def test_every_example_validates_without_errors_or_warnings(toolkit):
    done = toolkit.run("validate", *[str(path) for path in EXAMPLES])
    assert done.stderr == ""
    assert len(done.stdout.splitlines()) == len(EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_the_spec_tests_of_every_example_pass(toolkit, example):
    done = toolkit.run("test", str(example), "--host")
    passed = re.findall(r"^  PASS (\S+) ", done.stdout, re.MULTILINE)
    assert passed and f"{len(passed)} of {len(passed)} spec test" in done.stdout, done.stdout


def test_the_failed_test_shown_in_the_docs_is_what_toolkit_test_prints(toolkit, tmp_path):
    (shown,) = blocks("text")
    wanted = re.search(r"does not contain '(.*)'", shown.group("body")).group(1).replace("\\t", "\t")
    example = (REPO / "docs" / "examples" / "read-counts.yaml").read_text()
    spec = tmp_path / "read-counts.yaml"
    spec.write_text(example.replace("../../", f"{REPO}/").replace(
        'contains: ["tiny_R1.fastq.gz\\t8"]', f'contains: ["{wanted}"]'.replace("\t", "\\t"), 1))
    done = toolkit.run("test", str(spec), "--host", check=5)
    assert shown.group("body") in done.stdout, done.stdout


def test_every_toolkit_command_shown_parses_with_the_current_cli():
    parser = build_parser()
    commands = [
        shlex.split(line, comments=True)[1:]
        for block in blocks("sh")
        for line in block.group("body").splitlines()
        if line.startswith("toolkit ")
    ]
    assert len(commands) >= 3
    for words in commands:
        parser.parse_args([word if word != "SPEC" else "spec.yaml" for word in words])


def test_every_test_and_module_docs_security_md_names_exists():
    """docs/security.md backs each guarantee with tests: the files (and test functions) it names must exist."""
    text = (REPO / "docs" / "security.md").read_text()
    named = re.findall(r"`((?:tests|toolkit)/[\w/]+\.py)`", text)
    assert len(named) >= 20
    for path in named:
        assert (REPO / path).is_file(), path
    for module, function in re.findall(r"`([\w]+\.py)::(test_\w+)`", text):
        (path,) = [p for p in REPO.glob(f"tests/**/{module}")]
        assert f"def {function}(" in path.read_text(), (module, function)
    assert "docs/security.md" in (REPO / "README.md").read_text()
