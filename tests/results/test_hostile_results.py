"""The results page shows metadata that any writer of the project can set: display URLs and metrics of Analyses.

Found by the audit of issues 7 and 10: a display URL's host went unchecked into the page's Content-Security-Policy
(HTML injection in the exported page, policy directives injected in the served one, a 500 for every visitor when
it held a non-Latin-1 character), and a metric near the largest float made every page load fail. Real CLI
processes, the real embedded server, Analyses created through the metamist client as another writer would.
"""

from __future__ import annotations

import json
import re
import sys
from html.parser import HTMLParser

import pytest

from tests.cli.test_run import in_own_process
from tests.results.conftest import Served
from tests.results.test_serve import location, raw_get

HOSTILE_URLS = {
    "CPGLCL17": 'http://x"><meta http-equiv="refresh" content="0;url=http:evil.example"><!--/r.html',
    "CPGLCL25": "http://evil.example;form-action *;base-uri *;/r.html",
    "CPGLCL33": "http://\u00e9vil\u2028.example/r.html",
}
FINE_URL = "https://main-web.example.org/sandbox/r.html"


def create_analyses(toolkit, analyses: list[dict]) -> None:
    """Analyses of project sandbox-test, as any Metamist writer of the project could create them."""
    in_own_process(
        toolkit,
        "from metamist.models import Analysis, AnalysisStatus\n"
        "for item in json.loads(sys.argv[1]):\n"
        "    analysis_api().create_analysis('sandbox-test', Analysis(type='web', status=AnalysisStatus('completed'),"
        " output=item['output'], sequencing_group_ids=[item['group']], meta=item['meta']))\n",
        json.dumps(analyses),
    )


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.metas: list[dict] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "meta":
            self.metas.append(dict(attrs))
        if tag == "a":
            self.links.append(dict(attrs).get("href"))


def directives(policy: str) -> dict[str, str]:
    names = [part.strip().split(" ", 1) for part in policy.split(";") if part.strip()]
    assert len({name[0] for name in names}) == len(names), f"a directive appears twice: {policy}"
    return {name[0]: (name[1] if len(name) > 1 else "") for name in names}


def test_display_urls_that_are_not_plain_urls_stay_text_and_never_reach_the_policy(toolkit, tmp_path):
    toolkit.run("metadata", "demo")
    create_analyses(toolkit, [
        {"group": group, "output": f"file:///data/{group}.html", "meta": {"jobspec": "hostile", "display_url": url}}
        for group, url in HOSTILE_URLS.items()
    ] + [{"group": "CPGLCL17", "output": "file:///data/fine.html",
          "meta": {"jobspec": "fine", "display_url": FINE_URL}}])

    # The exported page (for a web bucket): one policy <meta>, nothing injected, no link to a hostile URL.
    out = tmp_path / "report"
    toolkit.run("report", "--project", "sandbox-test", "--out", str(out))
    tags = _Tags()
    tags.feed((out / "index.html").read_text(encoding="utf-8"))
    assert [meta.get("http-equiv") for meta in tags.metas if "http-equiv" in meta] == ["Content-Security-Policy"]
    policy = directives(next(meta["content"] for meta in tags.metas if "http-equiv" in meta))
    assert policy["frame-src"] == "'self' https://main-web.example.org"
    assert policy["form-action"] == "'none'" and policy["base-uri"] == "'none'"
    assert FINE_URL in tags.links
    assert not any("evil" in (link or "") or link.startswith("http://x") for link in tags.links if link)

    # The served page: answers (a non-Latin-1 URL made it a 500 for everyone), with the same policy.
    server = Served(f"{sys.executable} -m toolkit serve --project sandbox-test", toolkit.env)
    try:
        port, _key = location(toolkit)
        status, headers, body = raw_get(port, "/")
        assert status == 200, body[-500:]
        served_policy = directives(headers["content-security-policy"])
        assert served_policy["frame-src"] == "'self' https://main-web.example.org"
        assert served_policy["form-action"] == "'none'" and served_policy["base-uri"] == "'none'"
        assert b"evil.example;form-action" not in body.split(b"<body>")[0]
    finally:
        server.stop()


def test_metrics_near_the_largest_float_stay_in_the_table_and_the_page_still_loads(toolkit, tmp_path):
    toolkit.run("metadata", "demo")
    extreme = {"CPGLCL17": 1.7976931348623157e308, "CPGLCL25": -1.7976931348623157e308, "CPGLCL33": 5e-324}
    create_analyses(toolkit, [
        {"group": group, "output": f"file:///data/{group}.json",
         "meta": {"jobspec": "extreme", "metrics": {"huge": value, "ordinary": index + 0.5}}}
        for index, (group, value) in enumerate(extreme.items())
    ])
    out = tmp_path / "report"
    toolkit.run("report", "--project", "sandbox-test", "--out", str(out))  # was: exit 70, matplotlib ValueError
    text = (out / "index.html").read_text(encoding="utf-8")
    section = re.search(r'<section class="spec" data-spec="extreme">(.*?)</section>', text, re.S).group(1)
    assert section.count('data-metric="huge"') == 3  # a cell per group; no plot of it
    assert '<figure class="plot" data-metric="huge">' not in section
    assert '<figure class="plot" data-metric="ordinary">' in section

    server = Served(f"{sys.executable} -m toolkit serve --project sandbox-test", toolkit.env)
    try:
        port, _key = location(toolkit)
        status, _headers, body = raw_get(port, "/")
        assert status == 200 and b'data-spec="extreme"' in body
    finally:
        server.stop()


@pytest.mark.parametrize("target", ["cpg-sandbox-test-analysis", "."], ids=["another-bucket", "the-home"])
def test_a_web_bucket_that_is_a_symbolic_link_is_not_served(toolkit, target):
    """Only web-category storage is served: a folder named like a web bucket that links elsewhere is not one."""
    buckets = toolkit.home / "buckets"
    secret = buckets / "cpg-sandbox-test-analysis" / "secret.txt"
    secret.parent.mkdir(parents=True)
    secret.write_text("not web")
    (buckets / "cpg-sandbox-test-web").mkdir()
    (buckets / "alias-web").symlink_to(buckets / target if target != "." else toolkit.home)
    server = Served(f"{sys.executable} -m toolkit serve", toolkit.env)
    try:
        port, key = location(toolkit)
        path = "secret.txt" if target != "." else "buckets/cpg-sandbox-test-analysis/secret.txt"
        status, _headers, body = raw_get(port, f"/{key}/alias-web/{path}")
        assert status == 404 and b"not web" not in body
    finally:
        server.stop()
