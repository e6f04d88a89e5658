"""What the results page shows, gathered through the ``metamist`` client and the plan stage.

Per project, per jobspec, per group: the group's state (done, due with the reason, failed, never run, skipped),
the Analyses the toolkit registered for it (links, metrics, provenance). States come from the plan stage
(:func:`toolkit.pipeline.prepare_plan`: the action and reason a run would take now) and from the run record
(:mod:`toolkit.journal`: the jobs that failed in the last run). Nothing here writes anything.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from toolkit.errors import MetadataError, ToolkitError

PROJECT_RESULTS_QUERY = """
query ToolkitResults($project: String!) {
  project(name: $project) {
    name
    sequencingGroups { id type sample { externalId } }
    analyses(active: {eq: true}) {
      id type status output timestampCompleted meta
      sequencingGroups { id }
    }
  }
}
"""

# Group states, in the order a person wants to see them when sorting by state.
FAILED, DUE, NEVER_RUN, SKIPPED, DONE = "failed", "due", "never run", "skipped", "done"
# meta keys the toolkit writes itself; every other scalar in meta is shown as a value of the Analysis.
TOOLKIT_META_KEYS = {"display_url", "jobspec", "provenance", "metrics"}


@dataclass
class AnalysisView:
    id: int
    type: str
    status: str
    output: str | None
    display_url: str | None
    completed: str | None
    output_name: str | None  # the spec's output name, when known
    values: dict[str, Any]  # meta.metrics, then other scalar meta values (stage, sequencing_type...)
    provenance: dict[str, Any]


@dataclass
class GroupRow:
    id: str
    sample: str | None
    state: str
    reason: str
    analyses: list[AnalysisView] = field(default_factory=list)

    @property
    def values(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for analysis in self.analyses:
            for key, value in analysis.values.items():
                merged.setdefault(key, value)
        return merged


@dataclass
class Outlier:
    metric: str
    group: str
    value: float
    low: float
    high: float


@dataclass
class SpecResults:
    name: str
    path: str | None
    description: str
    groups: list[GroupRow]
    notes: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # value columns of the table, metrics first
    numeric: list[str] = field(default_factory=list)  # columns whose values are all numbers (plotted)
    outliers: list[Outlier] = field(default_factory=list)

    def count(self, state: str) -> int:
        return sum(1 for group in self.groups if group.state == state)


@dataclass
class ProjectResults:
    name: str
    specs: list[SpecResults]
    error: str | None = None


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) and not (isinstance(value, float) and not math.isfinite(value))


def _values(meta: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    metrics = meta.get("metrics")
    if isinstance(metrics, dict):
        values.update({str(k): v for k, v in metrics.items() if _scalar(v)})
    for key, value in meta.items():
        if key not in TOOLKIT_META_KEYS and _scalar(value):
            values.setdefault(str(key), value)
    return values


# A display URL is metadata: the page links to it and lets its viewer frame its origin (the Content-Security-
# Policy names that origin, in a header and, in an exported page, in a <meta> attribute). So only URLs made of
# RFC 3986 characters, with a plain host name or address and a numeric port, become links; anything else (a
# quote, a space, `;`, a non-ASCII character: each broke the policy or the page) is shown as text.
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]")


def web_origin(url: Any) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL that may be a link, or None (see _URL_CHARACTERS)."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 2000:
        return None
    if not _URL_CHARACTERS.fullmatch(url):
        return None
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    host, _, port = host.rpartition(":") if not host.endswith("]") and ":" in host else (host, "", "")
    if not _HOST.fullmatch(host) or (port and not (port.isdigit() and 0 < int(port) < 65536)):
        return None
    return f"{parts.scheme}://{host.lower()}" + (f":{int(port)}" if port else "")


def analysis_view(raw: dict[str, Any], output_names: dict[str, str] | None = None) -> AnalysisView:
    meta = raw.get("meta") if isinstance(raw.get("meta"), dict) else {}
    provenance = meta.get("provenance") if isinstance(meta.get("provenance"), dict) else {}
    display_url = meta.get("display_url")
    output = raw.get("output") if isinstance(raw.get("output"), str) else None
    return AnalysisView(
        id=int(raw["id"]),
        type=str(raw.get("type")),
        status=str(raw.get("status")),
        output=output,
        display_url=display_url if web_origin(display_url) else None,
        completed=raw.get("timestampCompleted"),
        output_name=(output_names or {}).get(output or ""),
        values=_values(meta),
        provenance={str(k): v for k, v in provenance.items()},
    )


def tukey_outliers(metric: str, values: dict[str, float]) -> list[Outlier]:
    """Values outside [Q1 - 1.5 IQR, Q3 + 1.5 IQR] (Tukey's fences); none with fewer than 4 groups."""
    if len(values) < 4:
        return []
    ordered = sorted(values.values())

    def quantile(q: float) -> float:
        position = (len(ordered) - 1) * q
        below = math.floor(position)
        above = min(below + 1, len(ordered) - 1)
        return ordered[below] + (ordered[above] - ordered[below]) * (position - below)

    q1, q3 = quantile(0.25), quantile(0.75)
    spread = q3 - q1
    low, high = q1 - 1.5 * spread, q3 + 1.5 * spread
    return [Outlier(metric, group, value, low, high) for group, value in values.items() if value < low or value > high]


def _finish(spec: SpecResults) -> SpecResults:
    columns: dict[str, None] = {}
    for group in spec.groups:
        for key in group.values:
            columns.setdefault(key, None)
    spec.columns = list(columns)
    for column in spec.columns:
        present = [group.values[column] for group in spec.groups if column in group.values]
        if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            spec.numeric.append(column)
            spec.outliers += tukey_outliers(
                column, {group.id: float(group.values[column]) for group in spec.groups if column in group.values}
            )
    state_order = {FAILED: 0, DUE: 1, NEVER_RUN: 2, SKIPPED: 3, DONE: 4}
    spec.groups.sort(key=lambda group: (state_order.get(group.state, 5), group.id))
    return spec


def _project_data(project: str) -> dict[str, Any]:
    from toolkit.metamist_connection import graphql_query

    data = graphql_query(PROJECT_RESULTS_QUERY, {"project": project})
    return data.get("project") or {}


def collect_project(settings, specs: list) -> ProjectResults:
    """One project's results for the given loaded specs, plus every other jobspec that registered Analyses.

    ``settings`` are open for ``settings.project`` (see :func:`toolkit.settings.open_settings`).
    """
    from toolkit.journal import journal_for

    project = settings.project
    try:
        data = _project_data(project)
    except MetadataError as error:
        from toolkit.query import explain_metadata_error

        explained = explain_metadata_error(error, project, None)
        return ProjectResults(project, [], error=explained.message + (f" ({explained.hint})" if explained.hint else ""))
    samples = {
        sg["id"]: (sg.get("sample") or {}).get("externalId") for sg in data.get("sequencingGroups") or []
    }
    by_spec: dict[str, list[dict[str, Any]]] = {}
    for analysis in data.get("analyses") or []:
        meta = analysis.get("meta")
        if isinstance(meta, dict) and isinstance(meta.get("jobspec"), str):
            by_spec.setdefault(meta["jobspec"], []).append(analysis)

    results: list[SpecResults] = []
    given = {loaded.model.name for loaded in specs}
    for loaded in specs:
        record = {"failed": journal_for(loaded.model.name).state().failed}
        results.append(_spec_results(settings, loaded, by_spec.get(loaded.model.name, []), samples, record))
    for name in sorted(set(by_spec) - given):
        results.append(_registered_only(name, by_spec[name], samples))
    return ProjectResults(project, results)


def _registered_only(name: str, analyses: list[dict[str, Any]], samples: dict[str, str | None]) -> SpecResults:
    """A jobspec known only from its Analyses (its file is not given, or not on this machine)."""
    paths = {((a.get("meta") or {}).get("provenance") or {}).get("jobspec_path") for a in analyses} - {None}
    rows: dict[str, GroupRow] = {}
    for raw in analyses:
        for sg in raw.get("sequencingGroups") or [{"id": "?"}]:
            row = rows.setdefault(sg["id"], GroupRow(sg["id"], samples.get(sg["id"]), DONE, "registered"))
            row.analyses.append(analysis_view(raw))
    notes = [
        "only the registered Analyses are shown: pass the jobspec file to see every group's state"
        + (f" (recorded path: {', '.join(sorted(map(str, paths)))})" if paths else "")
    ]
    return _finish(SpecResults(name, None, "", list(rows.values()), notes=notes))


def _spec_results(settings, loaded, analyses, samples, record) -> SpecResults:
    from toolkit.pipeline import prepare_plan
    from toolkit.plan.model import Action

    spec = loaded.model
    result = SpecResults(spec.name, str(loaded.path), spec.description, [])
    try:
        params = {name: p.default for name, p in spec.params.items()}
        prepared = prepare_plan(loaded, settings, sgids=None, params=params, execution="auto")
    except ToolkitError as error:
        result.notes.append(f"the plan stage failed, so states are unknown: {error.message}")
        return _finish(_merge_registered(result, analyses, samples, {}))
    plan = prepared.plan
    output_names = {out.uri: out.name for job in plan.jobs for out in job.outputs.values()}
    # A job's Analyses are those of its outputs (one sequencing group may have several jobs: scope read).
    by_output: dict[str, list[dict[str, Any]]] = {}
    for raw in analyses:
        by_output.setdefault(raw.get("output") or "", []).append(raw)
    failures = record.get("failed", {}) if record else {}
    for job in plan.jobs:
        gid = job.id
        own = [raw for out in job.outputs.values() for raw in by_output.pop(out.uri, [])]
        if job.action is Action.DONE:
            state, reason = DONE, job.reason
        elif gid in failures and job.action is Action.RUN:
            failure = failures[gid]
            state = FAILED
            reason = f"{failure.get('detail') or 'job failed'} (run of {failure.get('at', 'an earlier run')})"
        elif job.action is Action.RUN and job.reason == "new" and not own:
            state, reason = NEVER_RUN, "no output yet"
        else:
            state, reason = DUE, job.reason
        row = GroupRow(gid, samples.get(job.group.id if job.group else gid), state, reason)
        row.analyses = [analysis_view(raw, output_names) for raw in own]
        stale = {a.provenance.get("jobspec_sha256") for a in row.analyses} - {None, loaded.content_hash}
        if stale and state == DONE:
            row.reason += "; made with another version of the jobspec file"
        result.groups.append(row)
    for rejection in plan.skipped:
        result.groups.append(GroupRow(rejection.group_id, samples.get(rejection.group_id), SKIPPED, rejection.reason))
    return _finish(_merge_registered(result, [a for rows in by_output.values() for a in rows], samples, output_names))


def _merge_registered(result: SpecResults, analyses, samples, output_names) -> SpecResults:
    """Analyses of groups the plan does not list (archived, or outside the query now): shown, marked."""
    rows = {group.id: group for group in result.groups}
    for raw in analyses:
        for sg in raw.get("sequencingGroups") or []:
            row = rows.get(sg["id"])
            if row is None:
                row = rows[sg["id"]] = GroupRow(sg["id"], samples.get(sg["id"]), DONE, "registered; not in the spec's query now")
                result.groups.append(row)
            if all(existing.id != int(raw["id"]) for existing in row.analyses):
                row.analyses.append(analysis_view(raw, output_names))
    return result


def recorded_spec_paths(analyses: list[dict[str, Any]]) -> list[str]:
    """The jobspec files recorded in Analyses' provenance that exist on this machine."""
    found: dict[str, None] = {}
    for analysis in analyses:
        path = ((analysis.get("meta") or {}).get("provenance") or {}).get("jobspec_path")
        if isinstance(path, str) and Path(path).is_file():
            found.setdefault(path, None)
    return list(found)


@contextlib.contextmanager
def _config_environment_restored():
    """open_settings records its choice in the environment (cpg-utils sets CPG_CONFIG_PATH, the metamist
    connection SM_URL and SM_ENVIRONMENT). A server builds many pages in one process: each must choose its
    config and Metamist as the command did at start, not inherit the previous page's (a stopped server)."""
    names = ("CPG_CONFIG_PATH", "SM_URL", "SM_ENVIRONMENT")
    saved = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def collect_results(projects: list[str | None], spec_paths: list[str]) -> list[ProjectResults]:
    """Every project's results. Without spec paths, the jobspec files recorded in the Analyses are used."""
    from toolkit.settings import open_settings
    from toolkit.spec import load_spec

    loaded_given = [load_spec(path) for path in spec_paths]
    results = []
    for project in projects:
        with _config_environment_restored(), open_settings(project) as settings:
            specs = loaded_given
            if not spec_paths:
                specs = []
                try:
                    recorded = recorded_spec_paths(_project_data(settings.project).get("analyses") or [])
                except ToolkitError:
                    recorded = []  # collect_project reports the error
                for path in recorded:
                    try:
                        specs.append(load_spec(path))
                    except ToolkitError:
                        continue  # changed into something invalid since: shown from its Analyses only
            results.append(collect_project(settings, specs))
    return results
