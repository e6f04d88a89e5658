"""Every file in broken/ is a jobspec with known mistakes; its header says which errors, where.

Header lines ``# expect: LINE:COLUMN message-substring`` list the errors, all of which must be reported, at
exactly that position, and nothing else may be reported as an error (warnings are free unless listed with
``# expect-warning:``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from toolkit.errors import EXIT_SPEC, SpecError
from toolkit.spec import load_spec

BROKEN = Path(__file__).parent / "broken"
EXPECT = re.compile(r"^# expect(-warning)?: (\d+):(\d+) (.+)$")
CORPUS = sorted(BROKEN.glob("*.yaml"))


def expectations(path: Path) -> list[tuple[str, int, int, str]]:
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = EXPECT.match(line)
        if match:
            severity = "warning" if match.group(1) else "error"
            found.append((severity, int(match.group(2)), int(match.group(3)), match.group(4)))
    return found


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 15
    assert all(expectations(path) for path in CORPUS), "every broken spec states what it expects"


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_broken_spec_reports_expected_errors(path: Path):
    expected = expectations(path)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    error = caught.value
    assert error.exit_code == EXIT_SPEC
    reported = [(d.severity, d.line, d.column, d.message) for d in error.diagnostics]
    for severity, line, column, text in expected:
        matches = [r for r in reported if r[:3] == (severity, line, column) and text in r[3]]
        assert matches, f"expected {severity} at {line}:{column} containing {text!r}; reported:\n" + "\n".join(
            f"  {r[0]} {r[1]}:{r[2]} {r[3]}" for r in reported
        )
    errors = [r for r in reported if r[0] == "error"]
    assert len(errors) == sum(1 for e in expected if e[0] == "error"), f"unexpected extra errors: {errors}"
    assert all(d.file == str(path) for d in error.diagnostics)

    rendered = error.render()
    first = expected[0]
    assert f"{path}:{first[1]}:{first[2]}: error: " in rendered
    assert "^" in rendered
    assert "Traceback" not in rendered


def test_several_errors_render_together_in_position_order():
    path = BROKEN / "several_errors.yaml"
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    rendered = caught.value.render()
    headers = [line for line in rendered.splitlines() if re.match(rf"{re.escape(str(path))}:\d+:\d+: error:", line)]
    assert len(headers) == 5
    positions = [tuple(map(int, re.match(r".*?:(\d+):(\d+):", h).groups())) for h in headers]
    assert positions == sorted(positions)
    assert rendered.splitlines()[-1].startswith("5 errors")


def test_underline_spans_the_offending_token():
    path = BROKEN / "unknown_output_attribute.yaml"
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    lines = caught.value.render().splitlines()
    header = next(i for i, line in enumerate(lines) if "unknown output 'reprot'" in line)
    source, underline = lines[header + 1], lines[header + 2]
    start = underline.index("^")
    assert source[start : start + len(underline.strip())] == "reprot"
    assert underline.strip() == "^~~~~~"
