"""The plain steps a spec's simple JMESPath paths are turned into answer as jmespath does, on any JSON."""

from __future__ import annotations

import jmespath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.query.groups import _compiled, _step

NAMES = ["a", "b", "meta", "reads", "id"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["", "x", "a"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(NAMES), inner, max_size=4),
    max_leaves=25,
)


def simple_expression():
    """Fields, indexes (also negative and out of range), [] and [*], chained: the shapes given plain steps."""
    part = st.one_of(
        st.sampled_from(NAMES),
        st.sampled_from(NAMES).map(lambda name: f"{name}[]"),
        st.sampled_from(NAMES).map(lambda name: f"{name}[*]"),
        st.tuples(st.sampled_from(NAMES), st.integers(-3, 5)).map(lambda pair: f"{pair[0]}[{pair[1]}]"),
    )
    return st.lists(part, min_size=1, max_size=4).map(".".join) | st.just("@") | st.just("[]") | st.just("[*].a")


@settings(max_examples=3000, deadline=None)
@given(expression=simple_expression(), data=json_values)
def test_plain_steps_answer_as_jmespath(expression, data):
    parsed = jmespath.compile(expression)
    assert _step(parsed.parsed) is not None, expression  # these shapes must not fall back
    assert _compiled(expression)(data) == parsed.search(data)


@pytest.mark.parametrize("expression", [
    "reads[?size > `1`]", "length(reads)", "{x: a}", "[a, b]", "a || b", "a[1:2]", "*.a", "a.*",
])
def test_other_expressions_are_left_to_jmespath(expression):
    parsed = jmespath.compile(expression)
    assert _step(parsed.parsed) is None
    data = {"a": [1, 2, 3], "b": 2, "reads": [{"size": 1}, {"size": 3}]}
    assert _compiled(expression)(data) == parsed.search(data)


def test_the_bundled_specs_paths_are_plain_steps():
    from pathlib import Path

    from toolkit.spec import load_spec

    jobspecs = sorted((Path(__file__).resolve().parents[2] / "jobspecs").glob("*.yaml"))
    assert len(jobspecs) >= 4
    for path in jobspecs:
        inputs = load_spec(path).model.inputs
        paths = [inputs.id, *inputs.fields.values()]
        if inputs.reads is not None:
            paths += [p for p in (inputs.reads.path, inputs.reads.location, inputs.reads.size,
                                  inputs.reads.checksum) if p]
        for expression in paths:
            assert _step(jmespath.compile(expression).parsed) is not None, (path.name, expression)
