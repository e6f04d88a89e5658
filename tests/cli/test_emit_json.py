"""`--format json` output: what json.dumps(indent=2, ensure_ascii=False) writes, with generators streamed."""

from __future__ import annotations

import io
import json
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.cli._common import emit_json

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=20,
)


def has_float(value) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(has_float(item) for item in value.values())
    if isinstance(value, list):
        return any(has_float(item) for item in value)
    return False


def emitted(data) -> str:
    saved, sys.stdout = sys.stdout, io.StringIO()
    try:
        emit_json(data)
        return sys.stdout.getvalue()
    finally:
        sys.stdout = saved


@settings(max_examples=400, deadline=None)
@given(head=json_values, items=st.lists(json_values, max_size=4), tail=json_values)
def test_a_document_with_a_streamed_list_reads_back_as_the_same_data(head, items, tail):
    text = emitted({"head": head, "jobs": (item for item in items), "tail": tail})
    assert json.loads(text) == {"head": head, "jobs": items, "tail": tail}
    if not has_float([head, items, tail]):
        # the very text of json.dumps(indent=2, ensure_ascii=False), floats aside (orjson writes 1e16 for 1e+16)
        assert text == json.dumps({"head": head, "jobs": items, "tail": tail}, indent=2, ensure_ascii=False) + "\n"


def test_several_plans_each_with_streamed_jobs():
    text = emitted({"plans": [{"jobs": (j for j in [{"id": "A"}]), "n": 1}, {"jobs": (j for j in []), "n": 2}]})
    assert json.loads(text) == {"plans": [{"jobs": [{"id": "A"}], "n": 1}, {"jobs": [], "n": 2}]}
