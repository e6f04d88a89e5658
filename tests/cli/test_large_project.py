"""A project large enough for `toolkit plan --format json` to use a second core, with the embedded server in a
third process: asked in pages (the next page asked for while the last one is extracted); from 4 pages on, each
of two processes asks for, checks and plans half of them (toolkit.pipeline._plan_in_shares), below that the
groups are planned in two halves (toolkit.plan.make_plan). Either way the plan is the one a Python caller gets
in one process, from one answer, byte for byte: rejections, their order and numbering, warnings and errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.cli.seed import DEMO_PAIR, load, participant
from tests.conftest import REPO

GROUPS = 4100  # above 2 x toolkit.plan.PARALLEL_MIN_UNITS

# The program as `toolkit` runs it (toolkit.cli.entry), telling which way the plan was made.
PROGRAM_SAYING_HOW = """
import sys
import toolkit.pipeline, toolkit.plan
def make_plan(*args, original=toolkit.plan.make_plan, **kwargs):
    print("make_plan processes:", kwargs.get("processes", 1), file=sys.stderr)
    return original(*args, **kwargs)
def plan_in_shares(*args, original=toolkit.pipeline._plan_in_shares, **kwargs):
    made = original(*args, **kwargs)
    print("shares:", "one process after all" if made is None else "planned", file=sys.stderr)
    return made
toolkit.pipeline.make_plan = make_plan
toolkit.pipeline._plan_in_shares = plan_in_shares
sys.argv = ["toolkit"] + sys.argv[1:]
from toolkit.cli import entry
entry()
"""


def _program(toolkit, *args: str, page_size: int):
    return subprocess.run(
        [sys.executable, "-c", PROGRAM_SAYING_HOW, "plan", *args, "--format", "json"], cwd=REPO,
        env={**toolkit.env, "TOOLKIT_QUERY_PAGE_SIZE": str(page_size)}, capture_output=True, text=True, timeout=300,
    )


def _in_python(toolkit, monkeypatch, capsys, *args: str, page_size: int | None = None) -> tuple[int, str, str]:
    """The same command called from Python: one process, the server in a thread; the project in one answer, or
    in pages of ``page_size``."""
    for name, value in toolkit.env.items():
        monkeypatch.setenv(name, value)
    for name in ("SM_URL", "SM_ENVIRONMENT", "CPG_CONFIG_PATH", "TOOLKIT_QUERY_PAGE_SIZE"):
        monkeypatch.delenv(name, raising=False)
    if page_size is not None:
        monkeypatch.setenv("TOOLKIT_QUERY_PAGE_SIZE", str(page_size))
    from toolkit.cli import main

    capsys.readouterr()
    code = main(["plan", *args, "--format", "json"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(("page_size", "how"), [(1000, "shares: planned"), (2500, "make_plan processes: 2")])
def test_a_large_project_uses_two_processes_and_plans_as_one_process(toolkit, tmp_path, monkeypatch, capsys,
                                                                      page_size, how):
    load(toolkit, tmp_path, "sandbox-test", [participant(f"BIG{index:05d}") for index in range(GROUPS)])
    program = _program(toolkit, "jobspecs/fastqe.yaml", page_size=page_size)
    assert program.returncode == 0, program.stderr[-3000:]
    assert how in program.stderr

    code, in_one_process, _ = _in_python(toolkit, monkeypatch, capsys, "jobspecs/fastqe.yaml")
    assert code == 0
    assert program.stdout == in_one_process
    plan = json.loads(program.stdout)
    assert plan["summary"]["run"] == len({job["id"] for job in plan["jobs"]}) == GROUPS


# A spec whose job ids and file names come from the sample's meta, so that metadata can make every kind of
# rejection, and shared ids and files, in either half of the pages. No registrations: its ids need not be
# sequencing groups'.
SHARES_SPEC = f"""\
version: 1
name: shares
image: {{name: tools, tag: 1.0-1, dockerfile: {REPO}/dockerfiles/fastqe/Dockerfile}}
inputs:
  query: |
    query Reads($project: String!, $sgids: [String!]) {{
      project(name: $project) {{
        sequencingGroups(id: {{in_: $sgids}}) {{ id sample {{ meta }} assays {{ meta }} }}
      }}
    }}
  variables: {{project: {{from: project}}, sgids: {{from: sgids}}}}
  groups: project.sequencingGroups
  id: sample.meta.job
  reads: {{path: "assays[].meta.reads[]", location: location, size: size}}
  fields: {{name: sample.meta.name}}
  expect: {{reads: 2, on_mismatch: skip}}
command: |
  cat {{{{ reads }}}} > {{{{ outputs.out }}}}
outputs:
  out: {{path: "shares/{{{{ group.name }}}}.txt"}}
"""


def _member(index: int, *, job: str | None = "same", name: str | None = None, reads=DEMO_PAIR,
            sized: bool = True) -> dict:
    meta = {"name": name or f"n{index:02d}"}
    if job is not None:
        meta["job"] = f"J{index:02d}" if job == "same" else job
    member = participant(f"S{index:02d}", reads=reads, sample_meta=meta)
    if not sized:
        for read in member["samples"][0]["sequencing_groups"][0]["assays"][0]["meta"]["reads"]:
            del read["size"]
    return member


def _odd_half(first: int) -> list[dict]:
    """Eight groups (four pages of two) with every kind of rejection and a job of unknown size."""
    return [
        _member(first),
        _member(first + 1, reads=DEMO_PAIR + DEMO_PAIR[:1]),  # three reads: rejected by the answer's check
        _member(first + 2, job=None),  # no id: rejected as "#<position in the answer>"
        _member(first + 3, reads=("/etc/hostname", "/etc/hosts")),  # outside the local read roots
        _member(first + 4, job=f"J/{first}"),  # an id that cannot name a file
        _member(first + 5, name="a/../b"),  # an output path that leaves its folder: not rendered
        _member(first + 6, sized=False),  # storage cannot be sized: a warning
        _member(first + 7),
    ]


def _compare(toolkit, tmp_path, monkeypatch, capsys, members: list[dict], how: str) -> tuple:
    load(toolkit, tmp_path, "sandbox-test", members)
    spec = tmp_path / "shares.yaml"
    spec.write_text(SHARES_SPEC)
    program = _program(toolkit, str(spec), page_size=2)
    assert how in program.stderr, program.stderr[-3000:]
    # one process asking in the same pages (one answer tells apart entries that pages cannot: see fetch_pages)
    code, out, err = _in_python(toolkit, monkeypatch, capsys, str(spec), page_size=2)
    assert program.returncode == code
    assert program.stdout == out
    return program, err


def test_shares_reject_and_warn_as_one_process(toolkit, tmp_path, monkeypatch, capsys):
    program, _ = _compare(toolkit, tmp_path, monkeypatch, capsys, _odd_half(0) + _odd_half(8), "shares: planned")
    assert program.returncode == 0, program.stderr[-3000:]
    plan = json.loads(program.stdout)
    assert [job["id"] for job in plan["jobs"]] == ["J00", "J06", "J07", "J08", "J14", "J15"]
    skipped = [(entry["group"], entry["reason"].split(" ")[0]) for entry in plan["skipped"]]
    # the answer's rejections of both halves, then the read checks', then the ids', then the renders'
    assert [group for group, _ in skipped] == ["J01", "#3", "J09", "#11", "J03", "J11", "J/0", "J/8", "J05", "J13"]
    assert "J06 and J14" in " ".join(plan["warnings"]) or "J06, J14" in " ".join(plan["warnings"])


@pytest.mark.parametrize(("second_half", "outcome"), [
    # the same group (id, reads, fields) reached in both halves: one job, as one process asking in these pages
    ([_member(4, job="J00", name="n00")] + [_member(index) for index in range(5, 8)], "J00 once"),
    # one id for two different groups: refused
    ([_member(4, job="J00")] + [_member(index) for index in range(5, 8)], "same id"),
    # two groups writing one file: refused
    ([_member(4, name="n00")] + [_member(index) for index in range(5, 8)], "same file"),
    # within the child's half (it fails; one process then says why)
    ([_member(4), _member(5, job="J04")] + [_member(index) for index in range(6, 8)], "same id"),
    ([_member(4), _member(5, name="n04")] + [_member(index) for index in range(6, 8)], "same file"),
    # within the child's half, in two of its pages
    ([_member(4), _member(5), _member(6, job="J04"), _member(7)], "same id"),
    ([_member(4), _member(5), _member(6, name="n04"), _member(7)], "same file"),
])
def test_shares_that_meet_are_planned_by_one_process(toolkit, tmp_path, monkeypatch, capsys, second_half, outcome):
    first_half = [_member(index) for index in range(4)]
    program, err = _compare(toolkit, tmp_path, monkeypatch, capsys, first_half + second_half,
                            "shares: one process after all")
    if outcome == "J00 once":
        assert program.returncode == 0
        assert [job["id"] for job in json.loads(program.stdout)["jobs"]] == ["J00", "J01", "J02", "J03", "J05", "J06", "J07"]
        return
    assert program.returncode != 0
    expected = {"same id": "gives the same id to different entries", "same file": "gives the same file for jobs"}
    assert expected[outcome] in program.stderr and expected[outcome] in err


@pytest.mark.parametrize(("first_half", "expected"), [
    ([_member(0), _member(1, job="J00")] + [_member(index) for index in range(2, 4)], "gives the same id"),
    ([_member(0), _member(1, name="n00")] + [_member(index) for index in range(2, 4)], "gives the same file"),
    # in two pages of this half: the second page meets a job the first page planned already
    ([_member(0), _member(1), _member(2, job="J00"), _member(3)], "gives the same id"),
    ([_member(0), _member(1), _member(2, name="n00"), _member(3)], "gives the same file"),
])
def test_a_failing_first_half_is_said_as_one_process_says_it(toolkit, tmp_path, monkeypatch, capsys, first_half,
                                                              expected):
    program, err = _compare(toolkit, tmp_path, monkeypatch, capsys, first_half + [_member(i) for i in range(4, 8)],
                            "shares: one process after all")
    assert program.returncode != 0 and expected in program.stderr and expected in err
