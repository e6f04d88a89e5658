"""The FastQC and MultiQC reports as a person opens them: `toolkit run jobspecs/fastqc.yaml jobspecs/multiqc.yaml`
on the host, then the `toolkit serve` line it prints, then each report's display URL in Chromium, under the
sandboxing policy reports are served with. Fails when a report is blank or broken there (a plot that does not
draw, a script or image the policy refuses) or asks for anything outside this machine."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.cli.test_run import analyses_via_graphql
from tests.results.conftest import DEMO_GROUPS, Served, hint_command, module_toolkit, screenshot
from tests.results.test_browser import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.host_tools, pytest.mark.slow]


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    if shutil.which("fastqc") is None or not (Path(sys.executable).parent / "multiqc").exists():
        pytest.skip("host runs need fastqc (apt-get install fastqc) and multiqc (scripts/setup.sh --with-multiqc)")
    toolkit = module_toolkit(tmp_path_factory)
    run = toolkit.run("run", "jobspecs/fastqc.yaml", "jobspecs/multiqc.yaml", "--execution", "host")
    served = Served(hint_command(run.stderr), toolkit.env)
    reports = {a["output"].rsplit("/", 1)[1]: a["meta"]["display_url"]
               for a in analyses_via_graphql(toolkit) if a["type"] == "web"}
    yield served, reports
    served.stop()


def test_the_fastqc_page_shows_each_reads_own_report_with_its_plots(browser, bundled):
    from selenium.webdriver.common.by import By

    _, reports = bundled
    assert sorted(reports) == sorted([f"{g}_fastqc.html" for g in DEMO_GROUPS] + ["multiqc_report.html"])
    browser.page_requests.reset()
    browser.get(reports["CPGLCL17_fastqc.html"])
    assert browser.find_element(By.TAG_NAME, "h1").text == "FastQC: CPGLCL17"
    assert [h.text for h in browser.find_elements(By.CSS_SELECTOR, "h2")] == [
        "DEMO001_R1.fastq.gz", "DEMO001_R2.fastq.gz"]
    frames = browser.find_elements(By.TAG_NAME, "iframe")
    assert len(frames) == 2
    for frame in frames:
        browser.switch_to.frame(frame)
        try:
            # FastQC's plots are data: images; drawn means decoded, with a size
            drawn = wait_for(lambda: browser.execute_script(
                "return [...document.images].filter(i => i.complete && i.naturalWidth > 0).length"),
                what="FastQC's plots")
            assert drawn >= 10
            assert "Per base sequence quality" in browser.find_element(By.TAG_NAME, "body").text
        finally:
            browser.switch_to.default_content()
    screenshot(browser, "fastqc-report")
    assert browser.page_requests.outside() == []
    assert browser.page_requests.refused() == []


def test_the_multiqc_report_draws_its_plots_offline(browser, bundled):
    from selenium.webdriver.common.by import By

    _, reports = bundled
    browser.page_requests.reset()
    browser.get(reports["multiqc_report.html"])
    # Plotly draws each plot as SVG once the report's own (inlined) scripts ran
    plots = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot svg.main-svg"),
                     timeout=60, what="MultiQC's plots")
    assert len(plots) >= 2
    text = browser.find_element(By.TAG_NAME, "body").text
    for group, sample in (("CPGLCL17", "DEMO001"), ("CPGLCL33", "DEMO003")):
        assert f"{group} | {sample}_R1" in text
    screenshot(browser, "multiqc-report")
    assert browser.page_requests.outside() == []
    assert browser.page_requests.refused() == []
