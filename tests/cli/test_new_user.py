"""What a new user tripped over on a fresh clone (issue 10, item 6): each is now a clear error or a true hint."""

from __future__ import annotations

import re

from tests.conftest import REPO

FASTQE = "jobspecs/fastqe.yaml"


def test_sgids_that_match_nothing_fail_and_say_which_ids_and_which_exist(toolkit):
    for verb in ("plan", "run"):
        done = toolkit.run(verb, FASTQE, "--execution", "host", "--sgids", "CPGLCL9999995", check=2)
        assert "no sequencing group of project sandbox-test has the id CPGLCL9999995" in done.stderr
        assert "CPGLCL17 (sample DEMO001)" in done.stderr  # the hint lists the project's groups
    assert not (toolkit.web_bucket / "toolkit").exists()


def test_a_sample_id_given_as_a_sequencing_group_names_the_samples_groups(toolkit):
    done = toolkit.run("plan", FASTQE, "--execution", "host", "--sgids", "DEMO001", check=2)
    assert "DEMO001 is a sample" in done.stderr and "its sequencing groups are CPGLCL17 (genome)" in done.stderr
    assert "Invalid prefix" not in done.stderr


def test_several_ids_that_are_not_sequencing_groups_are_all_named(toolkit):
    done = toolkit.run("plan", FASTQE, "--execution", "host", "--sgids", "CPGLCL99", "NOPE", "CPGLCL17", check=2)
    assert "--sgids: CPGLCL99, NOPE are not sequencing groups of project sandbox-test" in done.stderr
    assert "CPGLCL17 (sample DEMO001)" in done.stderr  # the hint lists the project's groups


def test_an_unknown_project_lists_the_known_ones(toolkit):
    done = toolkit.run("plan", FASTQE, "--execution", "host", "--project", "sandbox", check=2)
    assert "project 'sandbox' is unknown" in done.stderr and "projects you can use: sandbox-test" in done.stderr


def test_the_readme_says_how_to_get_toolkit_on_path_and_what_the_demo_ids_are():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    readme = " ".join(text.split())  # line breaks do not matter
    assert "source .venv/bin/activate" in readme
    assert not re.search(r"three sequencing groups,? `?DEMO001", readme)
    assert re.search(r"samples `DEMO001` to `DEMO003`", readme)
    first_command = next(line for line in text.splitlines() if line.startswith("scripts/setup.sh"))
    assert ".venv/bin/toolkit run jobspecs/fastqe.yaml" in first_command
    assert "toolkit serve" in readme and "toolkit report" in readme


def test_every_option_of_the_verbs_for_running_and_looking_has_help_text():
    import argparse

    from toolkit.cli import build_parser

    parser = build_parser()
    verbs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    missing = [
        f"toolkit {verb} {'/'.join(action.option_strings) or action.dest}"
        for verb in ("run", "outputs", "serve", "report")
        for action in verbs[verb]._actions
        if not isinstance(action, argparse._HelpAction) and not action.help
    ]
    assert missing == []
