"""The cpg-utils configuration (``CPG_CONFIG_PATH``), read the way cpg-utils reads it, without importing cpg-utils.

Why: importing anything from ``cpg_utils`` runs its package ``__init__``, which imports cloudpathlib with its
Azure, GCS and S3 clients (azure-storage-blob, aiohttp, cryptography, google-cloud-storage): 0.5 s, measured,
in every command, while ``plan``, ``validate``, ``outputs`` and the like only need a few keys and the output
prefixes. Here the same files are read with the same TOML library and merged by the same rule, and
:func:`output_path` follows ``cpg_utils.config.output_path`` (tests/test_cpg_config.py holds both equal on the
same files). cpg-utils itself still reads the configuration wherever it is imported (Hail Batch, ``run``): the
paths activated here are its ``CPG_CONFIG_PATH`` too, so both always read the same files.

Config files on a cloud (``gs://…``, as analysis-runner writes them) are read through cpg-utils' ``to_path``:
only then is the cloud stack imported.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

ENV = "CPG_CONFIG_PATH"

_active: tuple[tuple[str, ...], Mapping[str, Any]] | None = None  # (paths, merged config) of this process
_REQUIRED = object()


class ConfigError(Exception):
    """A key or storage section the configuration does not have."""


def read(paths: list[str]) -> Mapping[str, Any]:
    """The merged configuration of ``paths``, later files overriding earlier ones key by key, tables merged
    recursively (cpg-utils' ``read_configs``). Raises ValueError naming every file that is not a readable TOML
    file, as cpg-utils' ``set_config_paths`` does."""
    import toml  # what cpg-utils parses with: the same file cannot mean two things
    from frozendict import frozendict

    if not paths:
        raise ValueError("no config paths given")
    if not_toml := [path for path in paths if not path.endswith(".toml")]:
        raise ValueError(f'all config files must have ".toml" extensions, got: {", ".join(not_toml)}')
    texts: list[str] = []
    missing: list[str] = []
    for path in paths:
        try:
            texts.append(_read_text(path))
        except FileNotFoundError:
            missing.append(path)
    if missing:
        raise ValueError(f"some config files do not exist: {', '.join(missing)}")
    merged: dict[str, Any] = {}
    failures: list[str] = []
    for path, text in zip(paths, texts, strict=True):
        try:
            _merge(merged, toml.loads(text))
        except toml.TomlDecodeError as error:
            failures.append(f"{path}: {error}")
    if failures:
        raise ValueError("failed parsing some config files:\n\t" + "\n\t".join(failures))
    return frozendict(merged)


def _read_text(path: str) -> str:
    if "://" in path:
        from cpg_utils import to_path

        return to_path(path).read_text()  # a missing object: cloudpathlib's FileNotFoundError, one request
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _merge(into: dict, update: Mapping) -> None:
    for key, value in update.items():
        current = into.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            _merge(current, value)
        else:
            into[key] = value


def activate(paths: list[str]) -> Mapping[str, Any]:
    """Make ``paths`` this process's configuration, for the toolkit and for cpg-utils (now if it is imported
    already, else when it is); answers the merged configuration."""
    global _active
    config = read(paths)
    os.environ[ENV] = ",".join(paths)
    cpg_utils_config = sys.modules.get("cpg_utils.config")
    if cpg_utils_config is not None:
        # cpg-utils caches the config per process (tests run many commands in one): make it read these files.
        cpg_utils_config._config_paths = []  # noqa: SLF001 (no public reset)
        cpg_utils_config._config = None  # noqa: SLF001
        cpg_utils_config.set_config_paths(list(paths))
    _active = (tuple(paths), config)
    return config


def current() -> Mapping[str, Any]:
    """The configuration activated in this process, else the one ``CPG_CONFIG_PATH`` names."""
    global _active
    paths = tuple(path for path in os.environ.get(ENV, "").split(",") if path)
    if _active is not None and (_active[0] == paths or not paths):
        return _active[1]
    if not paths:
        raise ConfigError(f"no configuration: {ENV} is not set")
    _active = (paths, read(list(paths)))
    return _active[1]


def retrieve(keys: list[str], default: Any = _REQUIRED, config: Mapping[str, Any] | None = None) -> Any:
    """``config[k1][k2]…``; ``default`` when a key is missing (ConfigError naming the key without one)."""
    value: Any = current() if config is None else config
    for depth, key in enumerate(keys):
        if not isinstance(value, Mapping) or key not in value:
            if default is _REQUIRED:
                raise ConfigError(f"the config has no key {' -> '.join(keys[:depth + 1])}")
            return default
        value = value[key]
    return value


def output_path(suffix: str, category: str | None = None, config: Mapping[str, Any] | None = None) -> str:
    """cpg-utils' ``output_path(suffix, category)``: the dataset's storage root of ``category`` (``[storage.
    default]``, key ``default`` when none is given), then ``[workflow] output_prefix``, then ``suffix``."""
    config = current() if config is None else config
    output_prefix = retrieve(["workflow", "output_prefix"], config=config)
    storage = config.get("storage")
    if storage is None:
        raise ConfigError("the config has no [storage] section")
    section = storage["default"]  # a KeyError here, as in cpg-utils (callers catch both)
    root = section.get(category or "default")
    if not root:
        raise ConfigError(f"no storage category {category or 'default'!r} in [storage.default]")
    return os.path.join(root, os.path.join(output_prefix, suffix))
