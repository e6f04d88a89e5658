"""Metadata is data, never code: hostile ids, values and read locations through the real CLI, the embedded
server over HTTP and Hail's LocalBackend (host execution).

Each group with metadata that cannot be used safely is rejected with its reason; the others run and
register; nothing runs on the host; nothing raw reaches the terminal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.seed import load, participant
from tests.cli.test_run import analyses_via_graphql, in_own_process

BY_SAMPLE = "tests/data/jobspecs/by-sample.yaml"
NOTES = "tests/data/jobspecs/notes.yaml"
CHECKSUMS = "tests/data/jobspecs/checksums.yaml"


def skipped(plan: dict) -> dict[str, str]:
    return {entry["group"]: entry["reason"] for entry in plan["skipped"]}


@pytest.mark.slow
def test_group_ids_from_metadata_never_reach_the_hosts_shell_and_a_bad_one_sinks_only_its_group(toolkit, tmp_path):
    """Issue 7, items 1 and 5: an external id with a newline ran `touch` on the host through Hail's job-name
    comment; a NUL in an id stopped the whole batch (exit 70, nothing kept)."""
    pwned = tmp_path / "PWNED"
    home = tmp_path / "user-home"  # where the odd id below would write, were it ever run by a shell
    home.mkdir()
    odd_but_fine = "Q'$(cd;touch PWNED2)`cd;touch PWNED3` \"; ü"
    hostile = {
        f"EVIL\ntouch {pwned}\n": "control or invisible character (U+000A)",
        "NUL\x00ID": "NUL character",
        "ESC\x1b[31mRED": "(U+001B)",
        "RTL\u202eexe.fq": "(U+202E RIGHT-TO-LEFT OVERRIDE)",
        "SLASH/ID": "path separator ('/')",
        "..": "names a folder",
    }
    good = ["GOOD1", odd_but_fine, "GOOD2"]
    load(toolkit, tmp_path, "hostile-test", [participant(sample) for sample in [good[0], *hostile, *good[1:]]])

    plan = toolkit.json(
        "plan", BY_SAMPLE, "--project", "hostile-test", "--format", "json", "--execution", "host",
        extra_env={"HOME": str(home)},
    )
    assert sorted(job["group"]["id"] for job in plan["jobs"]) == sorted(good)
    reasons = skipped(plan)
    assert set(reasons) == set(hostile)
    for group_id, why in hostile.items():
        assert why in reasons[group_id], (group_id, reasons[group_id])
    names = [job["name"] for job in plan["jobs"]]
    assert all(set(name) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._- ") for name in names)

    run = toolkit.run(
        "run", BY_SAMPLE, "--project", "hostile-test", "--execution", "host", extra_env={"HOME": str(home)}
    )
    assert "3 succeeded, 0 failed, 6 skipped" in run.stderr
    assert not pwned.exists() and list(home.iterdir()) == []
    written = list((toolkit.home / "buckets" / "cpg-hostile-test-analysis" / "toolkit" / "by-sample").glob("*.md5"))
    assert len(written) == 3
    for md5 in written:
        assert md5.read_text().count("DEMO001_R") == 2
    # The ids reach the terminal escaped: no raw newline, NUL, escape or bidi override in any line.
    assert "EVIL\\ntouch" in run.stderr and "ESC\\x1b[31mRED" in run.stderr and "RTL\\u202eexe" in run.stderr
    for raw in ("\x00", "\x1b", "\u202e", "EVIL\ntouch"):
        assert raw not in run.stderr and raw not in run.stdout


@pytest.mark.slow
def test_a_value_no_command_or_path_can_hold_rejects_its_group_the_others_run_and_register(toolkit, tmp_path):
    """Issue 7, item 5: a NUL in a meta value, or a control character in an output path, aborted the plan."""
    load(toolkit, tmp_path, "values-test", [
        participant("S1", sample_meta={"note": "fine"}),
        participant("S2", sample_meta={"note": "nul \x00 inside"}),
        participant("S3\r", sample_meta={"note": "carriage return in the sample id, used in the output path"}),
        participant("S4", sample_meta={"note": "also fine; $(touch nope) `x`\nsecond line"}),
    ])
    plan = toolkit.json("plan", NOTES, "--project", "values-test", "--format", "json", "--execution", "host")
    samples = {job["group"]["fields"]["sample"]: job["group"]["id"] for job in plan["jobs"]}
    assert sorted(samples) == ["S1", "S4"]
    reasons = list(skipped(plan).values())
    assert len(reasons) == 2
    assert any("NUL" in reason and "command template" in reason for reason in reasons)
    assert any("control character" in reason and "outputs.notes.path" in reason for reason in reasons)

    run = toolkit.run("run", NOTES, "--project", "values-test", "--execution", "host")
    assert "2 succeeded, 0 failed, 2 skipped" in run.stderr and "2 Analyses created" in run.stderr
    registered = {a["sequencingGroups"][0]["id"]: a for a in analyses_via_graphql(toolkit, "values-test")}
    assert set(registered) == set(samples.values())
    assert registered[samples["S4"]]["meta"]["note"] == "also fine; $(touch nope) `x`\nsecond line"
    assert not (Path.cwd() / "nope").exists() and not list(tmp_path.rglob("nope"))


@pytest.mark.slow
def test_only_gs_and_allowed_local_reads_are_read(toolkit, tmp_path):
    """Issue 7, item 9: an http:// read passed the plan and then killed the run (exit 70); file:///etc/passwd
    was read and its checksum registered."""
    load(toolkit, tmp_path, "reads-test", [
        participant("OK"),
        participant("HTTP", reads=("http://127.0.0.1:9/r1.fq.gz", "http://127.0.0.1:9/r2.fq.gz")),
        participant("PASSWD", reads=("file:///etc/passwd",)),
        participant("PASSWD2", reads=("/etc/passwd",)),
        participant("DEVICE", reads=("/dev/zero",)),
        participant("HOME", reads=("~/.ssh/id_rsa",)),
    ])
    plan = toolkit.json("plan", CHECKSUMS, "--project", "reads-test", "--format", "json", "--execution", "host")
    assert [job["group"]["fields"]["sample"] for job in plan["jobs"]] == ["OK"]
    reasons = sorted(skipped(plan).values())
    assert sum("http:// locations are not supported" in reason for reason in reasons) == 1
    assert sum("outside the folders local reads may come from" in reason for reason in reasons) == 3
    assert sum("not an absolute path" in reason for reason in reasons) == 1

    run = toolkit.run("run", CHECKSUMS, "--project", "reads-test", "--execution", "host")
    assert "1 succeeded, 0 failed, 5 skipped" in run.stderr
    written = list((toolkit.home / "buckets" / "cpg-reads-test-analysis").rglob("*.md5"))
    assert len(written) == 1 and "passwd" not in written[0].read_text()
    assert len(analyses_via_graphql(toolkit, "reads-test")) == 1

    # A folder the user allows is read from: here, where /etc/passwd lives.
    allowed = toolkit.json(
        "plan", CHECKSUMS, "--project", "reads-test", "--format", "json", "--execution", "host",
        extra_env={"TOOLKIT_READ_ROOTS": "/etc"},
    )
    assert sorted(job["group"]["fields"]["sample"] for job in allowed["jobs"]) == ["OK", "PASSWD", "PASSWD2"]


def test_plan_and_outputs_print_metadata_escaped(toolkit, tmp_path):
    """Issue 7, item 9: escape sequences in metadata were printed raw (they can rewrite the terminal)."""
    load(toolkit, tmp_path, "escapes-test", [participant("S1", sample_meta={"note": "\x1b[2J\x1b]0;owned\x07wiped"})])
    plan = toolkit.run("plan", NOTES, "--project", "escapes-test", "--execution", "host")
    assert "\\x1b[2J\\x1b]0;owned\\x07wiped" in plan.stdout
    assert "\x1b" not in plan.stdout + plan.stderr and "\x07" not in plan.stdout + plan.stderr
    (job,) = toolkit.json("plan", NOTES, "--project", "escapes-test", "--format", "json", "--execution", "host")["jobs"]

    # An Analysis another Metamist user registered under this spec's name, with a hostile output.
    in_own_process(
        toolkit,
        "from metamist.models import Analysis, AnalysisStatus\n"
        "analysis_api().create_analysis('escapes-test', Analysis(type='qc', status=AnalysisStatus('completed'), "
        "output='file:///x\\x1b[2J\\x1b]0;owned\\x07.md5', sequencing_group_ids=[sys.argv[1]], "
        "meta={'jobspec': 'read-checksums'}))",
        job["group"]["id"],
    )
    listed = toolkit.run("outputs", CHECKSUMS, "--project", "escapes-test")
    assert "file:///x\\x1b[2J\\x1b]0;owned\\x07.md5" in listed.stdout
    assert "\x1b" not in listed.stdout and "\x07" not in listed.stdout
    as_json = json.loads(toolkit.run("outputs", CHECKSUMS, "--project", "escapes-test", "--format", "json").stdout)
    assert as_json["analyses"][0]["output"] == "file:///x\x1b[2J\x1b]0;owned\x07.md5"  # data kept exact in JSON


def test_a_project_name_that_is_a_path_is_refused_before_anything_is_written(toolkit, tmp_path):
    """Issue 7, item 9: `--project ../../x` wrote a config file outside the toolkit home."""
    before = set(tmp_path.rglob("*"))
    for project in ("../../../../escaped", "a/b", "x\ny", "-rf", ".."):
        done = toolkit.run("plan", CHECKSUMS, f"--project={project}", check=2)
        assert "is not a project name the toolkit can use" in done.stderr, done.stderr
    assert not [path for path in set(tmp_path.rglob("*")) - before if "escaped" in path.name or path.suffix == ".toml"]
    assert not (tmp_path.parent / "escaped.toml").exists()


def test_error_messages_are_printed_escaped(toolkit):
    done = toolkit.run("plan", CHECKSUMS, "--param", "\x1b]0;owned\x07x=1", check=2)
    assert "--param \\x1b]0;owned\\x07x" in done.stderr and "\x1b" not in done.stderr and "\x07" not in done.stderr


def notes_spec(folder: Path, command: str) -> Path:
    """tests/data/jobspecs/notes.yaml with another command (the Dockerfile path made absolute)."""
    from tests.conftest import REPO

    text = (REPO / NOTES).read_text().replace("dockerfile: ../../../", f"dockerfile: {REPO}/")
    start, end = text.index("command: |"), text.index("outputs:")
    body = "".join(f"  {line}\n" for line in command.splitlines())
    path = folder / "spec.yaml"
    path.write_text(f"{text[:start]}command: |\n{body}\n{text[end:]}")
    return path


@pytest.mark.slow
def test_values_after_a_redirection_or_in_a_wrapped_shell_are_refused_and_never_run(toolkit, tmp_path):
    """Found by the audit of issue 7: `nohup sh -c {{ v }}` passed validate and ran metadata on the host, and a
    value after a redirection's target (`sort 2> /dev/null {{ v }}`) escaped the leading-dash rule, so a note
    `--output=PATH` made sort write PATH."""
    wrapped = notes_spec(tmp_path, "nohup sh -c {{ group.note }} > {{ outputs.notes }}")
    done = toolkit.run("validate", str(wrapped), check=2)
    assert f"{wrapped}:38:" in done.stderr and "is in a sh -c command" in done.stderr

    pwned = tmp_path / "PWNED"
    data = tmp_path / "input.txt"
    data.write_text("b\na\n")
    load(toolkit, tmp_path, "redirect-test", [
        participant("S1", sample_meta={"note": f"--output={pwned}"}),
        participant("S2", sample_meta={"note": str(data)}),
    ])
    spec = notes_spec(tmp_path, "sort 2> /dev/null {{ group.note }} > {{ outputs.notes }}")
    run = toolkit.run("run", str(spec), "--project", "redirect-test", "--execution", "host")
    assert "1 succeeded, 0 failed, 1 skipped" in run.stderr
    assert "starts with '-', so the program would read it as an option" in run.stderr
    assert not pwned.exists()
    (written,) = (toolkit.home / "buckets" / "cpg-redirect-test-analysis").rglob("*.txt")
    assert written.read_text() == "a\nb\n"


def test_a_template_that_rebinds_params_to_metadata_gets_no_exemption_from_the_dash_rule(toolkit, tmp_path):
    """Found by the audit of issue 7: `{% set params = group %}` made a metadata note pass as a param."""
    load(toolkit, tmp_path, "rebind-test", [participant("S1", sample_meta={"note": "--output=/tmp/x"})])
    spec = notes_spec(tmp_path, "{% set params = group %}sort {{ params.note }} > {{ outputs.notes }}")
    plan = toolkit.json("plan", str(spec), "--project", "rebind-test", "--format", "json", "--execution", "host")
    assert plan["jobs"] == []
    assert "starts with '-', so the program would read it as an option" in list(skipped(plan).values())[0]


def test_a_field_too_long_for_a_file_name_in_an_output_path_rejects_its_group_at_plan_time(toolkit, tmp_path):
    """Found by the audit of issue 7: a 300-byte sample id in `notes/{{ group.sample }}/...` passed the plan, then
    its job failed after running, with a Python traceback from Hail's copy tool on the terminal."""
    load(toolkit, tmp_path, "long-test", [participant(sample, sample_meta={"note": "n"}) for sample in ("L" * 300, "OK")])
    plan = toolkit.json("plan", NOTES, "--project", "long-test", "--format", "json", "--execution", "host")
    assert [job["group"]["fields"]["sample"] for job in plan["jobs"]] == ["OK"]
    (reason,) = skipped(plan).values()
    assert "outputs.notes.path" in reason and "longer than 255 bytes" in reason
