"""Metamist goes away while `toolkit run` registers: the run says, per output, that it is not registered or
may be, and exits 6; the next run registers what is missing, and no output gets two Analyses.

The network fails in the worst place: the request creating the Analyses reached Metamist, which created them,
but its answer never came back (``applied``); or the request never arrived (``lost``). Only Metamist knows
which.
"""

from __future__ import annotations


import pytest

from tests.cli.test_concurrent_runs import CHECKSUMS, every_analysis
from tests.cli.test_run import DEMO_GROUPS
from tests.conftest import free_port, metadata_serving
from tests.registration.cutting_proxy import CuttingProxy


@pytest.fixture
def served(toolkit):
    """``toolkit metadata serve`` in a process of its own: a Metamist that outlives each run."""
    toolkit.run("metadata", "demo")
    with metadata_serving(toolkit.env, free_port()) as url:
        yield url


def run_against(toolkit, tmp_path, metamist_url: str, name: str, check: int):
    """`toolkit run` with a config naming ``metamist_url``; every config shares one set of buckets (and so the
    outputs and the run journal)."""
    from toolkit.settings import embedded_config, write_toml

    config = tmp_path / f"{name}.toml"
    shared = tmp_path / "shared"
    write_toml(config, embedded_config(shared, "sandbox-test", "http://127.0.0.1:9/web", metamist_url))
    return toolkit.run("run", CHECKSUMS, "--execution", "host", check=check,
                       extra_env={"CPG_CONFIG_PATH": str(config)})


@pytest.mark.slow
@pytest.mark.parametrize("applied", [True, False], ids=["applied", "lost"])
def test_metamist_gone_while_registering_then_the_next_run_registers_each_output_once(
    toolkit, tmp_path, served, applied
):
    with CuttingProxy(served, cut_request=1, forward_cut=applied, then_gone=True) as proxy:
        first = run_against(toolkit, tmp_path, proxy.url, "through-proxy", check=6)
        assert proxy.cut.is_set()
    assert "3 succeeded" in first.stderr and "0 Analyses created" in first.stderr
    cut = [line for line in first.stderr.splitlines() if "could not register" in line]
    assert len(cut) == 3 and all("cannot reach Metamist" in line for line in cut), first.stderr
    assert all("the next run looks it up by output" in line for line in cut)
    assert "3 registration(s) failed (rerun to register them; outputs are kept)" in first.stderr
    assert len(every_analysis(toolkit)) == (3 if applied else 0)

    second = run_against(toolkit, tmp_path, served, "direct", check=0)
    if applied:  # found registered: nothing runs, nothing is created
        assert "3 already done" in second.stderr and "0 Analyses created" in second.stderr, second.stderr
    else:  # the outputs left by the first run are adopted (the journal), not run again
        assert "3 registered from an earlier run" in second.stderr and "3 Analyses created" in second.stderr
        assert "0 succeeded" in second.stderr
    analyses = every_analysis(toolkit)
    assert len(analyses) == 3 and all(a["active"] for a in analyses)
    files = sorted(a["output"].rsplit("/", 1)[1] for a in analyses)
    assert files == [f"{group}.md5" for group in DEMO_GROUPS]
