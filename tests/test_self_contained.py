"""The suite runs in a plain clone: no test reads reference data from beside the repository (../shared)."""

from __future__ import annotations

import re

from tests.conftest import REPO

OUTSIDE = re.compile(r"""["']/work/shared|parents\[\d\]\s*/\s*["']shared["']|\.parent\s*/\s*["']shared["']|/ "shared" /""")


def test_no_test_reads_from_the_shared_folder_beside_the_repository():
    offenders = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in sorted((REPO / "tests").rglob("*.py"))
        if path.name != "test_self_contained.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if OUTSIDE.search(line)
    ]
    assert offenders == [], "copy what they need under tests/data/:\n" + "\n".join(offenders)
    assert (REPO / "tests" / "data" / "metamist-golden" / "graphql.json").is_file()
