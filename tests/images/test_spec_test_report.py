"""What `toolkit test` shows when a content check fails: the start of what the output held, escaped (issue 8
item 6). Through the real CLI, on the host, with the read-counts example of docs/jobspec.md."""

from __future__ import annotations

from tests.conftest import REPO

EXAMPLE = REPO / "docs" / "examples" / "read-counts.yaml"
COMMAND = """\
command: |
  printf 'esc\\033[31mred\\tcolumn\\n' > {{ outputs.counts }}
  seq 1 25 >> {{ outputs.counts }}
"""


def spec_writing_26_lines(tmp_path, expectation: str):
    text = EXAMPLE.read_text().replace("../../", f"{REPO}/")
    start, end = text.index("command: |"), text.index("\noutputs:")
    text = text[:start] + COMMAND + text[end:]
    start, end = text.index("        contains:"), text.index("  - name: single-file")
    spec = tmp_path / "spec.yaml"
    spec.write_text(text[:start] + expectation + text[end:])
    return spec


def test_a_failed_lines_check_shows_the_first_ten_lines_escaped_and_that_there_is_more(toolkit, tmp_path):
    spec = spec_writing_26_lines(tmp_path, "        lines: 3\n")
    done = toolkit.run("test", str(spec), "--host", check=5)
    lines = done.stdout.splitlines()
    start = lines.index("  FAIL tiny-pair")
    assert lines[start + 1:start + 14] == [
        "    - output counts: 26 lines, expected 3",
        "    - output counts holds 85 characters in 26 lines; it starts with:",
        "        > esc\\x1b[31mred\\tcolumn",
        *[f"        > {number}" for number in range(1, 10)],
        "        > ...",
    ]
    assert "\x1b" not in done.stdout


def test_every_failed_content_check_is_listed_before_one_view_of_the_file(toolkit, tmp_path):
    spec = spec_writing_26_lines(tmp_path, '        contains: ["26"]\n        matches: ["^0$"]\n        min_size: 1\n')
    done = toolkit.run("test", str(spec), "--host", check=5)
    lines = done.stdout.splitlines()
    start = lines.index("  FAIL tiny-pair")
    assert lines[start + 1:start + 4] == [
        "    - output counts: does not contain '26'",
        "    - output counts: no match for /^0$/",
        "    - output counts holds 85 characters in 26 lines; it starts with:",
    ]
    tiny_pair = done.stdout.split("  FAIL tiny-pair")[1].split("  FAIL single-file")[0]
    assert tiny_pair.count("it starts with:") == 1
