"""The embedded server knows exactly the Analysis types a stock Metamist is seeded with (shipped as data in
toolkit/metamist_analysis_types.toml, from Metamist's liquibase changelog)."""

from __future__ import annotations

from toolkit.metamist_types import shipped_analysis_types
from toolkit.preflight import server_analysis_types


def test_the_embedded_server_answers_the_analysis_types_metamist_seeds(server):
    assert server_analysis_types() == shipped_analysis_types()
    assert shipped_analysis_types() == (
        "analysis-runner", "cram", "custom", "es-index", "gvcf", "joint-calling", "qc", "sv", "web",
    )
