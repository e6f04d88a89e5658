"""Plots for the results page: one numeric metric across the groups, outliers marked. SVG, drawn server-side.

matplotlib draws them (object API, no pyplot: safe in server threads); the page embeds each as an ``<img>`` with
a ``data:`` URL, so a plot is inert (an SVG image runs no script) and the exported page is one file. Text is
drawn as paths (``svg.fonttype = path``): metadata in labels never becomes markup.
"""

from __future__ import annotations

import base64
import functools
import io
import random

from toolkit.results.collect import Outlier

# Beyond this many groups, names no longer fit as labels: one jittered strip, only outliers named.
LABELLED_GROUPS_LIMIT = 40
OUTLIER_LABELS_LIMIT = 10


def metric_plot_svg(metric: str, values: dict[str, float], outliers: list[Outlier]) -> str:
    """The SVG text of a dot plot of ``values`` (group id -> value) with Tukey's fences and outliers in red."""
    fences = (outliers[0].low, outliers[0].high) if outliers else None
    return _plot(metric, tuple(sorted(values.items())), tuple(sorted(o.group for o in outliers)), fences)


@functools.lru_cache(maxsize=64)
def _plot(metric: str, items: tuple, flagged_groups: tuple, fences: tuple | None) -> str:
    # Drawing takes a good part of a second; a served page is rebuilt on every visit, mostly with the same data.
    values = dict(items)
    outliers = [Outlier(metric, group, values[group], *fences) for group in flagged_groups] if fences else []
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    flagged = {o.group for o in outliers}
    groups = sorted(values, key=lambda g: (values[g], g))
    labelled = len(groups) <= LABELLED_GROUPS_LIMIT
    height = 0.9 + (0.24 * len(groups) if labelled else 0.9)
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "toolkit-results", "font.size": 9}):
        figure = Figure(figsize=(6.4, max(1.8, height)), layout="constrained")
        axes = figure.add_subplot()
        if labelled:
            ys = list(range(len(groups)))
            axes.set_yticks(ys, labels=groups)
        else:
            jitter = random.Random(0)
            ys = [jitter.uniform(-0.3, 0.3) for _ in groups]
            axes.set_yticks([])
        xs = [values[g] for g in groups]
        colours = ["#c62828" if g in flagged else "#1565c0" for g in groups]
        axes.scatter(xs, ys, c=colours, s=28, zorder=3)
        named = [i for i, g in enumerate(groups) if g in flagged][:OUTLIER_LABELS_LIMIT]
        for i in named:
            axes.annotate(
                f"outlier: {groups[i]}" if not labelled else "outlier", (xs[i], ys[i]),
                xytext=(6, 4), textcoords="offset points", color="#c62828",
            )
        if outliers:
            low, high = outliers[0].low, outliers[0].high
            for fence in (low, high):
                axes.axvline(fence, color="#9e9e9e", linestyle="--", linewidth=0.8, zorder=1)
        axes.set_xlabel(metric)
        axes.grid(axis="x", color="#eeeeee", zorder=0)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return buffer.getvalue()


def svg_data_url(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
