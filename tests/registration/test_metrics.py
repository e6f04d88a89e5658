"""register.NAME.metrics: the job's JSON output recorded as the Analysis' meta.metrics, within bounds."""

from __future__ import annotations

import json
import re

from tests.conftest import REPO

FASTQE = REPO / "jobspecs" / "fastqe.yaml"


def test_metrics_must_name_another_output_of_the_spec(toolkit, tmp_path):
    spec = tmp_path / "spec.yaml"
    text = FASTQE.read_text().replace("../dockerfiles/", str(REPO / "dockerfiles") + "/")
    spec.write_text(text.replace("    metrics: metrics\n", "    metrics: nosuch\n"))
    done = toolkit.run("validate", str(spec), check=2)
    assert re.search(r"spec\.yaml:\d+:\d+: error: register\.report\.metrics must name an output", done.stderr)
    spec.write_text(text.replace("    metrics: metrics\n", "    metrics: report\n"))
    assert "names the registered output itself" in toolkit.run("validate", str(spec), check=2).stderr


def test_metrics_keep_finite_scalars_flatten_objects_and_refuse_what_is_not_an_object(tmp_path):
    from toolkit.registration import METRICS_LIMIT_BYTES, read_metrics

    good = tmp_path / "m.json"
    good.write_text('{"reads": 10, "q": 3.5, "bad": NaN, "big": Infinity, "per_file": {"R1": {"reads": 5}}, '
                    '"ok": true, "list": [1, 2], "name": "S1"}')
    assert read_metrics(str(good)) == {
        "metrics": {"reads": 10, "q": 3.5, "per_file.R1.reads": 5, "ok": True, "name": "S1"}}
    assert read_metrics("file://" + str(good))["metrics"]["reads"] == 10
    listed = tmp_path / "l.json"
    listed.write_text("[1, 2]")
    assert read_metrics(str(listed)) == {"metrics_problem": "metrics file is not a JSON object"}
    huge = tmp_path / "h.json"
    huge.write_text(json.dumps({"k": "x" * METRICS_LIMIT_BYTES}))
    assert "larger than" in read_metrics(str(huge))["metrics_problem"]
    assert "not readable" in read_metrics(str(tmp_path / "missing.json"))["metrics_problem"]
