"""``toolkit validate`` as a user runs it: a subprocess, its exit code and what it prints."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FASTQE = REPO / "jobspecs" / "fastqe.yaml"
BROKEN = Path(__file__).parent / "broken"


def toolkit(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "toolkit", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_valid_spec_prints_ok():
    result = toolkit("validate", "jobspecs/fastqe.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok: jobspecs/fastqe.yaml (fastqe, image fastqe:0.3.1-1, 2 outputs)"
    assert result.stderr == ""


def test_broken_spec_exits_2_with_underlined_source():
    spec = BROKEN / "unknown_key_top.yaml"
    result = toolkit("validate", str(spec))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith(f"{spec}:24:1: error: unknown key 'comand'"))
    assert lines[header + 1] == "comand: |"
    assert lines[header + 2] == "^~~~~~"
    assert lines[-1] == "2 errors"


def test_several_specs_at_once_report_every_broken_one():
    result = toolkit("validate", "jobspecs/fastqe.yaml", str(BROKEN / "bad_image_tag.yaml"),
                     str(BROKEN / "missing_dockerfile.yaml"))
    assert result.returncode == 2
    assert "ok: jobspecs/fastqe.yaml" in result.stdout
    assert "bad_image_tag.yaml:7:8: error:" in result.stderr
    assert "missing_dockerfile.yaml:8:15: error:" in result.stderr


def test_files_that_are_not_jobspecs_never_give_a_traceback(tmp_path):
    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "folder.yaml").mkdir()
    for name in ("missing.yaml", "latin1.yaml", "empty.yaml", "list.yaml", "folder.yaml"):
        result = toolkit("validate", name, cwd=tmp_path)
        assert result.returncode == 2, (name, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        assert result.stderr.startswith(f"{name}:"), result.stderr


def test_every_corpus_file_fails_cleanly_from_the_command_line():
    result = toolkit("validate", *[str(p) for p in sorted(BROKEN.glob("*.yaml"))])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_validate_stays_light():
    """Validation must not pull in hail, metamist, docker or the server stack (they cost seconds)."""
    probe = (
        "import json, sys, time\n"
        "start = time.perf_counter()\n"
        "from toolkit.cli import main\n"
        "code = main(['validate', 'jobspecs/fastqe.yaml'])\n"
        "elapsed = time.perf_counter() - start\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'hail', 'hailtop', 'metamist', 'docker', 'cpg_utils', 'uvicorn', 'starlette', 'requests', 'aiohttp'})\n"
        "print(json.dumps({'code': code, 'heavy': heavy, 'seconds': elapsed}))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["code"] == 0, result.stderr
    assert report["heavy"] == []
    assert report["seconds"] < 3.0


def test_validate_wall_clock():
    start = time.perf_counter()
    result = toolkit("validate", "jobspecs/fastqe.yaml")
    elapsed = time.perf_counter() - start
    assert result.returncode == 0
    assert elapsed < 5.0, f"toolkit validate took {elapsed:.2f}s"


# The line after fastqe.yaml's command (1-based): where _spec_with_command puts the command it adds.
ADDED_LINE = next(number for number, line in enumerate(FASTQE.read_text().splitlines(), start=1)
                  if line.startswith("  fastqe-report ")) + 1


def _spec_with_command(tmp_path: Path, command: str) -> Path:
    text = FASTQE.read_text().replace("../dockerfiles/", f"{REPO}/dockerfiles/")
    original = "fastqe-report --html {{ outputs.report }} --metrics {{ outputs.metrics }} -- {{ reads[0] }} {{ reads[1] }}"
    assert original in text
    spec = tmp_path / "spec.yaml"
    spec.write_text(text.replace(original, original + "\n  " + command))
    return spec


def test_a_value_inside_author_quotes_is_a_positioned_error_that_says_how_to_write_it(tmp_path):
    spec = _spec_with_command(tmp_path, "echo 'sample {{ group.id }}'")
    result = toolkit("validate", str(spec))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{spec}:{ADDED_LINE}:16: error: {{{{ group.id }}}} is inside single quotes: remove the quotes")
    assert lines[1:3] == ["  echo 'sample {{ group.id }}'", "               ^~~~~~~~~~~~~~"]


def test_templates_that_would_exhaust_the_machine_fail_validation_at_once(tmp_path):
    for command in (
        "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
        "echo {{ 'a' * 10**9 }}",
        "echo {% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    ):
        result = toolkit("validate", str(_spec_with_command(tmp_path, command)))
        assert result.returncode == 2, (command, result.stderr)
        assert "Traceback" not in result.stderr
        assert f":{ADDED_LINE}:" in result.stderr.splitlines()[0], result.stderr
        assert "a group's render may not take more" in result.stderr
