"""Shared fixtures: an isolated toolkit home and the real CLI run as a subprocess, as a user runs it."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def metadata_serving(env: dict, port: int | None = None) -> Iterator[str]:
    """``toolkit metadata serve`` in a process of its own (a Metamist that outlives each command), over the store
    of ``env``'s toolkit home, on ``port`` (default: ``TOOLKIT_METADATA_PORT`` of ``env``'s toolkit). Yields its
    URL once it answers; stops it afterwards."""
    command = [sys.executable, "-m", "toolkit", "metadata", "serve"] + (["--port", str(port)] if port else [])
    url = f"http://127.0.0.1:{port or env['TOOLKIT_METADATA_PORT']}"
    server = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/v1/project/", timeout=1)
                break
            except OSError:
                assert server.poll() is None and time.time() < deadline, "metadata serve did not come up"
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@dataclass
class Toolkit:
    """Runs ``toolkit`` in a clean environment: own home (store, buckets), own metadata port, no CPG config."""

    home: Path
    port: int
    env: dict

    def run(self, *args: str, check: int | None = 0, timeout: float = 600, extra_env: dict | None = None):
        env = {**self.env, **(extra_env or {})}
        done = subprocess.run(
            [sys.executable, "-m", "toolkit", *args], cwd=REPO, env=env, capture_output=True, text=True,
            timeout=timeout,
        )
        if check is not None and done.returncode != check:
            raise AssertionError(
                f"toolkit {' '.join(args)} exited {done.returncode}, expected {check}\n"
                f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
            )
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def json(self, *args: str, **kwargs):
        return json.loads(self.run(*args, **kwargs).stdout)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def web_base_url(self) -> str:
        """Where `toolkit serve` of this home answers for web outputs (chosen by the first command that needed it)."""
        data = json.loads((self.home / "web-server.json").read_text())
        return f"http://127.0.0.1:{data['port']}/{data['key']}"

    @property
    def web_bucket(self) -> Path:
        return self.home / "buckets" / "cpg-sandbox-test-web"


@pytest.fixture
def toolkit(tmp_path) -> Toolkit:
    home = tmp_path / "home"
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SM_", "CPG_", "TOOLKIT_"))}
    env.update({"TOOLKIT_HOME": str(home), "TOOLKIT_METADATA_PORT": str(port), "PYTHONWARNINGS": "ignore"})
    return Toolkit(home=home, port=port, env=env)


# A test with one of these markers that skips is a failure when its variable is 1 (CI has the engine and browser).
REQUIRED_WHEN = {
    "docker": "TOOLKIT_REQUIRE_DOCKER",
    "browser": "TOOLKIT_REQUIRE_BROWSER",
    "host_tools": "TOOLKIT_REQUIRE_HOST_TOOLS",
}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With TOOLKIT_REQUIRE_DOCKER=1 (CI), a `docker` test that skips is a failure: CI always has the engine.
    The same for `browser` tests and TOOLKIT_REQUIRE_BROWSER=1, `host_tools` and TOOLKIT_REQUIRE_HOST_TOOLS=1."""
    outcome = yield
    report = outcome.get_result()
    if not report.skipped:
        return
    for marker, variable in REQUIRED_WHEN.items():
        if item.get_closest_marker(marker) and os.environ.get(variable) == "1":
            report.outcome = "failed"
            report.longrepr = f"skipped, but {variable}=1: {report.longrepr}"
            return
