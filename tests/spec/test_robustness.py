"""Whatever a key's value is replaced by, load_spec answers with diagnostics inside the file, never a crash.

Mutants are written as indented JSON (which is YAML in flow style), so positions inside flow collections
get exercised too.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from toolkit.errors import SpecError
from toolkit.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
FASTQE = REPO / "jobspecs" / "fastqe.yaml"
REPLACEMENTS = [None, 0, -3, 2.5, True, "x", "{{ nope", "a[", [], [1, "a"], {}, {"zz": 1}]


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, prefix + (index,))


def _replaced(data, path, replacement):
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = replacement


def test_every_value_replaced_by_every_kind_of_wrong_value(tmp_path):
    original = dict(YAML(typ="safe").load(FASTQE.read_text()))
    original["image"]["dockerfile"] = str(REPO / "dockerfiles" / "fastqe" / "Dockerfile")
    paths = [p for p in _paths(original) if p]
    checked = 0
    spec = tmp_path / "mutant.yaml"
    for path in paths:
        for replacement in REPLACEMENTS:
            data = copy.deepcopy(original)
            _replaced(data, path, replacement)
            spec.write_text(json.dumps(data, indent=2))
            line_count = len(spec.read_text().split("\n"))
            try:
                load_spec(spec)
            except SpecError as error:
                assert error.diagnostics, (path, replacement)
                for diagnostic in error.diagnostics:
                    assert 1 <= diagnostic.line <= line_count, (path, replacement, diagnostic)
                    assert diagnostic.column >= 1
                assert "Traceback" not in error.render()
            checked += 1
    assert checked == len(paths) * len(REPLACEMENTS) and checked > 300


@pytest.mark.parametrize("text", [
    "version: 1\n: x\n", "version: 1\n? [a, b]\n: c\n", "&a [*a]\n", "version: 1\nname: !!binary aGk=\n",
    "version: 1\nname: x\n...\n---\nname: y\n", "\ufeffversion: 1\n", "version: 1\nimage: {name: *x}\n",
])
def test_odd_yaml_never_crashes(tmp_path, text):
    spec = tmp_path / "odd.yaml"
    spec.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_spec(spec)
    assert caught.value.diagnostics
    caught.value.render()
