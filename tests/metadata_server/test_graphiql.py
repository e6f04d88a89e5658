"""GraphiQL at /graphql works offline: every asset comes from the server, in a real browser with no network."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import requests

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_page_loads_only_assets_the_server_has(demo_server):
    page = requests.get(demo_server.url + "/graphql", headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 200 and "GraphiQL" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(assets) == 6 and all(asset.startswith("/graphiql/") for asset in assets), assets
    for asset in assets:
        answer = requests.get(demo_server.url + asset, timeout=10)
        assert answer.status_code == 200 and len(answer.content) > 50, asset


@pytest.mark.skipif(CHROMIUM is None, reason="needs a Chromium (Debian: apt-get install chromium)")
def test_graphiql_renders_in_a_browser_without_network(demo_server, tmp_path):
    """Every host but 127.0.0.1 unresolvable: a CDN asset would leave the page blank."""
    done = subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={tmp_path}",
         "--enable-logging=stderr", "--v=0", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         "--virtual-time-budget=15000", "--dump-dom", demo_server.url + "/graphql"],
        capture_output=True, text=True, timeout=120,
    )
    dom = done.stdout
    assert 'class="graphiql-container"' in dom, dom[:2000]
    assert "myProjects" in dom  # the page's own script ran: its default query is in the editor
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Refused to" in line]
    assert console == []  # no script error, nothing the Content-Security-Policy had to block
