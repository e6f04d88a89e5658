"""Scopes, chained specs, metrics, typed meta and shell options, end to end.

Real CLI, the embedded metadata server over HTTP, jobs on Hail's LocalBackend on the host (coreutils only, so no
image is needed). Every registered Analysis is read back through the metamist client and checked: its targets,
type, and meta types.
"""

from __future__ import annotations

import json
import re
import textwrap

import pytest

from tests.cli.test_run import analyses_via_graphql
from tests.conftest import REPO

DEMO = {"CPGLCL17": "DEMO001", "CPGLCL25": "DEMO002", "CPGLCL33": "DEMO003"}

HEADER = f"""\
version: 1
name: {{name}}
image: {{{{name: tools, tag: 1.0-1, dockerfile: {REPO}/dockerfiles/fastqe/Dockerfile}}}}
"""

QUERY = """\
inputs:
  query: |
    query Reads($project: String!, $sgids: [String!]) {
      project(name: $project) {
        sequencingGroups(id: {in_: $sgids}) { id type sample { externalId } assays { meta } }
      }
    }
  variables: {project: {from: project}, sgids: {from: sgids}}
  groups: project.sequencingGroups
  id: id
  reads: {path: "assays[].meta.reads[]", location: location, size: size, checksum: checksum}
  fields: {sample: sample.externalId}
"""


def write_spec(folder, name: str, body: str, *, query: bool = True) -> str:
    path = folder / f"{name}.yaml"
    path.write_text(HEADER.format(name=name) + (QUERY if query else "") + textwrap.dedent(body))
    return str(path)


def by_output(analyses, suffix):
    return sorted((a for a in analyses if a["output"].endswith(suffix)), key=lambda a: a["output"])


@pytest.mark.slow
def test_scope_read_runs_one_job_per_read_file_and_registers_each_against_its_group(toolkit, tmp_path):
    spec = write_spec(tmp_path, "checksums", """\
        scope: read
        command: |
          printf '%s %s %s\\n' {{ read.basename }} {{ read.checksum }} {{ read.position }} > {{ outputs.sums }}
          md5sum {{ read }} | cut -d' ' -f1 >> {{ outputs.sums }}
          printf '{"position": %s}\\n' {{ read.position }} > {{ outputs.metrics }}
        outputs:
          sums: {path: "checksums/{{ group.id }}/{{ read.basename }}.txt"}
          metrics:
            path: "checksums/{{ group.id }}/{{ read.basename }}.json"
            metrics: {position: integer}
        register:
          sums:
            type: qc
            meta: {sample: "{{ group.sample }}", read_count: "{{ reads | length }}", size: "{{ read.size }}"}
        """)
    plan = toolkit.json("plan", spec, "--format", "json", "--execution", "host")
    assert plan["scope"] == "read"
    jobs = {job["id"]: job for job in plan["jobs"]}
    assert sorted(jobs) == [f"{group}/{n}" for group in DEMO for n in (1, 2)]
    second = jobs["CPGLCL25/2"]
    assert second["group"]["id"] == "CPGLCL25" and second["position"] == 2
    assert [r["location"].rsplit("/", 1)[1] for r in second["inputs"]] == ["DEMO002_R2.fastq.gz"]
    assert second["registrations"][0]["sequencing_group_ids"] == ["CPGLCL25"]

    done = toolkit.run("run", spec, "--execution", "host")
    assert "6 succeeded" in done.stderr and "6 Analyses created" in done.stderr
    registered = by_output(analyses_via_graphql(toolkit), ".txt")
    assert len(registered) == 6
    for analysis in registered:
        group = analysis["output"].split("/")[-2]
        assert [sg["id"] for sg in analysis["sequencingGroups"]] == [group]
        meta = analysis["meta"]
        assert meta["sample"] == DEMO[group] and meta["read_count"] == 1 and isinstance(meta["size"], int)
        assert meta["metrics"]["position"] in (1, 2) and meta["read"]["position"] == meta["metrics"]["position"]
        written = (analysis["output"].removeprefix("file://"))
        name, checksum, position = open(written).readline().split()
        assert checksum.startswith("md5:") and open(written).read().split()[-1] == checksum.removeprefix("md5:")


@pytest.mark.slow
def test_scope_project_runs_one_job_over_all_groups_registered_against_each(toolkit, tmp_path):
    spec = write_spec(tmp_path, "roster", """\
        scope: project
        command: |
          {% for member in groups %}
          printf '%s\\t%s\\t%s\\n' {{ member.id }} {{ member.sample }} {{ member.reads | length }} >> {{ outputs.table }}
          {% endfor %}
          printf '{"groups": %s, "reads": %s}\\n' {{ groups | length }} {{ reads | length }} > {{ outputs.counts }}
        outputs:
          table: {path: "roster/{{ project }}.tsv"}
          counts: {path: "roster/{{ project }}.json", metrics: {groups: integer, reads: integer}}
        register:
          table: {type: custom, meta: {members: "{{ groups | length }}"}}
        """)
    plan = toolkit.json("plan", spec, "--format", "json", "--execution", "host", "--sgids", "CPGLCL17", "CPGLCL33")
    (job,) = plan["jobs"]
    assert job["id"] == "sandbox-test" and job["members"] == ["CPGLCL17", "CPGLCL33"]
    assert job["registrations"][0]["sequencing_group_ids"] == ["CPGLCL17", "CPGLCL33"]

    done = toolkit.run("run", spec, "--execution", "host")
    assert "1 succeeded" in done.stderr
    (analysis,) = by_output(analyses_via_graphql(toolkit), ".tsv")
    assert sorted(sg["id"] for sg in analysis["sequencingGroups"]) == sorted(DEMO)
    assert analysis["type"] == "custom"
    assert analysis["meta"]["members"] == 3 and analysis["meta"]["metrics"] == {"groups": 3, "reads": 6}
    rows = [line.split("\t") for line in open(analysis["output"].removeprefix("file://")).read().splitlines()]
    assert rows == [[group, sample, "2"] for group, sample in DEMO.items()]


@pytest.mark.slow
def test_a_chained_spec_takes_another_specs_registered_outputs_and_runs_after_it(toolkit, tmp_path):
    first = write_spec(tmp_path, "sizes", """\
        command: |
          cat {{ reads }} | wc -c > {{ outputs.size }}
        outputs:
          size: {path: "sizes/{{ group.id }}.txt"}
        register:
          size: {type: qc}
        """)
    second = write_spec(tmp_path, "total", """\
        scope: project
        inputs:
          from_jobspec: {name: sizes, output: size}
        command: |
          awk '{ total += $1 } END { print total }' {{ reads }} > {{ outputs.total }}
          {% for member in groups %}echo {{ member.id }} >> {{ outputs.total }}
          {% endfor %}
        outputs:
          total: {path: "total/{{ project }}.txt"}
        register:
          total: {type: custom}
        """, query=False)
    assert "ok:" in toolkit.run("validate", first, second).stdout

    # Before the first spec ran: nothing to aggregate, and the plan says why for each group.
    plan = toolkit.json("plan", second, "--format", "json", "--execution", "host")
    assert plan["jobs"] == []
    assert {s["group"] for s in plan["skipped"]} == set(DEMO)
    assert all("no active, completed Analysis of sizes's output 'size'" in s["reason"] for s in plan["skipped"])

    done = toolkit.run("run", first, second, "--execution", "host")
    assert "== sizes" in done.stderr and "== total" in done.stderr
    analyses = analyses_via_graphql(toolkit)
    (total,) = by_output(analyses, "total/sandbox-test.txt")
    lines = open(total["output"].removeprefix("file://")).read().split()
    sizes = [int(open(a["output"].removeprefix("file://")).read()) for a in by_output(analyses, ".txt")
             if "/sizes/" in a["output"]]
    assert int(lines[0]) == sum(sizes) and lines[1:] == list(DEMO)
    assert sorted(sg["id"] for sg in total["sequencingGroups"]) == sorted(DEMO)


def test_validate_checks_the_other_specs_output_when_it_is_in_the_same_folder(toolkit, tmp_path):
    write_spec(tmp_path, "sizes", """\
        command: |
          cat {{ reads }} | wc -c > {{ outputs.size }}
        outputs:
          size: {path: "sizes/{{ group.id }}.txt"}
          unregistered: {path: "sizes/{{ group.id }}.log"}
        register:
          size: {type: qc}
        """)
    for output, problem in (("nosuch", "has no output 'nosuch' (its outputs: size, unregistered)"),
                            ("unregistered", "writes 'unregistered' but does not register it")):
        chained = write_spec(tmp_path, "total", f"""\
            scope: project
            inputs:
              from_jobspec: {{name: sizes, output: {output}}}
            command: |
              cat {{{{ reads }}}} > {{{{ outputs.total }}}}
            outputs:
              total: {{path: "total/{{{{ project }}}}.txt"}}
            register:
              total: {{type: custom}}
            """, query=False)
        done = toolkit.run("validate", chained, check=2)
        assert re.search(r"total\.yaml:\d+:\d+: error: sizes\.yaml \(jobspec sizes\) " + re.escape(problem), done.stderr), done.stderr


def test_slots_of_other_scopes_are_positioned_errors(toolkit, tmp_path):
    spec = write_spec(tmp_path, "wrong", """\
        scope: project
        command: |
          cat {{ group.id }} {{ read }} > {{ outputs.out }}
        outputs:
          out: {path: "x/{{ project }}.txt"}
        register:
          out: {type: custom}
        """)
    done = toolkit.run("validate", spec, check=2)
    assert re.search(r"wrong\.yaml:\d+:\d+: error: group is the job's sequencing group: there is none with "
                     r"`scope: project` \(use groups\)", done.stderr), done.stderr
    assert "read is the job's read file, only with `scope: read` (this spec has scope: project)" in done.stderr


@pytest.mark.slow
def test_a_missing_or_mistyped_metric_fails_that_job_only(toolkit, tmp_path):
    spec = write_spec(tmp_path, "counted", """\
        command: |
          if [ {{ group.id }} = CPGLCL25 ]; then echo '{"reads": "many"}'; else echo '{"reads": 4000}'; fi > {{ outputs.counts }}
          cat {{ reads }} > {{ outputs.all }}
        outputs:
          all: {path: "counted/{{ group.id }}.fq.gz"}
          counts: {path: "counted/{{ group.id }}.json", metrics: {reads: integer}}
        register:
          all: {type: qc}
        """)
    done = toolkit.run("run", spec, "--execution", "host", check=6)
    assert "CPGLCL25: metrics output 'counts': reads is a string, declared integer" in done.stderr
    registered = by_output(analyses_via_graphql(toolkit), ".fq.gz")
    assert [a["sequencingGroups"][0]["id"] for a in registered] == ["CPGLCL17", "CPGLCL33"]
    assert all(a["meta"]["metrics"] == {"reads": 4000} for a in registered)


def test_outputs_registered_against_ids_that_are_not_sequencing_groups_are_refused_before_running(toolkit, tmp_path):
    write_spec(tmp_path, "bysample", """\
        command: |
          cat {{ reads }} > {{ outputs.all }}
        outputs:
          all: {path: "bysample/{{ group.id }}.fq.gz"}
        register:
          all: {type: qc}
        """).replace("", "")
    path = tmp_path / "bysample.yaml"
    path.write_text(path.read_text().replace("  id: id\n", "  id: sample.externalId\n"))
    done = toolkit.run("run", str(path), "--execution", "host", check=3)
    assert "3 job(s) of bysample could not be registered" in done.stderr
    assert ("DEMO001: its outputs would be registered against DEMO001, which is not a sequencing group id "
            "(Metamist's have the form CPGLCL<number>)") in done.stderr
    assert "nothing was run" in done.stderr and not list((toolkit.home / "buckets").rglob("*.fq.gz"))


def test_two_different_entries_with_one_id_are_refused_before_running(toolkit, tmp_path):
    write_spec(tmp_path, "perread", """\
        command: |
          cat {{ reads }} > {{ outputs.all }}
        outputs:
          all: {path: "perread/{{ group.id }}.fq.gz"}
        register:
          all: {type: qc}
        """)
    path = tmp_path / "perread.yaml"
    # Every read listed as a group, keyed by its group's... nothing: JMESPath gives each read the same id.
    path.write_text(path.read_text().replace("  groups: project.sequencingGroups\n  id: id\n",
                                             "  groups: project.sequencingGroups[].assays[].meta.reads[]\n  id: class\n")
                    .replace('  reads: {path: "assays[].meta.reads[]", location: location, size: size, checksum: checksum}\n',
                             "  reads: {path: '[@]', location: location}\n")
                    .replace("  fields: {sample: sample.externalId}\n", ""))
    done = toolkit.run("plan", str(path), "--execution", "host", check=3)
    assert "inputs.id: `class` gives the same id to different entries" in done.stderr
    assert "scope: read" in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize(("pipefail", "outcome"), [(None, 6), (False, 0)])
def test_the_shell_options_are_the_specs_and_are_shown(toolkit, tmp_path, pipefail, outcome):
    options = "" if pipefail is None else "        shell: {pipefail: false}\n"
    spec = write_spec(tmp_path, "firstline", options + """\
        command: |
          yes {{ group.id }} | head -n 1 > {{ outputs.line }}
        outputs:
          line: {path: "firstline/{{ group.id }}.txt"}
        register:
          line: {type: qc}
        """)
    plan = toolkit.run("plan", spec, "--execution", "host", "--sgids", "CPGLCL17").stdout
    shell = "set -o errexit -o pipefail" if pipefail is None else "set -o errexit"
    assert f"the command runs under bash, {shell}" in plan
    done = toolkit.run("run", spec, "--execution", "host", "--sgids", "CPGLCL17", check=outcome)
    assert f"the command runs under bash, {shell}" in done.stderr


def test_the_host_tool_check_reads_shell(toolkit, tmp_path):
    spec = write_spec(tmp_path, "tools", """\
        command: |
          work=$(mktemp -d)
          cat {{ reads }} | nosuchtool-xyz --count > "$work/n"
          mv "$work/n" {{ outputs.n }}
        outputs:
          n: {path: "tools/{{ group.id }}.txt"}
        register:
          n: {type: qc}
        """)
    done = toolkit.run("run", spec, "--execution", "host", check=4)
    assert "`nosuchtool-xyz` (a program the tools command runs) is not on PATH" in done.stderr
    assert "-d)" not in done.stderr and "mktemp" not in done.stderr.split("is not on PATH")[0]


def test_typed_meta_keeps_numbers_and_booleans_but_not_strings_that_look_like_them(tmp_path):
    from toolkit.render import CommandContext, render_value

    context = CommandContext(reads=["a", "b"], group={"id": "G1", "code": "007", "flag": True, "n": 3})
    assert render_value("{{ reads | length }}", context, name="m") == 2
    assert render_value("{{ group.n * 2 }}", context, name="m") == 6
    assert render_value("{{ group.flag }}", context, name="m") is True
    assert render_value("{{ group.code }}", context, name="m") == "007"
    assert render_value("{{ group.n }} reads", context, name="m") == "3 reads"
    assert render_value("{{ 0.1 + 0.2 }}", context, name="m") == pytest.approx(0.3)
    assert json.dumps(render_value("{{ group.n / 0.0 if false else 1.5 }}", context, name="m")) == "1.5"
