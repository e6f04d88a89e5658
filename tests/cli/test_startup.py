"""Start-up: building the CLI (what `toolkit --help` and every verb do first) imports nothing heavy."""

from __future__ import annotations

import subprocess
import sys

HEAVY = {"hail", "hailtop", "docker", "metamist", "cpg_utils", "uvicorn", "starlette", "graphql", "requests",
         "matplotlib", "jinja2", "selenium"}


def test_building_the_cli_imports_no_heavy_module():
    script = (
        "import sys\n"
        "from toolkit.cli import build_parser\n"
        "build_parser().parse_args(['validate', 'x.yaml'])\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {HEAVY!r}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_version_answers_without_a_traceback():
    done = subprocess.run([sys.executable, "-m", "toolkit", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("toolkit ")
