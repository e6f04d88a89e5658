"""A fuzz sweep: mutated versions of the bundled spec and of every broken-corpus spec never crash the loader.

Each mutant either loads or is refused with diagnostics inside the file (exit 2 on the command line), never
an exception of another kind (exit 70) and never a traceback. Mutations mix plain edits (insert, delete,
duplicate, swap, re-indent, truncate, nest) with the hostile YAML of issue 7 (anchors and aliases, tags, directives,
deep brackets, huge numbers, impossible dates, control characters, invalid UTF-8).
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO
from toolkit.errors import SpecError
from toolkit.spec import load_spec
from toolkit.spec.diagnostics import split_lines

SEEDS = [REPO / "jobspecs" / "fastqe.yaml", *sorted((Path(__file__).parent / "broken").glob("*.yaml"))]
SEED_TEXTS = [path.read_bytes() for path in SEEDS]

TOKENS = [
    "&a ", "*a", "&a [*a]", "&b {k: *b}", "<<: *a\n", "[", "]", "{", "}", ": ", "- ", "? ", ",", "|", ">", "|-\n",
    "!!binary ", "!!python/object:os.system ", "!custom ", "!!timestamp ", "!!int ", "%YAML 1.1\n", "%TAG ! x\n",
    "---\n", "...\n", "\t", '"', "'", "#", "\\", "@", "`", "\x00", "\x1b[31m", "\ufeff", "\u2028", "\r", "\r\n",
    "9" * 5000, "0b" + "1" * 300, "0x" + "f" * 80, "1e400", "-1e400", ".nan", "-.inf", "2020-13-45", "2020-02-30 25:61",
    "~", "null", "yes", "0o17", "1_000", "{{", "}}", "{%", "%}", "{#",
    "\n  extra: 1\n", "\nregister: {x: {type: web}}\n", "version: 2\n", "é", "😀", "\udcff",
]
MUTATIONS = ("insert", "delete", "duplicate", "swap", "indent", "truncate", "repeat", "nest", "bytes")


def mutate(raw: bytes, mutation: tuple[str, float, float, int]) -> bytes:
    """One deterministic edit: (kind, position in [0, 1), second position in [0, 1), a small number)."""
    kind, where, other, number = mutation
    text = raw.decode("utf-8", errors="surrogateescape")
    lines = text.split("\n")
    at = int(where * (len(text) + 1))
    line = int(where * len(lines))
    other_line = int(other * len(lines))
    if kind == "insert":
        text = text[:at] + TOKENS[number % len(TOKENS)] + text[at:]
    elif kind == "delete":
        text = text[:at] + text[at + number:]
    elif kind == "duplicate":
        lines.insert(line, lines[other_line])
        text = "\n".join(lines)
    elif kind == "swap":
        lines[line], lines[other_line] = lines[other_line], lines[line]
        text = "\n".join(lines)
    elif kind == "indent":
        lines[line] = (" " * (number % 7) + lines[line].lstrip(" ")) if number % 2 else lines[line][number % 5:]
        text = "\n".join(lines)
    elif kind == "truncate":
        text = text[:at]
    elif kind == "nest":  # a line's value wrapped in flow lists or mappings, up to beyond MAX_DEPTH
        key, colon, value = lines[line].partition(": ")
        depth = number % 80
        opening, closing = ("[" * depth, "]" * depth) if other < 0.5 else ("{a: " * depth, "}" * depth)
        lines[line] = f"{key}{colon}{opening}{value}{closing}" if colon else f"{opening}{key}{closing}"
        text = "\n".join(lines)
    elif kind == "repeat":
        lines[line:line + 1] = [lines[line]] * (number * 40)
        text = "\n".join(lines)
    elif kind == "bytes":
        return raw[:at] + bytes([0x80 + number % 128]) + raw[at:]
    return text.encode("utf-8", errors="surrogateescape")


def check_mutant(raw: bytes, path: Path) -> None:
    path.write_bytes(raw)
    try:
        load_spec(path)
    except SpecError as error:
        assert error.diagnostics
        line_count = len(split_lines(raw.decode("utf-8", errors="replace")))
        for diagnostic in error.diagnostics:
            assert diagnostic.file == str(path)
            assert 0 <= diagnostic.line <= line_count, diagnostic
            assert (diagnostic.line == 0) == (diagnostic.column == 0), diagnostic
        rendered = error.render()
        assert "Traceback" not in rendered


mutation_strategy = st.tuples(
    st.sampled_from(MUTATIONS), st.floats(0, 1, exclude_max=True), st.floats(0, 1, exclude_max=True),
    st.integers(0, 200),
)


@pytest.mark.timeout(900)  # a guard against a hang, not a measurement
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(seed=st.sampled_from(range(len(SEEDS))), mutations=st.lists(mutation_strategy, min_size=1, max_size=6))
def test_mutated_specs_load_or_fail_with_positioned_diagnostics(tmp_path, seed, mutations):
    raw = SEED_TEXTS[seed]
    for mutation in mutations:
        raw = mutate(raw, mutation)
    check_mutant(raw, tmp_path / "mutant.yaml")


def test_mutants_through_the_command_line_never_exit_70(tmp_path):
    """The same mutations, a fixed sample of them, through `toolkit validate` as a user runs it."""
    chooser = random.Random(7)
    paths = []
    for index in range(300):
        raw = SEED_TEXTS[index % len(SEEDS)]
        for _ in range(chooser.randint(1, 6)):
            raw = mutate(raw, (chooser.choice(MUTATIONS), chooser.random(), chooser.random(), chooser.randint(0, 200)))
        path = tmp_path / f"mutant{index:03d}.yaml"
        path.write_bytes(raw)
        paths.append(str(path))
    done = subprocess.run([sys.executable, "-m", "toolkit", "validate", *paths], cwd=REPO, capture_output=True,
                          text=True, errors="replace", timeout=600)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr, done.stderr[-3000:]
    reported = {line.split(":", 1)[0] for line in done.stderr.splitlines() if line.startswith(str(tmp_path))}
    passed = {line.split(" ", 2)[1] for line in done.stdout.splitlines() if line.startswith("ok: ")}
    assert reported | passed == set(paths)
