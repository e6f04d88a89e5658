"""The results page in a real browser: the README's demo run, then the line it prints, then what a person sees.

Fails when a row is missing, a report link does not open its report, a metric is missing, sorting does nothing,
or the page (or a report in it) fetches anything from outside this machine.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.results.conftest import DEMO_GROUPS, fetch, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def wait_for(condition, timeout: float = 30, what: str = "condition"):
    deadline = time.time() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def rows(browser):
    from selenium.webdriver.common.by import By

    return browser.find_elements(By.CSS_SELECTOR, "section.spec[data-spec=fastqe] tr.group")


def test_the_demo_page_shows_every_group_with_a_working_report_and_fetches_nothing_outside(browser, demo):
    from selenium.webdriver.common.by import By

    toolkit, served, run = demo
    assert "3 succeeded" in run.stderr
    browser.page_requests.reset()
    started = time.time()
    browser.get(served.url)
    wait_for(lambda: rows(browser), what="the group rows")
    print(f"page load, first visit after start: {time.time() - started:.2f} s")
    started = time.time()
    browser.refresh()
    wait_for(lambda: rows(browser), what="the group rows again")
    print(f"page load, next visit: {time.time() - started:.2f} s")

    # One row per demo group, each done, with its sample, a report link and its metrics.
    found = {row.get_attribute("data-group"): row for row in rows(browser)}
    assert sorted(found) == DEMO_GROUPS
    samples = {gid: row.find_element(By.CSS_SELECTOR, "td:nth-child(2)").text for gid, row in found.items()}
    assert samples == {"CPGLCL17": "DEMO001", "CPGLCL25": "DEMO002", "CPGLCL33": "DEMO003"}
    for row in found.values():
        assert row.get_attribute("data-state") == "done", row.text
        reads = row.find_element(By.CSS_SELECTOR, "td[data-metric=reads]").text
        assert reads == "4,000"  # 2,000 read pairs per demo group
        quality = float(row.find_element(By.CSS_SELECTOR, "td[data-metric=mean_quality]").text)
        assert 20 < quality < 41

    path = screenshot(browser, "results-page")
    assert path.stat().st_size > 10_000

    # Every report link resolves, to that group's report (not just any 200).
    links = browser.find_elements(By.CSS_SELECTOR, "a.report")
    assert len(links) == 3
    for link in links:
        gid = link.find_element(By.XPATH, "ancestor::tr").get_attribute("data-group")
        status, headers, body = fetch(link.get_attribute("href"))
        assert status == 200 and headers["content-type"].startswith("text/html"), (status, headers)
        assert gid in link.get_attribute("href")
        assert "sandbox" in headers["content-security-policy"]

    # Open one report in the page's viewer: FastQE's report, under the reads' own names, styled, with emoji.
    first = found["CPGLCL17"].find_element(By.CSS_SELECTOR, "a.report")
    first.click()
    browser.switch_to.frame(browser.find_element(By.ID, "report-view"))
    try:
        wait_for(lambda: "CPGLCL17.html" in browser.execute_script("return location.href"),
                 what="the viewer to load the report")
        headings = wait_for(lambda: [h.text for h in browser.find_elements(By.CSS_SELECTOR, "h2")], what="headings")
        assert headings == ["DEMO001_R1.fastq.gz", "DEMO001_R2.fastq.gz"]
        body = browser.find_element(By.TAG_NAME, "body")
        assert "inputs/" not in body.text and "Filename" not in body.text
        assert re.search("[\U0001F600-\U0001F64F]", body.text)
        # Bootstrap is inlined and applied: the container class has its max width and margins.
        assert browser.execute_script(
            "return getComputedStyle(document.querySelector('main.container')).marginLeft") != "0px"
        assert browser.execute_script("return window.origin") == "null"  # sandboxed: not the page's origin
    finally:
        browser.switch_to.default_content()
    assert "CPGLCL17" in browser.find_element(By.ID, "viewer-title").text
    screenshot(browser, "results-page-with-report")

    # Sorting: the mean_quality column sorts the rows by value.
    header = browser.find_element(By.XPATH, "//section[@data-spec='fastqe']//th[normalize-space()='mean_quality']")
    header.click()
    def ordered():
        values = [float(row.find_element(By.CSS_SELECTOR, "td[data-metric=mean_quality]").text) for row in rows(browser)]
        return values if values == sorted(values, reverse=True) else None
    assert wait_for(ordered, what="rows sorted by mean_quality")
    header.click()
    assert wait_for(lambda: (lambda v: v == sorted(v) and v)(
        [float(r.find_element(By.CSS_SELECTOR, "td[data-metric=mean_quality]").text) for r in rows(browser)]
    ), what="rows sorted ascending")

    # The whole visit, page and report, asked nothing of the outside world, and lacked nothing.
    assert browser.page_requests.outside() == []
    assert browser.page_requests.refused() == []


def test_a_report_with_script_in_a_read_name_cannot_touch_the_page(browser, demo):
    """Issue 7: a report whose read name is `<svg onload=...>` must not run script on the page's origin."""
    from selenium.webdriver.common.by import By

    toolkit, served, _run = demo
    report = toolkit.web_bucket / "toolkit" / "fastqe" / "CPGLCL17.html"
    original = report.read_text(encoding="utf-8")
    hostile = (
        "<svg onload=\"try{top.document.title='PWNED';}catch(e){}"
        "try{localStorage.setItem('pwned','1');}catch(e){}"
        "try{fetch('/').then(function(){document.title='fetched'});}catch(e){}\"></svg>"
    )
    report.write_text(original.replace("<body>", "<body>" + hostile, 1), encoding="utf-8")
    browser.page_requests.reset()
    try:
        browser.get(served.url)
        wait_for(lambda: rows(browser), what="rows")
        title = browser.title
        browser.find_element(By.CSS_SELECTOR, "tr[data-group=CPGLCL17] a.report").click()
        browser.switch_to.frame(browser.find_element(By.ID, "report-view"))
        try:
            wait_for(lambda: "CPGLCL17.html" in browser.execute_script("return location.href"), what="the report")
            wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "h2"), what="its headings")
            time.sleep(0.5)  # let onload handlers run
            assert browser.execute_script("return window.origin") == "null"
            assert browser.title != "fetched"  # connect-src 'none': the report cannot call the server
        finally:
            browser.switch_to.default_content()
        assert browser.title == title
        assert browser.execute_script("return window.localStorage.getItem('pwned')") is None

        # Opened directly (the ↗ link), the report is still in an opaque origin, not the page's.
        browser.get(browser.find_element(By.CSS_SELECTOR, "tr[data-group=CPGLCL17] a.open").get_attribute("href"))
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "h2"), what="the report")
        assert browser.execute_script("return window.origin") == "null"
        browser.get(served.url)
        assert browser.execute_script("return window.localStorage.getItem('pwned')") is None
    finally:
        report.write_text(original, encoding="utf-8")
    assert browser.page_requests.outside() == []


def test_metadata_in_the_page_is_text_never_markup(browser, demo):
    """Analysis meta values with markup are shown as text; the page runs none of it."""
    from selenium.webdriver.common.by import By

    toolkit, served, _run = demo
    from tests.cli.test_run import in_own_process

    in_own_process(
        toolkit,
        "from metamist.models import Analysis, AnalysisStatus\n"
        "analysis_api().create_analysis('sandbox-test', Analysis(type='qc', status=AnalysisStatus('completed'),"
        " output='file:///nowhere/x.txt', sequencing_group_ids=['CPGLCL25'], meta={'jobspec': 'hostile-meta',"
        " 'note': '<img src=x onerror=\"document.title=1\">', 'metrics': {'<b>bold</b>': 3}}))",
    )
    browser.page_requests.reset()
    browser.get(served.url)
    section = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "section.spec[data-spec=hostile-meta]"),
                       what="the section of the hostile Analysis")[0]
    assert '<img src=x onerror="document.title=1">' in section.text
    assert "<b>bold</b>" in section.text
    assert not section.find_elements(By.CSS_SELECTOR, "img[src=x], b")
    assert browser.title == "toolkit results"
    assert browser.page_requests.refused() == []  # nothing in the page even tried to load (an <img> would have)


def test_the_watch_sees_a_request_to_the_outside_from_a_page_and_from_a_sandboxed_frame(browser):
    """The check above would catch an asset fetched from outside: shown on a page made to do exactly that."""
    page = (
        "data:text/html,<img src='http://assets.example/page.png'>"
        "<iframe sandbox='allow-scripts' srcdoc=\"<img src='https://cdn.example/frame.png'>\"></iframe>"
    )
    browser.page_requests.reset()
    browser.get(page)
    time.sleep(1)
    seen = browser.page_requests.outside()
    assert "http://assets.example/page.png" in seen and "https://cdn.example/frame.png" in seen


def test_the_exported_page_works_from_the_web_bucket_in_a_sandbox(browser, demo):
    """`toolkit report --out` into the web bucket: served like any report (opaque origin), it still sorts,
    is styled, opens reports, and needs nothing from outside."""
    from selenium.webdriver.common.by import By

    toolkit, served, _run = demo
    out = toolkit.web_bucket / "results"
    toolkit.run("report", "jobspecs/fastqe.yaml", "--out", str(out))
    browser.page_requests.reset()
    browser.get(f"{toolkit.web_base_url}/cpg-sandbox-test-web/results/index.html")
    wait_for(lambda: rows(browser), what="the exported page's rows")
    assert browser.execute_script("return window.origin") == "null"
    assert sorted(row.get_attribute("data-group") for row in rows(browser))[:3] == ["CPGLCL17", "CPGLCL25", "CPGLCL33"]
    header = browser.find_element(By.XPATH, "//section[@data-spec='fastqe']//th[normalize-space()='mean_quality']")
    assert browser.execute_script("return getComputedStyle(arguments[0]).cursor", header) == "pointer"  # its CSS
    header.click()
    assert wait_for(lambda: rows(browser)[0].find_element(By.CSS_SELECTOR, "td[data-metric=mean_quality]").text
                    == max(r.find_element(By.CSS_SELECTOR, "td[data-metric=mean_quality]").text for r in rows(browser)),
                    what="sorted by its script")
    status, _headers, _body = fetch(rows(browser)[0].find_element(By.CSS_SELECTOR, "a.report").get_attribute("href"))
    assert status == 200
    assert browser.page_requests.outside() == [] and browser.page_requests.refused() == []
    screenshot(browser, "exported-page-from-web-bucket")
