"""toolkit.cpg_config reads the cpg-utils configuration as cpg-utils does: same merge, same output paths, same
files for both whatever the order in which they are imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import toml
from cpg_utils import config as cpg_utils_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit import cpg_config

REPO = Path(__file__).resolve().parents[1]

BASE = {
    "workflow": {"dataset": "fewgenomes", "access_level": "test", "output_prefix": "toolkit/fastqe/v1"},
    "storage": {
        "default": {
            "default": "gs://cpg-fewgenomes-test",
            "web": "gs://cpg-fewgenomes-test-web",
            "tmp": "gs://cpg-fewgenomes-test-tmp",
            "web_url": "https://test-web.populationgenomics.org.au/fewgenomes",
        },
    },
}


@pytest.fixture(autouse=True)
def _restore_config_state(monkeypatch):
    """Both readers keep per-process state: leave it as it was for the next test."""
    monkeypatch.setattr(cpg_config, "_active", None)
    monkeypatch.setattr(cpg_utils_config, "_config_paths", [])
    monkeypatch.setattr(cpg_utils_config, "_config", None)
    monkeypatch.delenv("CPG_CONFIG_PATH", raising=False)


def _write(folder: Path, name: str, data: dict) -> str:
    path = folder / name
    path.write_text(toml.dumps(data))
    return str(path)


def _cpg_utils_output_path(paths: list[str], suffix: str, category: str | None):
    cpg_utils_config.set_config_paths(paths)
    cpg_utils_config._config = None  # noqa: SLF001 - read these files, whatever an earlier case cached
    try:
        return cpg_utils_config.output_path(suffix, category)
    except (cpg_utils_config.ConfigError, KeyError) as error:
        return type(error).__name__


def _toolkit_output_path(paths: list[str], suffix: str, category: str | None):
    config = cpg_config.read(paths)
    try:
        return cpg_config.output_path(suffix, category, config=config)
    except cpg_config.ConfigError:
        return "ConfigError"
    except KeyError:
        return "KeyError"


OVERRIDES = {
    "one file": [],
    "a later file moves the output prefix": [{"workflow": {"output_prefix": "other/v2"}}],
    "a later file adds a category and changes one": [
        {"storage": {"default": {"analysis": "gs://cpg-fewgenomes-test-analysis", "web": "gs://elsewhere-web"}}},
    ],
    "a root with a trailing slash": [{"storage": {"default": {"default": "gs://cpg-fewgenomes-test/"}}}],
    "local folders": [{"storage": {"default": {"default": "/data/main", "web": "/data/web", "tmp": "/data/tmp"}}}],
    "no output prefix": [{"workflow": {"output_prefix": ""}}],
}


@pytest.mark.parametrize("overrides", list(OVERRIDES.values()), ids=list(OVERRIDES))
@pytest.mark.parametrize("category", [None, "default", "web", "tmp", "analysis", "web_url", "nope"])
@pytest.mark.parametrize("suffix", ["", "CPGAAA/CPGAAA.html", "folder/"])
def test_output_paths_are_those_of_cpg_utils(tmp_path, overrides, category, suffix):
    paths = [_write(tmp_path, "base.toml", BASE)]
    paths += [_write(tmp_path, f"override{index}.toml", data) for index, data in enumerate(overrides)]
    assert _toolkit_output_path(paths, suffix, category) == _cpg_utils_output_path(paths, suffix, category)


@pytest.mark.parametrize("broken", [
    {"workflow": {"dataset": "x"}},  # no output_prefix
    {"workflow": {"output_prefix": "p"}},  # no storage
    {"workflow": {"output_prefix": "p"}, "storage": {"other": {"default": "gs://b"}}},  # no default storage
    {"workflow": {"output_prefix": "p"}, "storage": {"default": {"default": ""}}},  # an empty root
], ids=["no-output-prefix", "no-storage", "no-default-section", "empty-root"])
def test_a_config_without_a_path_fails_where_cpg_utils_fails(tmp_path, broken):
    paths = [_write(tmp_path, "broken.toml", broken)]
    found = _toolkit_output_path(paths, "x", None)
    assert found in ("ConfigError", "KeyError")
    assert found == _cpg_utils_output_path(paths, "x", None)


KEYS = st.text(alphabet="abcdefgh_", min_size=1, max_size=4)
# Printable text: the toml package cpg-utils reads with cannot write control characters (its own bug).
LEAVES = st.one_of(st.integers(-5, 5), st.text(alphabet="abc xyz/:.-_", max_size=6), st.booleans(), st.lists(st.integers(0, 3), max_size=3))
TABLES = st.recursive(st.dictionaries(KEYS, LEAVES, max_size=4),
                      lambda inner: st.dictionaries(KEYS, st.one_of(LEAVES, inner), max_size=4), max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(TABLES, min_size=1, max_size=3))
def test_several_files_merge_as_cpg_utils_merges_them(tmp_path, files):
    paths = [_write(tmp_path, f"c{index}.toml", data) for index, data in enumerate(files)]
    assert cpg_config.read(paths) == cpg_utils_config.read_configs(paths)


def test_unreadable_configs_are_named(tmp_path):
    good = _write(tmp_path, "good.toml", BASE)
    (tmp_path / "bad.toml").write_text("[workflow\noutput_prefix = 1\n")
    with pytest.raises(ValueError, match=r"failed parsing some config files:\n\t.*bad\.toml"):
        cpg_config.read([good, str(tmp_path / "bad.toml")])
    with pytest.raises(ValueError, match=r"do not exist: .*missing\.toml"):
        cpg_config.read([good, str(tmp_path / "missing.toml")])
    with pytest.raises(ValueError, match=r'".toml" extensions, got: .*conf\.yaml'):
        cpg_config.read([good, str(tmp_path / "conf.yaml")])


def test_activating_a_config_points_cpg_utils_at_the_same_files_imported_before_or_after(tmp_path):
    first = _write(tmp_path, "first.toml", BASE)
    second = _write(tmp_path, "second.toml", {**BASE, "workflow": {**BASE["workflow"], "output_prefix": "v2"}})
    # cpg-utils already imported (this test module imported it): it is told at once.
    cpg_config.activate([first])
    assert cpg_utils_config.output_path("x") == cpg_config.output_path("x") == "gs://cpg-fewgenomes-test/toolkit/fastqe/v1/x"
    cpg_config.activate([second])
    assert cpg_utils_config.output_path("x") == cpg_config.output_path("x") == "gs://cpg-fewgenomes-test/v2/x"
    # cpg-utils imported only afterwards (a `run` imports it with Hail): it reads the activated files.
    script = (
        "from toolkit import cpg_config\n"
        f"cpg_config.activate([{first!r}, {second!r}])\n"
        "import sys; assert 'cpg_utils' not in sys.modules\n"
        "from cpg_utils.config import output_path\n"
        "print(output_path('x', 'web'))\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "CPG_CONFIG_PATH"}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "gs://cpg-fewgenomes-test-web/v2/x"


def test_the_environments_config_is_read_when_none_was_activated(tmp_path, monkeypatch):
    path = _write(tmp_path, "env.toml", BASE)
    monkeypatch.setenv("CPG_CONFIG_PATH", path)
    assert cpg_config.retrieve(["workflow", "dataset"]) == "fewgenomes"
    assert cpg_config.retrieve(["toolkit", "image_registry"], default=None) is None
    with pytest.raises(cpg_config.ConfigError, match="no key toolkit"):
        cpg_config.retrieve(["toolkit", "image_registry"])


def test_a_config_on_gcs_is_read_through_cpg_utils_as_cpg_utils_reads_it(tmp_path, monkeypatch):
    """analysis-runner writes configs to gs://. They are read through cpg-utils' to_path (cloudpathlib); here
    cloudpathlib's own local stand-in for GCS plays the bucket, for both readers."""
    import cpg_utils
    from cloudpathlib.local import LocalGSClient, LocalGSPath

    client = LocalGSClient(local_storage_dir=tmp_path / "gcs")
    on_gcs = "gs://cpg-config/fewgenomes/config.toml"
    LocalGSPath(on_gcs, client=client).write_text(toml.dumps(BASE))
    local = _write(tmp_path, "override.toml", {"workflow": {"output_prefix": "from/the/override"}})

    def to_path(uri):
        return LocalGSPath(uri, client=client) if uri.startswith("gs://") else Path(uri)

    monkeypatch.setattr(cpg_utils, "to_path", to_path)
    monkeypatch.setattr(cpg_utils_config, "to_path", to_path)
    paths = [on_gcs, local]
    assert cpg_config.read(paths) == cpg_utils_config.read_configs(paths)
    assert cpg_config.output_path("x", "web", config=cpg_config.read(paths)) == \
        "gs://cpg-fewgenomes-test-web/from/the/override/x"
    with pytest.raises(ValueError, match="do not exist: gs://cpg-config/nope.toml"):
        cpg_config.read(["gs://cpg-config/nope.toml"])
