"""Checks that need more than one field or outside knowledge: the GraphQL query against Metamist's schema,
variables against the query, JMESPath expressions, template slots, ``register`` against ``outputs``, files.

They read the raw (plain) data rather than the pydantic model, so they still run, and report, when another
part of the spec has a shape error: the author sees every problem in one pass.
"""

from __future__ import annotations

import difflib
import re
import stat
from pathlib import Path
from typing import Any

import jmespath
from jmespath.exceptions import IncompleteExpressionError, JMESPathError, LexerError

from toolkit.metamist_types import SchemaUnavailable, shipped_analysis_types
from toolkit.spec._graphql import check_query
from toolkit.spec._shape import describe
from toolkit.spec._source import Path_, SourceDocument
from toolkit.spec._templates import SlotRules, check_template, command_placement_problems
from toolkit.spec.diagnostics import Diagnostic

RESOURCE_SLOTS = {"cpu", "memory", "storage"}
READ_FIELDS = {"path", "location", "basename", "size", "checksum", "position"}
# The slots of each scope beyond reads, outputs, params, resources and project (docs/jobspec.md, "Scopes").
SCOPE_SLOTS = {"sequencing-group": ("group",), "read": ("group", "read"), "project": ("groups",)}
_SCOPE_ONLY = {
    "group": "group is the job's sequencing group: there is none with `scope: project` (use groups)",
    "read": "read is the job's read file, only with `scope: read`",
    "groups": "groups lists every member group, only with `scope: project`",
}
# Sources the command line fills, and the GraphQL types their values have.
VARIABLE_SOURCE_TYPES = {"project": (False, "String"), "sgids": (True, "String")}


def _jmespath_reason(error: JMESPathError) -> str:
    if isinstance(error, IncompleteExpressionError):
        return "the expression ends too early"
    if isinstance(error, LexerError):
        return error.message[:1].lower() + error.message[1:]
    reason = str(getattr(error, "msg", "") or error)
    token = getattr(error, "token_value", None)
    if reason == "invalid token" and token:
        return f"unexpected {token!r}"
    return reason[:1].lower() + reason[1:]


def _file_kind(path: Path) -> str:
    """"file", "folder", or why neither: "does not exist", or the system's reason (a name too long, a NUL...)."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "does not exist"
    except (OSError, ValueError) as error:
        return f"cannot be looked up ({getattr(error, 'strerror', None) or error})"
    return "folder" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "is not a regular file"


def _sibling_spec(folder: Path, name: str) -> tuple[Path, dict] | None:
    """The spec named ``name`` among the YAML files of ``folder`` (read with the guarded loader), or None."""
    from toolkit.spec.loader import read_spec_data

    for candidate in sorted(folder.glob("*.y*ml")):
        data = read_spec_data(candidate)
        if isinstance(data, dict) and data.get("name") == name:
            return candidate, data
    return None


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


class _Checker:
    def __init__(self, document: SourceDocument, base_folder: Path):
        self.document = document
        self.base_folder = base_folder
        self.data = document.data
        self.diagnostics: list[Diagnostic] = []
        self.outputs = {k for k in _mapping(self.data.get("outputs")) if isinstance(k, str)}
        self.params = {k for k in _mapping(self.data.get("params")) if isinstance(k, str)}
        inputs = _mapping(self.data.get("inputs"))
        self.fields = {k for k in _mapping(inputs.get("fields")) if isinstance(k, str)}
        self.from_jobspec = _mapping(inputs.get("from_jobspec"))
        self.has_reads = isinstance(inputs.get("reads"), dict) or bool(self.from_jobspec)
        scope = self.data.get("scope", "sequencing-group")
        self.scope = scope if scope in SCOPE_SLOTS else "sequencing-group"
        self.template_uses: dict[str, set[str]] = {"outputs": set(), "params": set()}

    # -- helpers ---------------------------------------------------------------------------------------

    def error(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.append(diagnostic)

    def string_at(self, path: Path_) -> str | None:
        value = self.document.get(path)
        return value if isinstance(value, str) else None

    # -- checks ----------------------------------------------------------------------------------------

    def check_query(self) -> None:
        path = ("inputs", "query")
        text = self.string_at(path)
        if text is None:
            return
        try:
            result = check_query(text)
        except SchemaUnavailable as reason:
            self.error(self.document.at_value(path, f"cannot check the query offline: {reason}", "warning"))
            return
        for problem in result.problems:
            if problem.line is None:
                self.error(self.document.at_value(path, problem.message))
            else:
                self.error(self.document.at_text(path, problem.message, line=problem.line,
                                                 column=problem.column, length=problem.length))
        if not result.parsed:
            return
        declared = _mapping(_mapping(self.data.get("inputs")).get("variables"))
        for name, variable in result.variables.items():
            if name not in declared:
                self.error(self.document.at_text(
                    path, f"query variable ${name} is not declared in inputs.variables "
                          f"(add e.g. `{name}: {{from: param.{name}}}` or `{name}: {{value: ...}}`)",
                    line=variable.line, column=variable.column, length=len(name) + 1))
                continue
            source = declared[name].get("from") if isinstance(declared[name], dict) else None
            if isinstance(source, str) and source in VARIABLE_SOURCE_TYPES:
                is_list, named = VARIABLE_SOURCE_TYPES[source]
                if (variable.is_list, variable.named_type) != (is_list, named):
                    wanted = "[String!]" if is_list else "String!"
                    self.error(self.document.at_text(
                        path, f"query variable ${name} has type {variable.type_text} but `from: {source}` "
                              f"gives {'a list of strings' if is_list else 'a string'} (declare it as {wanted})",
                        line=variable.line, column=variable.column, length=len(name) + 1))
                elif source == "sgids" and variable.required:
                    self.error(self.document.at_text(
                        path, f"query variable ${name} is required ({variable.type_text}) but `from: sgids` is null "
                              "when --sgids is not given (declare it as [String!])",
                        line=variable.line, column=variable.column, length=len(name) + 1))
        for name in declared:
            if name not in result.variables:
                self.error(self.document.at_key(
                    ("inputs", "variables", name),
                    f"inputs.variables.{name} is not a variable of the query (the query declares: "
                    f"{', '.join('$' + v for v in result.variables) or 'none'})"))

    def check_variable_sources(self) -> None:
        variables = _mapping(_mapping(self.data.get("inputs")).get("variables"))
        for name, source in variables.items():
            origin = source.get("from") if isinstance(source, dict) else None
            if isinstance(origin, str) and origin.startswith("param."):
                param = origin.removeprefix("param.")
                if param not in self.params:
                    known = ", ".join(sorted(self.params)) or "none declared"
                    self.error(self.document.at_value(
                        ("inputs", "variables", name, "from"),
                        f"inputs.variables.{name} comes from param '{param}', which is not declared in params "
                        f"(params: {known})"))
                else:
                    self.template_uses["params"].add(param)

    def check_param_defaults(self) -> None:
        accepted = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,)}
        for name, param in _mapping(self.data.get("params")).items():
            param = _mapping(param)
            kind, default = param.get("type", "str"), param.get("default")
            if default is None or kind not in accepted:
                continue
            if not isinstance(default, accepted[kind]) or (isinstance(default, bool) and kind != "bool"):
                self.error(self.document.at_value(
                    ("params", name, "default"),
                    f"params.{name}.default: {describe(default)} is not of type {kind}"))

    def check_jmespath(self) -> None:
        inputs = _mapping(self.data.get("inputs"))
        paths: list[Path_] = [("inputs", "groups"), ("inputs", "id")]
        paths += [("inputs", "reads", key) for key in ("path", "location", "size", "checksum")]
        paths += [("inputs", "fields", key) for key in _mapping(inputs.get("fields"))]
        for path in paths:
            expression = self.string_at(path)
            if expression is None:
                continue
            try:
                jmespath.compile(expression)
            except RecursionError:  # its parser recurses per bracket: `[[[[...` is not a JMESPath expression
                self.error(self.document.at_value(
                    path, f"invalid JMESPath expression in {'.'.join(map(str, path))}: nested too deeply"))
            except JMESPathError as error:
                offset = getattr(error, "lex_position", None)
                message = f"invalid JMESPath expression in {'.'.join(map(str, path))}: {_jmespath_reason(error)}"
                if isinstance(offset, int) and 0 <= offset <= len(expression):
                    self.error(self.document.at_text(path, message, offset=offset, length=1))
                else:
                    self.error(self.document.at_value(path, message))

    def _rules(self, *, for_output_path: bool) -> SlotRules:
        group = {"id"} | self.fields
        slots: dict[str, set[str] | None] = {
            "reads": None, "outputs": set(self.outputs), "params": set(self.params),
            "resources": set(RESOURCE_SLOTS), "project": None,
        }
        scoped = {"group": group, "read": set(READ_FIELDS), "groups": None}
        for name in SCOPE_SLOTS[self.scope]:
            slots[name] = scoped[name]
        rules = SlotRules(
            slots=slots,
            attribute_help={
                "reads": "reads is the list of the job's input paths (reads, reads[0], reads[1]...)",
                "read": "read has " + ", ".join(sorted(READ_FIELDS)) + " (and is the read's path itself)",
                "groups": "groups is the list of member groups (groups[0].id, or {% for member in groups %})",
                "project": "project is the project's name",
                "group": "group has id" + (f" and the inputs.fields: {', '.join(sorted(self.fields))}"
                                           if self.fields else "; add other names under inputs.fields"),
                "params": f"declared params: {', '.join(sorted(self.params))}" if self.params
                          else "no params are declared",
                "outputs": f"declared outputs: {', '.join(sorted(self.outputs))}" if self.outputs
                           else "no outputs are declared",
                "resources": "resources has cpu, memory and storage",
            },
        )
        rules.forbidden = {name: f"{why} (this spec has scope: {self.scope})" for name, why in _SCOPE_ONLY.items()
                           if name not in slots}
        if for_output_path:
            reason = ("an output path cannot use '{0}' (it is resolved before the job runs; use group, read, "
                      "project, params, resources)")
            rules.forbidden.update({root: reason.format(root) for root in ("outputs", "reads", "groups")})
        return rules

    def check_template(self, path: Path_, rules: SlotRules) -> dict[str, tuple[int, int | None]] | None:
        """Report the template's problems; return where each slot is first used (None: not checkable)."""
        text = self.string_at(path)
        if text is None:
            return None
        result = check_template(text, rules)
        for problem in result.problems:
            self.error(self.document.at_text(path, problem.message, line=problem.line,
                                             column=problem.column, length=problem.length))
        for root in ("outputs", "params"):
            self.template_uses[root] |= result.attributes_used.get(root, set())
        return result.first_use if result.parsed else None

    def check_command_placements(self, path: Path_) -> None:
        """Every value of the command must land in a plain shell word (toolkit/shell.py says why)."""
        text = self.string_at(path)
        if text is None:
            return
        for problem in command_placement_problems(text):
            self.error(self.document.at_text(path, problem.message, line=problem.line, column=problem.column,
                                             length=problem.length, severity=problem.severity))

    def check_templates(self) -> None:
        command_rules = self._rules(for_output_path=False)
        command_uses = self.check_template(("command",), command_rules)
        if command_uses is not None:
            self.check_command_placements(("command",))
        if command_uses and "reads" in command_uses and not self.has_reads:
            line, column = command_uses["reads"]
            self.error(self.document.at_text(
                ("command",), "the command uses 'reads' but inputs.reads does not say where the reads are",
                line=line, column=column, length=len("reads") if column else None))
        command_outputs = set(self.template_uses["outputs"])
        path_rules = self._rules(for_output_path=True)
        for name, _output in _mapping(self.data.get("outputs")).items():
            uses = self.check_template(("outputs", name, "path"), path_rules)
            distinct = {"sequencing-group": ("group", "group (e.g. group.id): every group"),
                        "read": ("read", "read (e.g. read.basename): every read of a group")}.get(self.scope)
            if uses is not None and distinct and distinct[0] not in uses:
                self.error(self.document.at_value(
                    ("outputs", name, "path"),
                    f"output '{name}' has a path that does not use {distinct[1]} would write the same file",
                    "warning"))
            if command_uses is not None and name not in command_outputs:
                self.error(self.document.at_key(
                    ("outputs", name),
                    f"output '{name}' is never written: the command does not use outputs.{name}", "warning"))
        for name, entry in _mapping(self.data.get("register")).items():
            meta = _mapping(entry).get("meta")
            self._check_meta(("register", name, "meta"), meta, command_rules)

    def _check_meta(self, path: Path_, value: Any, rules: SlotRules) -> None:
        if isinstance(value, str):
            self.check_template(path, rules)
        elif isinstance(value, dict):
            for key, item in value.items():
                self._check_meta(path + (key,), item, rules)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self._check_meta(path + (index,), item, rules)

    def check_render_limits(self) -> None:
        """Render each template once with stand-in values, under the limits of a group's render.

        A template that exceeds them whatever the metadata (nested loops over large ranges, a text of a
        billion characters, a macro that calls itself) is an error here, rather than for every group at plan
        time. Other failures of this render depend on the stand-in values and are not reported.
        """
        from toolkit.render import CommandContext, RenderError, render_command, render_output_path, render_text

        inputs = _mapping(self.data.get("inputs"))
        stand_in = {"str": "value", "int": 1, "float": 1.0, "bool": True}
        params = {}
        for name, param in _mapping(self.data.get("params")).items():
            param = _mapping(param)
            params[name] = param["default"] if param.get("default") is not None else stand_in.get(param.get("type"), "value")
        resources = _mapping(self.data.get("resources"))
        group = {"id": "CPGSTANDIN", **{name: "value" for name in _mapping(inputs.get("fields"))}}
        reads = ["/inputs/R1.fastq.gz", "/inputs/R2.fastq.gz"]
        context = CommandContext(
            reads=reads[:1] if self.scope == "read" else reads,
            outputs={name: f"/outputs/{name}" for name in self.outputs},
            group=group if self.scope != "project" else {},
            params=params,
            resources={"cpu": resources.get("cpu", 1), "memory": resources.get("memory", "2Gi"),
                       "storage": resources.get("storage", "10Gi")},
            read={"path": reads[0], "location": "gs://bucket/R1.fastq.gz", "basename": "R1.fastq.gz", "size": 1000,
                  "checksum": "md5:0", "position": 1} if self.scope == "read" else None,
            groups=[{**group, "reads": reads}] if self.scope == "project" else None,
            project="standin-test",
            job_id="CPGSTANDIN",
        )
        templates: list[tuple[Path_, Any]] = [(("command",), lambda text: render_command(text, context))]
        for name in self.outputs:
            path = ("outputs", name, "path")
            templates.append((path, lambda text, n=name: render_output_path(text, context, name=f"outputs.{n}.path")))
        for name, entry in _mapping(self.data.get("register")).items():
            for key, value in _mapping(_mapping(entry).get("meta")).items():
                if isinstance(value, str):
                    templates.append((("register", name, "meta", key),
                                      lambda text, k=key: render_text(text, context, name=f"meta.{k}")))
        from toolkit.spec._templates import too_deep

        for path, render in templates:
            text = self.string_at(path)
            if text is None or ("{" not in text) or too_deep(text):
                continue  # (a template nested too deeply is reported by check_template)
            try:
                render(text)
            except RenderError as error:
                if not error.limit:
                    continue
                message = f"{error.problem}: a group's render may not take more (rendered once with stand-in values)"
                if error.lineno:
                    self.error(self.document.at_text(path, message, line=error.lineno))
                else:
                    self.error(self.document.at_value(path, message))

    def check_register(self) -> None:
        register = _mapping(self.data.get("register"))
        for name in register:
            if name not in self.outputs:
                known = ", ".join(sorted(self.outputs)) or "none"
                self.error(self.document.at_key(
                    ("register", name),
                    f"register.{name} names an output that is not declared in outputs (outputs: {known})"))
        # A metrics output's values go into the meta of the job's Analyses: it needs no registration of its own.
        metrics_outputs = {name for name, output in _mapping(self.data.get("outputs")).items()
                           if isinstance(_mapping(output).get("metrics"), dict)}
        owner: dict[str, str] = {}
        for name in sorted(metrics_outputs):
            for key in _mapping(_mapping(self.data["outputs"][name]).get("metrics")):
                if key in owner:
                    self.error(self.document.at_key(
                        ("outputs", name, "metrics", key),
                        f"metric {key!r} is declared by outputs {owner[key]} and {name}: meta.metrics can hold it once"))
                owner.setdefault(key, name)
        if metrics_outputs and not register:
            first = sorted(metrics_outputs)[0]
            self.error(self.document.at_key(
                ("outputs", first, "metrics"),
                "metrics go into the meta of the Analyses the job registers, and this spec registers none", "warning"))
        for name in sorted(self.outputs - set(register) - metrics_outputs):
            self.error(self.document.at_key(
                ("outputs", name),
                f"output '{name}' is not registered (no register.{name}): it will be written but not recorded "
                "in Metamist", "warning"))

    def check_analysis_types(self) -> None:
        """A type outside the ones Metamist is seeded with is refused at registration, after the jobs ran,
        unless the deployment added it: a warning here (offline), an error in plan and run (they ask)."""
        known = shipped_analysis_types()
        for name, entry in _mapping(self.data.get("register")).items():
            kind = _mapping(entry).get("type")
            if not isinstance(kind, str) or kind in known:
                continue
            close = difflib.get_close_matches(kind, known, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'? " if close else ""
            self.error(self.document.at_value(
                ("register", name, "type"),
                f"register.{name}.type: {kind!r} is not an Analysis type Metamist ships ({hint}types: "
                f"{', '.join(known)}); registering fails unless your Metamist added it (`toolkit plan` asks it)",
                "warning"))

    def check_tests(self) -> None:
        """A spec test's group, params and expectations against the spec, so `toolkit test` never meets a
        name it cannot use, a fixture that is not there or a pattern that does not compile."""
        accepted = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,)}
        declared = _mapping(self.data.get("params"))
        tests = self.data.get("tests")
        for index, test in enumerate(tests if isinstance(tests, list) else []):
            test = _mapping(test)
            where: Path_ = ("tests", index)
            located: list[tuple[Path_, dict]] = []
            if "group" in test:
                located.append((where + ("group",), _mapping(test.get("group"))))
            listed = test.get("groups")
            for group_index, member in enumerate(listed if isinstance(listed, list) else []):
                located.append((where + ("groups", group_index), _mapping(member)))
            if self.scope != "project" and isinstance(listed, list) and len(listed) != 1:
                self.error(self.document.at_key(
                    where + ("groups",), f"tests[{index}].groups: a spec with scope {self.scope} runs one group per "
                                         "test (use `group:`)"))
            for at_group, group in located:
                label = f"tests[{index}]." + ("group" if at_group[-1] == "group" else f"groups[{at_group[-1]}]")
                fields = group.get("fields", {})
                missing = sorted(self.fields - set(_mapping(fields)))
                if missing and isinstance(fields, dict):
                    at = at_group + ("fields",) if "fields" in group else at_group
                    self.error(self.document.at_key(
                        at, f"{label}.fields lacks {', '.join(repr(m) for m in missing)}: inputs.fields "
                            "declares it, so the templates may use it (give each test group every field)"))
                reads = group.get("reads")
                for read_index, read in enumerate(reads if isinstance(reads, list) else []):
                    fixture = read if isinstance(read, str) else _mapping(read).get("path")
                    if isinstance(fixture, str) and _file_kind(self.base_folder / fixture) != "file":
                        # A warning: only `toolkit test` needs the fixtures, a run does not.
                        self.error(self.document.at_value(
                            at_group + ("reads", read_index) + (() if isinstance(read, str) else ("path",)),
                            f"fixture {fixture!r} is not a file (looked for {self.base_folder / fixture}): "
                            "`toolkit test` fails this test", "warning"))
            for name, value in _mapping(test.get("params")).items():
                if name not in declared:
                    known = ", ".join(sorted(self.params)) or "none declared"
                    self.error(self.document.at_key(
                        where + ("params", name), f"tests[{index}].params.{name} is not a declared param ({known})"))
                    continue
                kind = _mapping(declared[name]).get("type", "str")
                if kind in accepted and (not isinstance(value, accepted[kind])
                                         or (isinstance(value, bool) and kind != "bool")):
                    self.error(self.document.at_value(
                        where + ("params", name), f"tests[{index}].params.{name}: {describe(value)} is not of type {kind}"))
            for output, expectation in _mapping(test.get("expect")).items():
                if output not in self.outputs:
                    known = ", ".join(sorted(self.outputs)) or "none"
                    self.error(self.document.at_key(
                        where + ("expect", output),
                        f"tests[{index}].expect.{output} names an output that is not declared (outputs: {known})"))
                patterns = _mapping(expectation).get("matches")
                for pattern_index, pattern in enumerate(patterns if isinstance(patterns, list) else []):
                    if not isinstance(pattern, str):
                        continue
                    try:
                        re.compile(pattern)
                    except re.error as error:
                        self.error(self.document.at_value(
                            where + ("expect", output, "matches", pattern_index),
                            f"tests[{index}].expect.{output}.matches[{pattern_index}]: not a regular expression "
                            f"({error})"))

    def check_from_jobspec(self) -> None:
        """`inputs.from_jobspec` names another spec's output: when that spec is in this spec's folder, it must
        declare and register that output (otherwise this spec would never find an input)."""
        name, output = self.from_jobspec.get("name"), self.from_jobspec.get("output")
        if not isinstance(name, str) or not isinstance(output, str):
            return
        if name == self.data.get("name"):
            self.error(self.document.at_value(("inputs", "from_jobspec", "name"),
                                              "a spec cannot take its inputs from its own outputs"))
            return
        found = _sibling_spec(self.base_folder, name)
        if found is None:
            return  # elsewhere (another repository, a deployment): plan finds its Analyses or says there are none
        path, data = found
        outputs, register = _mapping(data.get("outputs")), _mapping(data.get("register"))
        if output not in outputs:
            known = ", ".join(sorted(str(k) for k in outputs)) or "none"
            self.error(self.document.at_value(
                ("inputs", "from_jobspec", "output"),
                f"{path.name} (jobspec {name}) has no output {output!r} (its outputs: {known})"))
        elif output not in register:
            self.error(self.document.at_value(
                ("inputs", "from_jobspec", "output"),
                f"{path.name} (jobspec {name}) writes {output!r} but does not register it: there would be no "
                "Analysis to take as input"))

    def check_params_used(self) -> None:
        for name in sorted(self.params - self.template_uses["params"]):
            self.error(self.document.at_key(
                ("params", name), f"param '{name}' is declared but used by no template or query variable",
                "warning"))

    def check_files(self) -> None:
        image = _mapping(self.data.get("image"))
        dockerfile = image.get("dockerfile")
        if isinstance(dockerfile, str):
            resolved = self.base_folder / dockerfile
            kind = _file_kind(resolved)
            if kind != "file":
                what = "is a folder, not a file" if kind == "folder" else kind
                self.error(self.document.at_value(
                    ("image", "dockerfile"), f"Dockerfile {dockerfile!r} {what} (looked for {resolved})"))
        context = image.get("context")
        if isinstance(context, str) and _file_kind(self.base_folder / context) != "folder":
            self.error(self.document.at_value(
                ("image", "context"), f"build context {context!r} is not a folder (looked for {self.base_folder / context})"))

    def check_expectations(self) -> None:
        path = ("inputs", "expect", "reads")
        reads = self.document.get(path)
        if reads is None:
            return
        if isinstance(reads, dict):
            low, high = reads.get("min", 0), reads.get("max")
            if isinstance(low, int) and isinstance(high, int) and not isinstance(high, bool) and low > high:
                self.error(self.document.at_value(path, f"inputs.expect.reads: min ({low}) is greater than max ({high})"))
            if high == 0:
                self.error(self.document.at_value(path, "inputs.expect.reads: max 0 would skip every group"))
        elif isinstance(reads, int) and not isinstance(reads, bool):
            if reads < 0:
                self.error(self.document.at_value(path, f"inputs.expect.reads: a read count cannot be negative ({reads})"))
            elif reads == 0:
                self.error(self.document.at_value(path, "inputs.expect.reads: 0 would skip every group that has reads"))
        if not self.has_reads:
            self.error(self.document.at_key(path, "inputs.expect.reads needs inputs.reads (where the reads are)"))

    def check_storage(self) -> None:
        resources = _mapping(self.data.get("resources"))
        inputs = _mapping(self.data.get("inputs"))
        if resources.get("storage", "auto") != "auto" or not self.has_reads or _mapping(inputs.get("reads")).get("size"):
            return
        if self.from_jobspec:
            return  # another spec's outputs: Metamist records their sizes
        message = "storage is auto but inputs.reads.size is not given: jobs get only resources.storage_floor"
        if "storage" in resources:
            self.error(self.document.at_value(("resources", "storage"), message, "warning"))
        else:
            self.error(self.document.at_key(("inputs", "reads"), message, "warning"))


def cross_field_diagnostics(document: SourceDocument, base_folder: Path) -> list[Diagnostic]:
    """Every cross-field diagnostic (errors and warnings) for a parsed jobspec."""
    checker = _Checker(document, base_folder)
    checker.check_query()
    checker.check_variable_sources()
    checker.check_param_defaults()
    checker.check_jmespath()
    checker.check_templates()
    checker.check_render_limits()
    checker.check_register()
    checker.check_analysis_types()
    checker.check_from_jobspec()
    checker.check_params_used()
    checker.check_files()
    checker.check_expectations()
    checker.check_tests()
    checker.check_storage()
    return checker.diagnostics
