"""`toolkit serve` as a web server: what it serves, to whom, with which headers; its port and key per home.

Real CLI processes and real HTTP; no job runs (the files a run would write are put in place directly).
"""

from __future__ import annotations

import http.client
import json
import socket
import sys

import pytest

from tests.conftest import Toolkit
from tests.results.conftest import Served

SERVE = f"{sys.executable} -m toolkit serve"


def raw_get(port: int, target: str, headers: dict | None = None, method: str = "GET"):
    """One request exactly as written (no client-side path clean-up), Host 127.0.0.1:port unless given."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in {"Host": f"127.0.0.1:{port}", **(headers or {})}.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def location(toolkit: Toolkit) -> tuple[int, str]:
    data = json.loads((toolkit.home / "web-server.json").read_text())
    return data["port"], data["key"]


@pytest.fixture
def served(toolkit):
    """A home with a report in its web bucket and other files around it; `toolkit serve` running for it."""
    buckets = toolkit.home / "buckets"
    report = buckets / "cpg-sandbox-test-web" / "toolkit" / "fastqe" / "CPGLCL17.html"
    report.parent.mkdir(parents=True)
    report.write_text("<!doctype html><title>report</title><p>😄</p>", encoding="utf-8")
    (buckets / "cpg-sandbox-test-web" / ".hidden.html").write_text("hidden")
    secret = buckets / "cpg-sandbox-test-analysis" / "toolkit" / "secret.txt"
    secret.parent.mkdir(parents=True)
    secret.write_text("not web")
    (buckets / "cpg-sandbox-test-web" / "toolkit" / "escape").symlink_to(secret.parent)
    server = Served(SERVE, toolkit.env)
    yield toolkit, server
    server.stop()


def test_serves_web_storage_as_sandboxed_reports_and_nothing_else(served):
    toolkit, server = served
    port, key = location(toolkit)
    assert server.url == f"http://127.0.0.1:{port}/"

    status, headers, body = raw_get(port, f"/{key}/cpg-sandbox-test-web/toolkit/fastqe/CPGLCL17.html")
    assert status == 200 and body.decode() == "<!doctype html><title>report</title><p>😄</p>"
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["content-security-policy"].startswith("sandbox ") and "allow-same-origin" not in headers["content-security-policy"]
    assert "connect-src 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"

    refused = {
        "another bucket": f"/{key}/cpg-sandbox-test-analysis/toolkit/secret.txt",
        "dot-dot": f"/{key}/cpg-sandbox-test-web/../cpg-sandbox-test-analysis/toolkit/secret.txt",
        "encoded dot-dot": f"/{key}/cpg-sandbox-test-web/%2e%2e/cpg-sandbox-test-analysis/toolkit/secret.txt",
        "the store": f"/{key}/../metadata.sqlite",
        "a symbolic link out": f"/{key}/cpg-sandbox-test-web/toolkit/escape/secret.txt",
        "a hidden file": f"/{key}/cpg-sandbox-test-web/.hidden.html",
        "the config": f"/{key}/config/embedded-sandbox-test.toml",
        "another home's key": "/hffffffffff/cpg-sandbox-test-web/toolkit/fastqe/CPGLCL17.html",
    }
    for what, target in refused.items():
        status, _headers, body = raw_get(port, target)
        assert status == 404, (what, status, body)
        assert b"not web" not in body and b"SQLite" not in body, what


def test_refuses_other_hosts_other_origins_and_writes(served):
    """DNS rebinding: a foreign name resolving to 127.0.0.1 still says so in Host; a foreign page in Origin."""
    toolkit, server = served
    port, key = location(toolkit)
    report = f"/{key}/cpg-sandbox-test-web/toolkit/fastqe/CPGLCL17.html"
    assert raw_get(port, report, {"Host": f"evil.example:{port}"})[0] == 421
    assert raw_get(port, "/", {"Host": "127.0.0.1:1"})[0] == 421
    assert raw_get(port, report, {"Origin": "http://evil.example"})[0] == 403
    assert raw_get(port, report, {"Origin": "null"})[0] == 403  # what a sandboxed report sends
    assert raw_get(port, report, {"Origin": f"http://127.0.0.1:{port}"})[0] == 200
    assert raw_get(port, report, {"Host": f"localhost:{port}"})[0] == 200
    assert raw_get(port, report, method="POST")[0] == 405


def test_the_page_allows_only_its_own_files(served):
    toolkit, server = served
    port, _key = location(toolkit)
    status, headers, body = raw_get(port, "/")
    assert status == 200 and b"Project sandbox-test" in body
    policy = headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    for asset in ("sortable.min.js", "results.css", "results.js"):
        assert raw_get(port, f"/assets/{asset}")[0] == 200
    assert raw_get(port, "/assets/..%2fserver.py")[0] == 404


def test_the_web_location_is_chosen_once_per_home_and_differs_between_homes(toolkit, tmp_path):
    first = toolkit.json("plan", "jobspecs/fastqe.yaml", "--format", "json", "--execution", "host")
    again = toolkit.json("plan", "jobspecs/fastqe.yaml", "--format", "json", "--execution", "host")
    url = first["jobs"][0]["outputs"]["report"]["display_url"]
    assert url == again["jobs"][0]["outputs"]["report"]["display_url"]
    port, key = location(toolkit)
    assert url == f"http://127.0.0.1:{port}/{key}/cpg-sandbox-test-web/toolkit/fastqe/CPGLCL17.html"
    assert 20000 <= port < 32000 and port != toolkit.port  # not the metadata server's port

    other = Toolkit(home=tmp_path / "other", port=toolkit.port, env={**toolkit.env, "TOOLKIT_HOME": str(tmp_path / "other")})
    other_url = other.json("plan", "jobspecs/fastqe.yaml", "--format", "json", "--execution", "host")["jobs"][0][
        "outputs"]["report"]["display_url"]
    assert location(other)[1] != key and other_url != url


def test_a_stopped_homes_url_is_not_answered_by_another_home_on_the_same_port(toolkit, tmp_path):
    """The shared-machine case: user A's server is down and user B's happens to use A's port."""
    toolkit.json("plan", "jobspecs/fastqe.yaml", "--format", "json", "--execution", "host")
    port, key_a = location(toolkit)
    other_home = tmp_path / "user-b"
    other_home.mkdir()
    (other_home / "web-server.json").write_text(json.dumps({"port": port, "key": "huserb00000"}))
    same_path = other_home / "buckets" / "cpg-sandbox-test-web" / "toolkit" / "fastqe" / "CPGLCL17.html"
    same_path.parent.mkdir(parents=True)
    same_path.write_text("user B's report")
    server = Served(SERVE, {**toolkit.env, "TOOLKIT_HOME": str(other_home)})
    try:
        status, _headers, body = raw_get(port, f"/{key_a}/cpg-sandbox-test-web/toolkit/fastqe/CPGLCL17.html")
        assert status == 404 and b"another toolkit home" in body
        assert raw_get(port, "/huserb00000/cpg-sandbox-test-web/toolkit/fastqe/CPGLCL17.html")[2] == b"user B's report"
    finally:
        server.stop()


def test_a_taken_port_is_one_clear_error(toolkit):
    toolkit.json("plan", "jobspecs/fastqe.yaml", "--format", "json", "--execution", "host")
    port, _key = location(toolkit)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen(1)
        done = toolkit.run("serve", check=4)
    assert f"cannot serve on http://127.0.0.1:{port}" in done.stderr and "web-server.json" in done.stderr


def test_an_invalid_spec_is_refused_before_serving(toolkit, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nname: Bad Name\n")
    done = toolkit.run("serve", str(broken), check=2)
    assert "broken.yaml" in done.stderr and "name" in done.stderr


def test_serve_help_describes_every_option(toolkit):
    for verb in ("serve", "report"):
        text = toolkit.run(verb, "--help").stdout
        assert "--project PROJECT" in text and "SPEC" in text
    assert "--out DIR" in toolkit.run("report", "--help").stdout
