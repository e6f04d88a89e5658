"""Fixtures for the results tests: the demo run once per module, `toolkit serve` started from the run's own hint,
and a real browser (Debian's Chromium through chromedriver) that records what its pages request.

The browser tests are marked `browser`: without Chromium they skip, except under TOOLKIT_REQUIRE_BROWSER=1 (CI),
where a skip is a failure (tests/conftest.py).
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import REPO, Toolkit, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = REPO / "test-artifacts" / "results"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1400,1100",
    "--disable-features=IsolateSandboxedIframes",  # see NetworkWatch
    "--proxy-server=http://127.0.0.1:1",  # nothing reaches the outside, whatever a page asks for
)
FASTQE = "jobspecs/fastqe.yaml"
DEMO_GROUPS = ["CPGLCL17", "CPGLCL25", "CPGLCL33"]


class NetworkWatch:
    """What the pages in the browser asked for: every request of every frame, from Chromium's performance log.

    Sandboxed frames get a renderer of their own in current Chromium, and chromedriver's performance log only
    follows a tab's own renderer: with ``--disable-features=IsolateSandboxedIframes`` the reports shown in the
    page's viewer stay in the tab's renderer, so their requests are logged too (their origin is opaque either
    way). Chromium's own background traffic (updates, sign-in) is not a page's and is not in this log.
    Requests never leave the machine: the browser's proxy is a closed loopback port.
    """

    def __init__(self, driver):
        self.driver = driver

    def reset(self) -> None:
        """Forget what earlier pages asked for (the logs are read, and so emptied)."""
        self.requests()
        self.refused()

    def requests(self) -> list[str]:
        import json

        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        return urls

    def outside(self) -> list[str]:
        """Requests since the last call for anything not on this machine (http, https, ws, wss)."""
        found = []
        for url in self.requests():
            parts = urlsplit(url)
            if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOOPBACK:
                found.append(url)
        return found

    def refused(self) -> list[str]:
        """Console messages since the last call about loads the page's policy refused (an asset it lacks)."""
        return [entry["message"] for entry in self.driver.get_log("browser")
                if "Content Security Policy" in entry["message"]]


LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/services/install.sh installs them)")
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must never try to download a browser or driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.page_requests = NetworkWatch(driver)
    yield driver
    driver.quit()


def screenshot(driver, name: str) -> Path:
    """Keep a screenshot as a test artefact (test-artifacts/ is ignored by git) and say where it is."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def module_toolkit(tmp_path_factory) -> Toolkit:
    home = tmp_path_factory.mktemp("results") / "home"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SM_", "CPG_", "TOOLKIT_"))}
    env.update({"TOOLKIT_HOME": str(home), "TOOLKIT_METADATA_PORT": str(free_port()), "PYTHONWARNINGS": "ignore"})
    return Toolkit(home=home, port=int(env["TOOLKIT_METADATA_PORT"]), env=env)


class Served:
    """A `toolkit serve` process, started from a command line; stopped (by its pid) at the end."""

    def __init__(self, command: str, env: dict):
        self.process = subprocess.Popen(
            shlex.split(command), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        first = self.process.stdout.readline()
        match = re.match(r"results: (http://127\.0\.0\.1:\d+/)$", first.strip())
        if not match:
            self.process.kill()
            raise AssertionError(f"`{command}` printed {first!r}; stderr: {self.process.stderr.read()}")
        self.url = match.group(1)
        deadline = time.time() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", int(self.url.rsplit(":", 1)[1].strip("/"))), timeout=1):
                    break
            except OSError:
                assert time.time() < deadline, "toolkit serve did not listen"
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        for stream in (self.process.stdout, self.process.stderr):
            stream.close()


def hint_command(stderr: str) -> str:
    """The one line `toolkit run` prints to look at the results, as a command."""
    lines = [line for line in stderr.splitlines() if line.startswith("look at the results: ")]
    assert len(lines) == 1, stderr
    return lines[0][len("look at the results: "):]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The README's first command (the demo run, on the host), then the line it prints, running."""
    toolkit = module_toolkit(tmp_path_factory)
    run = toolkit.run("run", FASTQE, "--execution", "host")
    command = hint_command(run.stderr)
    served = Served(command, toolkit.env)
    yield toolkit, served, run
    served.stop()


def fetch(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


__all__ = ["ARTIFACTS", "DEMO_GROUPS", "FASTQE", "Served", "fetch", "hint_command", "module_toolkit", "screenshot"]
