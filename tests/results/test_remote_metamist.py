"""The results page against a Metamist that is not the toolkit's own: read through the metamist client over HTTP.

The stand-in is the embedded server run on its own (`toolkit metadata serve`, another home), reached with
`SM_URL` and `SM_ENVIRONMENT=local` exactly as a developer reaches a Metamist dev server. Before this change the
local config's display URLs pointed at `<SM_URL>/web/...`, a route real Metamist does not have (500).
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import Toolkit, metadata_serving


@pytest.fixture
def remote_metamist(toolkit, tmp_path):
    env = {**toolkit.env, "TOOLKIT_HOME": str(tmp_path / "metamist-host")}
    with metadata_serving(env, toolkit.port) as url:
        yield url


def test_report_and_display_urls_with_sm_url(toolkit: Toolkit, remote_metamist, tmp_path):
    env = {"SM_URL": remote_metamist, "SM_ENVIRONMENT": "local"}
    plan = toolkit.json("plan", "jobspecs/fastqe.yaml", "--format", "json", "--execution", "host", extra_env=env)
    url = plan["jobs"][0]["outputs"]["report"]["display_url"]
    assert not url.startswith(remote_metamist)  # never the metadata server's origin
    assert url.startswith(toolkit.web_base_url + "/cpg-sandbox-test-web/")

    out = tmp_path / "report"
    toolkit.run("report", "jobspecs/fastqe.yaml", "--out", str(out), extra_env=env)
    text = (out / "index.html").read_text(encoding="utf-8")
    assert set(re.findall(r'data-group="(CPGLCL\d+)" data-state="never run"', text)) == {
        "CPGLCL17", "CPGLCL25", "CPGLCL33"}
    assert "DEMO001" in text
    assert not (toolkit.home / "metadata.sqlite").exists()  # nothing came from an embedded store of this home
