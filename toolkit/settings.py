"""Where a run's configuration and metadata come from.

Two situations, one code path afterwards:

* **Configured** (``CPG_CONFIG_PATH`` set, e.g. under analysis-runner): cpg-utils reads that TOML as usual.
  Metamist is the one the ``metamist`` client is configured for (``SM_URL`` / ``SM_ENVIRONMENT`` and Google
  credentials), unless the config names one with ``[toolkit] metamist_url`` ("embedded" means the embedded
  server).
* **Embedded default** (no ``CPG_CONFIG_PATH``): the toolkit writes its own cpg-utils config under the
  toolkit home: Hail's LocalBackend, storage "buckets" as folders under ``<home>/buckets``, a web URL served by
  ``toolkit serve`` (see :func:`web_location`), and the embedded metadata server, which each command starts
  for itself on a free port.

Display URLs come from the config's ``web_url``: in production CPG's web server; for the toolkit's own config
the URL ``toolkit serve`` answers for this toolkit home, on a port and under a path prefix chosen once per
home and kept, so a registered ``display_url`` keeps working after restarts and never resolves on the server
of another home (another user) that happens to use the same port later.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from toolkit.errors import EnvironmentProblem, MetadataUnreachable, UsageError

DEFAULT_METADATA_PORT = 8417
LOCAL_HOST = "127.0.0.1"
WEB_LOCATION_FILE = "web-server.json"
# `toolkit serve` ports are picked in this range, starting at a place derived from the home's path.
WEB_PORT_RANGE = (20000, 32000)

# A project name becomes part of file names (the config under the toolkit home) and of bucket names.
PROJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
READ_ROOTS_VARIABLE = "TOOLKIT_READ_ROOTS"


@dataclass
class Settings:
    """Resolved run settings. ``config`` is the cpg-utils config (a mapping), already activated."""

    config: Any
    embedded: bool
    project: str
    metamist_url: str | None
    home: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def backend(self) -> str:
        hail = self.config.get("hail", {}) if hasattr(self.config, "get") else {}
        return str(hail.get("backend", "batch"))

    @property
    def dataset(self) -> str:
        return str(self.config["workflow"]["dataset"])

    @property
    def local_read_roots(self) -> tuple[Path, ...]:
        """Folders local reads may come from (resolved): the demo data, ``$TOOLKIT_READ_ROOTS``
        (``os.pathsep``-separated) and ``[toolkit] local_read_roots`` (a list of folders) of the config.

        Also the dataset's own local storage roots (a local run's outputs): another spec's registered outputs
        are a chained spec's inputs (``inputs.from_jobspec``), and they are this project's own files.

        Nothing else by default: a read location is metadata, and whoever can edit metadata must not be able
        to make a job read (and publish a report of) any file this machine's user can read.
        """
        import toolkit.metadata_server

        listed: list[str] = [str(Path(toolkit.metadata_server.__file__).parent / "demo")]
        listed += self._local_storage_roots()
        listed += [part for part in os.environ.get(READ_ROOTS_VARIABLE, "").split(os.pathsep) if part]
        configured = (self.config.get("toolkit") or {}).get("local_read_roots") if hasattr(self.config, "get") else None
        if isinstance(configured, str):
            configured = [configured]
        listed += [str(item) for item in configured or []]
        return tuple(dict.fromkeys(Path(os.path.realpath(os.path.expanduser(item))) for item in listed))


    def _local_storage_roots(self) -> list[str]:
        storage = self.config.get("storage") if hasattr(self.config, "get") else None
        if not isinstance(storage, dict):
            return []
        dataset = (self.config.get("workflow") or {}).get("dataset")
        section = storage.get(dataset) or storage.get("default") or {}
        return [str(root) for category, root in section.items()
                if category != "web_url" and isinstance(root, str) and root.startswith("/")]


def metadata_port() -> int:
    """The default port of ``toolkit metadata serve``."""
    value = os.environ.get("TOOLKIT_METADATA_PORT", str(DEFAULT_METADATA_PORT))
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise UsageError(f"TOOLKIT_METADATA_PORT={value!r} is not a port number")
    return int(value)


def project_from_config(config: Any) -> str:
    """Metamist project of the configured dataset: ``<dataset>-test`` at access level test (CPG convention)."""
    workflow = config.get("workflow", {})
    dataset = workflow.get("dataset")
    if not dataset:
        raise UsageError("no --project given and the cpg-utils config has no workflow.dataset")
    dataset = str(dataset)
    if workflow.get("access_level") == "test" and not dataset.endswith("-test"):
        return f"{dataset}-test"
    return dataset


def check_project_name(project: str, source: str = "--project") -> str:
    """A Metamist project name the toolkit can use in file and bucket names; UsageError otherwise."""
    if not PROJECT_NAME.fullmatch(project):
        raise UsageError(
            f"{source} {project!r} is not a project name the toolkit can use",
            hint="a project name is 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit "
            "(it becomes part of file and bucket names)",
        )
    return project


def split_project(project: str) -> tuple[str, str]:
    """``sandbox-test`` -> (``sandbox``, ``test``); ``sandbox`` -> (``sandbox``, ``main``)."""
    if project.endswith("-test"):
        return project[: -len("-test")], "test"
    return project, "main"


def embedded_config(home: Path, project: str, web_base_url: str, metamist_url: str) -> dict[str, Any]:
    """The cpg-utils config the toolkit writes for itself when none is given.

    ``web_base_url`` is where ``toolkit serve`` answers for ``home`` (:func:`web_location`); it serves each
    ``<home>/buckets/<name>-web`` folder at ``<web_base_url>/<name>-web``."""
    dataset, namespace = split_project(project)
    buckets = home / "buckets"
    prefix = f"cpg-{dataset}-{namespace}"
    section = {
        "default": str(buckets / prefix),
        "analysis": str(buckets / f"{prefix}-analysis"),
        "web": str(buckets / f"{prefix}-web"),
        "tmp": str(buckets / f"{prefix}-tmp"),
        "upload": str(buckets / f"{prefix}-upload"),
        "web_url": f"{web_base_url}/{prefix}-web",
    }
    return {
        "workflow": {
            "dataset": dataset,
            "access_level": "test" if namespace == "test" else "standard",
            "output_prefix": "toolkit",
            "driver_image": "",
            "name": "jobspec toolkit (embedded)",
        },
        "hail": {"backend": "local", "dry_run": False, "delete_scratch_on_exit": True},
        "storage": {"default": section, dataset: section},
        "toolkit": {"metamist_url": metamist_url, "embedded": True},
    }


def write_toml(path: Path, data: dict[str, Any]) -> None:
    import toml  # a cpg-utils dependency: the same writer cpg-utils reads with

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(toml.dumps(data))
    tmp.replace(path)


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOCAL_HOST, port))
        except OSError:
            return False
    return True


def activate_cpg_config(paths: list[str]) -> Any:
    """The cpg-utils config of these files, for the toolkit and for cpg-utils (toolkit.cpg_config)."""
    from toolkit import cpg_config

    return cpg_config.activate(paths)


def _is_loopback(url: str) -> bool:
    return re.match(r"^https?://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:|/|$)", url) is not None


def _write_local_config(home: Path, project: str, web_base_url: str, metamist_url: str, kind: str) -> Any:
    config_file = home / "config" / f"{kind}-{project}.toml"
    write_toml(config_file, embedded_config(home, project, web_base_url, metamist_url))
    return activate_cpg_config([str(config_file)])


@dataclass(frozen=True)
class WebLocation:
    """Where ``toolkit serve`` answers for one toolkit home: a port and a path prefix, both kept in the home."""

    port: int
    key: str  # path prefix unique to the home: another home's URL is a 404 here, never its file

    @property
    def origin(self) -> str:
        return f"http://{LOCAL_HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/{self.key}"


def _choose_web_port(home: Path) -> int:
    """A free port in WEB_PORT_RANGE, first trying the one the home's path hashes to (so two homes rarely meet)."""
    import hashlib

    low, high = WEB_PORT_RANGE
    start = int(hashlib.sha256(str(home.resolve()).encode()).hexdigest(), 16) % (high - low)
    for step in range(high - low):  # strides of 97, prime to the range's size: every port is tried once
        port = low + (start + step * 97) % (high - low)
        if _port_is_free(port):
            return port
    raise EnvironmentProblem(f"no free port between {low} and {high} on {LOCAL_HOST} for `toolkit serve`")


def web_location(home: Path) -> WebLocation:
    """This home's web location, chosen on first use and kept in ``<home>/web-server.json``.

    Kept, not recomputed: display URLs registered in Metamist embed it. The first process to write the file
    wins (hard link, atomic); every other one reads what it wrote.
    """
    import json
    import secrets

    path = home / WEB_LOCATION_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        chosen = {"port": _choose_web_port(home), "key": f"h{secrets.token_hex(5)}"}
        tmp = home / f".{WEB_LOCATION_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        tmp.write_text(json.dumps(chosen) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    try:
        data = json.loads(path.read_text())
        port, key = int(data["port"]), str(data["key"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(
            f"{path} is not a valid toolkit web location ({error})",
            hint="delete it to choose a new port (display URLs registered before then will not open any more)",
        ) from None
    if not 0 < port < 65536 or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", key):
        raise UsageError(f"{path}: port {port} or key {key!r} is not valid", hint="delete the file to choose anew")
    return WebLocation(port=port, key=key)


@contextlib.contextmanager
def open_settings(project: str | None = None, *, need_metamist: bool = True) -> Iterator[Settings]:
    """Resolve config and Metamist for one command; start the embedded server when it is the one to use.

    Which Metamist: ``[toolkit] metamist_url`` of a given config ("embedded" or a URL), else ``SM_URL`` /
    ``SM_ENVIRONMENT`` as the metamist client reads them; without any config and without ``SM_URL``, the
    embedded server.
    """
    from toolkit.metamist_connection import connect

    config = None
    config_path = os.environ.get("CPG_CONFIG_PATH")
    if config_path:
        try:
            config = activate_cpg_config(config_path.split(","))
        except Exception as error:  # cpg-utils raises ValueError/ConfigError/OSError with a useful text
            raise UsageError(f"cannot read CPG_CONFIG_PATH={config_path}: {error}") from None
        chosen = project or project_from_config(config)
        target = (config.get("toolkit") or {}).get("metamist_url")  # None: the client's own SM_URL choice
    else:
        chosen = project or "sandbox-test"
        target = os.environ.get("SM_URL") or "embedded"
    check_project_name(chosen, "--project" if project else "the configured project")

    if target == "embedded":
        with _embedded_server(need_metamist) as (url, home):
            if config is None:
                config = _write_local_config(home, chosen, web_location(home).base_url, url, "embedded")
            if need_metamist:
                connect(url, local=True)
            yield Settings(config, embedded=True, project=chosen, metamist_url=url, home=home)
        return

    home = None
    if config is None:
        # SM_URL without a config: that Metamist, with the toolkit's local storage config around it (its web
        # outputs are local files, so `toolkit serve` of this home serves them, as for the embedded default).
        from toolkit.metadata_server import default_home

        home = default_home()
        config = _write_local_config(home, chosen, web_location(home).base_url, target, "local")
    if target is None:
        connect(None, local=False)  # production, or whatever SM_URL / SM_ENVIRONMENT say
    else:
        local = _is_loopback(target) or os.environ.get("SM_ENVIRONMENT") == "local"
        connect(target, local=local)
    yield Settings(config, embedded=False, project=chosen, metamist_url=target or os.environ.get("SM_URL"), home=home)


@contextlib.contextmanager
def _embedded_server(need_metamist: bool) -> Iterator[tuple[str, Path]]:
    """Yields (API URL, home) of an embedded server of this command's own, on a free port.

    Each command talks to a server it started itself, so no run depends on another process staying up (the
    store is one SQLite file, safe across processes), and no command reaches another home's server.
    """
    from toolkit import process
    from toolkit.metadata_server import (
        default_db_path, default_home, ensure_demo_loaded, start_server, start_server_process,
    )

    home = default_home()
    if not need_metamist:
        yield "", home
        return
    db_path = default_db_path()
    # The program's server runs in a process of its own (its answers are computed on another core while this
    # one works), which builds itself while this one checks the demo below (no question reaches the server
    # before the check is done); Python callers (tests, scripts) keep it in a thread of theirs and fork nothing.
    server = start_server_process(db_path=db_path, host=LOCAL_HOST, port=0) if process.AS_PROGRAM else None
    ensure_demo_loaded(db_path)
    if server is None:
        server = start_server(db_path=db_path, host=LOCAL_HOST, port=0)
    try:
        yield server.url, home
    except MetadataUnreachable:
        if server.alive():
            raise
        raise EnvironmentProblem(
            "the embedded metadata server stopped unexpectedly (what it said, if anything, is above)",
            hint="rerun the command; if it happens again, rerun with TOOLKIT_DEBUG=1 and report it",
        ) from None
    finally:
        server.stop(wait=not process.AS_PROGRAM)
