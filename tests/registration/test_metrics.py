"""Metrics outputs (outputs.NAME.metrics): a job's JSON, checked against its declared shape, into meta.metrics."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest

from tests.conftest import REPO
from toolkit.registration.metrics import MAX_METRICS_BYTES, MetricsProblem, check_metrics, read_job_metrics

SHAPE = {"reads": "integer", "gc": "number", "passed": "boolean", "modules": "object", "note": "string?"}


def job_writing(path, shape=SHAPE):
    return SimpleNamespace(metrics={"qc": shape}, outputs={"qc": SimpleNamespace(destination=str(path))})


def test_declared_values_are_kept_with_their_json_types_and_nothing_else(tmp_path):
    out = tmp_path / "qc.json"
    out.write_text(json.dumps({"reads": 10, "gc": 41, "passed": True, "modules": {"adapter": "pass"}, "extra": 1}))
    assert read_job_metrics(job_writing(out)) == {
        "reads": 10, "gc": 41, "passed": True, "modules": {"adapter": "pass"}, "note": None}
    assert read_job_metrics(job_writing("file://" + str(out)))["reads"] == 10


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"gc": 1.5, "passed": True, "modules": {}}, "reads is missing (declared integer)"),
        ({"reads": None, "gc": 1.5, "passed": True, "modules": {}}, "reads is null (declared integer)"),
        ({"reads": "10", "gc": 1.5, "passed": True, "modules": {}}, "reads is a string, declared integer"),
        ({"reads": 1.5, "gc": 1.5, "passed": True, "modules": {}}, "reads is a number, declared integer"),
        ({"reads": True, "gc": 1.5, "passed": True, "modules": {}}, "reads is a boolean, declared integer"),
        ({"reads": 1, "gc": 1.5, "passed": 1, "modules": []}, "passed is an integer, declared boolean; "
                                                               "modules is an array, declared object"),
        ([1, 2], "is an array, not a JSON object"),
    ],
)
def test_a_value_of_another_shape_is_a_problem_naming_the_key(document, problem):
    with pytest.raises(MetricsProblem) as raised:
        check_metrics(document, SHAPE, "qc")
    assert str(raised.value).endswith(problem)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"reads": NaN, "gc": 1, "passed": true, "modules": {}}', "is not JSON"),
        (b'{"reads": 1, "gc": 1e400, "passed": true, "modules": {}}', "holds NaN or Infinity"),
        (b"\xff\xfe", "is not JSON"),
        (b"[" * 100 + b"]" * 100, "nested deeper than"),
        (b"x" * (MAX_METRICS_BYTES + 1), "larger than"),
    ],
)
def test_files_that_are_not_small_finite_json_are_refused(tmp_path, content, problem):
    out = tmp_path / "qc.json"
    out.write_bytes(content)
    with pytest.raises(MetricsProblem, match=problem):
        read_job_metrics(job_writing(out))


def test_a_missing_file_is_a_problem(tmp_path):
    with pytest.raises(MetricsProblem, match="cannot be read"):
        read_job_metrics(job_writing(tmp_path / "missing.json"))


def test_validate_refuses_an_unknown_metric_type_and_a_metric_declared_twice(toolkit, tmp_path):
    text = (REPO / "jobspecs" / "fastqe.yaml").read_text().replace("../dockerfiles", str(REPO / "dockerfiles"))
    spec = tmp_path / "spec.yaml"
    spec.write_text(text.replace("      bases: integer\n", "      bases: integr\n"))
    done = toolkit.run("validate", str(spec), check=2)
    assert re.search(r"spec\.yaml:\d+:\d+: error: .*integr", done.stderr), done.stderr
    twice = text.replace("outputs:\n", "outputs:\n  more:\n    path: more/{{ group.id }}.json\n"
                                       "    metrics: {reads: integer}\n", 1)
    spec.write_text(twice)
    done = toolkit.run("validate", str(spec), check=2)
    assert "metric 'reads' is declared by outputs metrics and more" in done.stderr
