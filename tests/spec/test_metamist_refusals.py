"""What Metamist would refuse after the jobs ran is found before anything runs (issue 8 item 5).

An Analysis type Metamist does not ship: `validate` warns offline at register.NAME.type; `plan` and `run` ask
the server and refuse it there, as a positioned spec error, before a job is submitted. An output category
whose storage root gives registration URIs without a scheme (Metamist refuses those) or that has no storage
root at all: the same, at outputs.NAME.category. Through the real CLI and the embedded server over HTTP.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO
from toolkit.metamist_types import shipped_analysis_types

FASTQE = REPO / "jobspecs" / "fastqe.yaml"
_LINES = FASTQE.read_text().splitlines()
# Where `    type: web` and `    category: web` are in jobspecs/fastqe.yaml (1-based), and their values' columns.
TYPE_LINE, TYPE_COLUMN = _LINES.index("    type: web") + 1, 11
CATEGORY_LINE, CATEGORY_COLUMN = _LINES.index("    category: web") + 1, 15

CONFIG = """
[workflow]
dataset = "sandbox"
access_level = "test"
output_prefix = "toolkit"
driver_image = ""

[hail]
backend = "local"

[storage.default]
default = "{buckets}/main"
web = "{web}"
analysis = "{buckets}/analysis"
web_url = "http://127.0.0.1:{port}/web"

[toolkit]
metamist_url = "embedded"
"""


def spec_copy(folder: Path, old: str = "", new: str = "") -> Path:
    """jobspecs/fastqe.yaml in another folder (its Dockerfile and fixture paths made absolute), with one edit."""
    text = FASTQE.read_text().replace("../dockerfiles/", f"{REPO}/dockerfiles/").replace(
        "fixtures/fastqe/", f"{REPO}/jobspecs/fixtures/fastqe/")
    assert FASTQE.read_text().splitlines()[TYPE_LINE - 1] == "    type: web"
    assert FASTQE.read_text().splitlines()[CATEGORY_LINE - 1] == "    category: web"
    if old:
        assert old in text
        text = text.replace(old, new, 1)
    path = folder / "spec.yaml"
    path.write_text(text)
    return path


def test_validate_warns_offline_about_a_type_metamist_does_not_ship(toolkit, tmp_path):
    spec = spec_copy(tmp_path, "    type: web", "    type: webb")
    done = toolkit.run("validate", str(spec))
    assert done.stdout.startswith(f"ok: {spec}")
    assert done.stderr.splitlines() == [
        f"{spec}:{TYPE_LINE}:{TYPE_COLUMN}: warning: register.report.type: 'webb' is not an Analysis type Metamist "
        f"ships (did you mean 'web'? types: {', '.join(shipped_analysis_types())}); registering fails unless your "
        "Metamist added it (`toolkit plan` asks it)",
        "    type: webb",
        "          ^~~~",
        "1 warning",
    ]


@pytest.mark.parametrize("kind", shipped_analysis_types())
def test_every_type_metamist_ships_validates_without_a_warning(toolkit, tmp_path, kind):
    spec = spec_copy(tmp_path, "    type: web", f"    type: {kind}")
    assert toolkit.run("validate", str(spec)).stderr == ""


@pytest.mark.parametrize("verb", ["plan", "run"])
def test_plan_and_run_refuse_a_type_the_server_does_not_know_before_anything_runs(toolkit, tmp_path, verb):
    spec = spec_copy(tmp_path, "    type: web", "    type: fastqe-report")
    done = toolkit.run(verb, str(spec), "--execution", "host", check=2)
    assert (f"{spec}:{TYPE_LINE}:{TYPE_COLUMN}: error: register.report.type: Metamist at http://127.0.0.1:"
            in done.stderr)
    assert (f" has no Analysis type 'fastqe-report' (it has: {', '.join(shipped_analysis_types())}); every "
            "registration would fail after the jobs ran\n    type: fastqe-report\n          ^~~~~~~~~~~~~\n1 error"
            in done.stderr)
    assert not toolkit.web_bucket.exists(), "nothing may run or be written"
    assert toolkit.json("outputs", str(spec), "--format", "json")["analyses"] == []


def test_plan_accepts_the_types_the_server_knows(toolkit, tmp_path):
    spec = spec_copy(tmp_path, "    type: web", "    type: qc")
    plan = toolkit.json("plan", str(spec), "--format", "json", "--execution", "host")
    assert {r["type"] for job in plan["jobs"] for r in job["registrations"]} == {"qc"}


def error_block(stderr: str, spec: Path) -> list[str]:
    """The first diagnostic about ``spec``: its header, source line and underline (run prints steps before)."""
    lines = stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{spec}:"))
    return lines[start:start + 3]


def config_file(toolkit, tmp_path: Path, web_root: str) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(buckets=tmp_path / "buckets", web=web_root, port=toolkit.port))
    return config


def test_a_storage_root_that_gives_uris_without_a_scheme_is_refused_at_plan_time(toolkit, tmp_path):
    # "://" in a local folder's name: the destination looks like a URI, so it is registered as it is, and
    # urlparse (what Metamist checks) finds no scheme in "/...:/web".
    web_root = f"{tmp_path}/web folder://reports"
    config = config_file(toolkit, tmp_path, web_root)
    spec = spec_copy(tmp_path)
    for verb in ("plan", "run"):
        done = toolkit.run(verb, str(spec), "--execution", "host", check=2, extra_env={"CPG_CONFIG_PATH": str(config)})
        assert error_block(done.stderr, spec) == [
            f"{spec}:{CATEGORY_LINE}:{CATEGORY_COLUMN}: error: outputs.report.category: category 'web' stores under "
            f"'{web_root}/toolkit/', so outputs would be registered as '{web_root}/toolkit/example', which has no "
            "URI scheme: Metamist refuses an output without one (fix the category's storage root in the cpg-utils "
            "config)",
            "    category: web",
            "              ^~~",
        ]
    assert not (tmp_path / "web folder:").exists(), "nothing may run or be written"


def test_a_category_without_storage_is_refused_at_plan_time(toolkit, tmp_path):
    config = config_file(toolkit, tmp_path, f"{tmp_path}/web")
    spec = spec_copy(tmp_path, "    category: web", "    category: upload")
    done = toolkit.run("plan", str(spec), check=2, extra_env={"CPG_CONFIG_PATH": str(config)})
    assert error_block(done.stderr, spec) == [
        f"{spec}:{CATEGORY_LINE}:{CATEGORY_COLUMN}: error: outputs.report.category: the cpg-utils config has no "
        "storage for category 'upload' (its [storage] section has: analysis, default, web)",
        "    category: upload",
        "              ^~~~~~",
    ]


def test_local_storage_roots_are_registered_as_file_uris_and_accepted(toolkit, tmp_path):
    config = config_file(toolkit, tmp_path, f"{tmp_path}/web")
    plan = toolkit.json("plan", str(spec_copy(tmp_path)), "--format", "json", "--execution", "host",
                        extra_env={"CPG_CONFIG_PATH": str(config)})
    uris = [r["output_uri"] for job in plan["jobs"] for r in job["registrations"]]
    assert len(uris) == 3 and all(uri.startswith(f"file://{tmp_path}/web/toolkit/fastqe/") for uri in uris)
