"""The results page as HTML (Jinja2, autoescaped) and the assets it links to, all shipped with the package.

The same page is served by ``toolkit serve`` and written by ``toolkit report --out DIR``. Metadata is data: every
value goes through Jinja's HTML escaping, links are only ``http(s)`` URLs, the page runs no inline script (its
Content-Security-Policy allows scripts from its own origin only), and plots are ``<img>`` SVGs.
"""

from __future__ import annotations

import datetime
import functools
from html import escape
import shutil
from pathlib import Path

from toolkit.results.collect import ProjectResults, SpecResults, web_origin

STATIC = Path(__file__).parent / "static"
# Assets the page links to, as (path under assets/, file under static/).
ASSETS = {
    "results.css": "results.css",
    "results.js": "results.js",
    "sortable.min.js": "vendor/sortable-tablesort-4.1.7/sortable.min.js",
    "sortable-base.min.css": "vendor/sortable-tablesort-4.1.7/sortable-base.min.css",
}
# Plots are for what varies: a metric equal in every group is read faster in the table.
PLOTTED_METRICS_LIMIT = 4
PLOTTABLE_MAGNITUDE = 1e300  # beyond this, matplotlib's axis arithmetic overflows


def page_csp(frame_origins: set[str]) -> str:
    """The page's policy: nothing from outside, scripts and styles from its own files, reports framed."""
    frames = " ".join(["'self'", *sorted(frame_origins)])
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"frame-src {frames}; base-uri 'none'; form-action 'none'; object-src 'none'"
    )


def report_origins(projects: list[ProjectResults]) -> set[str]:
    origins = set()
    for project in projects:
        for spec in project.specs:
            for group in spec.groups:
                for analysis in group.analyses:
                    origin = web_origin(analysis.display_url)
                    if origin:  # never text from metadata: built from the checked scheme, host and port
                        origins.add(origin)
    return origins


@functools.cache
def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("toolkit.results", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _plots(spec: SpecResults) -> list[dict]:
    from toolkit.results.plots import metric_plot_svg, svg_data_url

    plots = []
    for metric in spec.numeric:
        if len(plots) == PLOTTED_METRICS_LIMIT:
            break
        values = {g.id: float(g.values[metric]) for g in spec.groups if metric in g.values}
        if len(values) < 2 or len(set(values.values())) < 2:
            continue
        # Metrics are metadata (any Metamist writer can set them): matplotlib cannot lay out an axis near the
        # largest floats (1.7e308 made every page load fail). Such a metric stays in the table, unplotted.
        if any(abs(value) > PLOTTABLE_MAGNITUDE for value in values.values()):
            continue
        outliers = [o for o in spec.outliers if o.metric == metric]
        try:
            svg = metric_plot_svg(metric, values, outliers)
        except (ArithmeticError, ValueError):  # a layout matplotlib cannot compute: the table still has it
            continue
        plots.append({"metric": metric, "src": svg_data_url(svg), "outliers": outliers})
    return plots


def _number(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def render_page(projects: list[ProjectResults], *, title: str = "toolkit results", source: str = "") -> str:
    template = _environment().get_template("results.html")
    sections = [
        {"project": project, "specs": [{"spec": spec, "plots": _plots(spec)} for spec in project.specs]}
        for project in projects
    ]
    return template.render(
        title=title,
        sections=sections,
        source=source,
        generated=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        number=_number,
        csp=None,
    )


def render_static_page(projects: list[ProjectResults], *, title: str, source: str) -> str:
    """The page for a folder of files: the policy travels in a <meta> tag, since no server sends headers."""
    html = render_page(projects, title=title, source=source)
    # The origins are checked (collect.web_origin); escaping the attribute is the second line of defence.
    policy = escape(page_csp(report_origins(projects)), quote=False).replace('"', "&quot;")
    meta = f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
    return html.replace("<!-- csp -->", meta, 1)


def write_assets(folder: Path) -> None:
    target = folder / "assets"
    target.mkdir(parents=True, exist_ok=True)
    for name, source in ASSETS.items():
        shutil.copyfile(STATIC / source, target / name)
    licence = STATIC / "vendor" / "sortable-tablesort-4.1.7" / "LICENSE"
    shutil.copyfile(licence, target / "sortable-tablesort.LICENSE.txt")
