"""Ids from metadata and the names handed to Hail (toolkit.plan.names)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from toolkit.plan.names import MAX_ID_BYTES, hail_label, id_problem, job_name

SAFE_NAME = re.compile(r"[A-Za-z0-9._ -]+")


def test_ids_that_can_name_files_and_jobs_pass():
    for good in ("CPGLCL17", "DEMO001", "Sample 1", "ü-ß_ñ.1", "Q'$(touch x)`y`;", "-dash", "a" * MAX_ID_BYTES):
        assert id_problem(good) is None, good


def test_ids_with_control_invisible_or_path_characters_are_refused_with_the_reason():
    cases = {
        "A\nB": "U+000A",
        "A\rB": "U+000D",
        "A\x00B": "NUL",
        "A\x1b[2JB": "U+001B",
        "A\x7fB": "U+007F",
        "A\x85B": "U+0085",
        "A\u202eB": "RIGHT-TO-LEFT OVERRIDE",
        "A\u200bB": "ZERO WIDTH SPACE",
        "A\u2028B": "LINE SEPARATOR",
        "A\ud800B": "U+D800",
        "A/B": "path separator",
        "A\\B": "path separator",
        ".": "names a folder",
        "..": "names a folder",
        "": "empty",
        "   ": "empty",
        "a" * (MAX_ID_BYTES + 1): "longer than",
        "é" * 200: "longer than",  # 400 bytes in UTF-8
    }
    for bad, reason in cases.items():
        problem = id_problem(bad)
        assert problem is not None and reason in problem, (bad, problem)


@given(st.text())
def test_hail_names_only_ever_hold_the_safe_alphabet(text):
    assert SAFE_NAME.fullmatch(job_name("fastqe", text))
    assert re.fullmatch(r"[A-Za-z0-9._-]+", hail_label(text))
    assert len(hail_label(text)) <= 100


def test_hail_names_stay_readable():
    assert job_name("fastqe", "CPGLCL17") == "fastqe CPGLCL17"
    assert hail_label("EVIL\ntouch /tmp/x") == "EVIL_touch__tmp_x"
