"""Bokeh figures of a study, drawn from the columns of :mod:`hpo_kit.ui.data`.

:func:`view_data` is the one place that decides *which* columns each figure shows
(the notebook plots and the dashboard page both call it); :class:`StudyPlots` builds
the figures once (:mod:`hpo_kit.ui.figures`) and then only swaps its sources' data and
its ranges. Colours are chosen here, from the ``category`` column (status, or
``FLAGGED``), never in the data functions; the theme follows the page
(:mod:`hpo_kit.ui.theme`).

Bokeh is imported lazily; BokehJS is loaded from the installed package (inline
resources), so plots render with no internet.
"""
from __future__ import annotations

import math
from typing import Any

from . import data as D
from .front import loss_time_front
from .importance import parallel_coordinates, slices
from .lineage import has_lineage, lineage
from .timeline import WARMUP, worker_timeline
from .trials import config_text, param_specs, table_columns

#: Colour of each trial category (status, or FLAGGED for a monitor's finding); readable on light and dark.
PALETTE = {"PENDING": "#bdbdbd", "RUNNING": "#1f77b4", "PAUSED": "#9467bd", "COMPLETED": "#2ca02c",
           "STOPPED": "#ff7f0e", "KILLED": "#7f7f7f", "FAILED": "#e377c2", D.FLAGGED: "#d62728",
           "RETRIED": "#8c564b", WARMUP: "#c9b77c"}
#: What each colour means, for the legend above the figures.
MEANING = {"PENDING": "waiting for a worker", "RUNNING": "running", "PAUSED": "paused at a rung",
           "COMPLETED": "completed", "STOPPED": "stopped early", "KILLED": "killed by the user",
           "FAILED": "failed", D.FLAGGED: "flagged by a monitor", "RETRIED": "step re-run elsewhere",
           WARMUP: "worker warm-up (timeline; not trial time)"}
#: Figures shown, in order; ``rungs``, ``lineage`` and ``cost`` are for ASHA-like, Hypersearch and
#: time-aware BO studies; ``front`` (loss against training time, b's point marked) for time-aware
#: and multi-objective ones.
VIEWS = ("curves", "best", "timeline", "rungs", "lineage", "cost", "front", "parallel", "importance", "slice")
#: Named ranges that :func:`view_data` sets (start, end), for the notebook and the page alike.
RANGES = ("hpo-curves-yrange", "hpo-curves-logyrange")
EMPTY_IMPORTANCE = {"param": [], "importance": [], "n": []}


def view_data(records: D.Records, state: dict[str, Any] | None = None, now: float | None = None,
              specs: dict[str, dict[str, Any]] | None = None, importance: D.Columns | None = None) -> dict[str, Any]:
    """All figures' columns, by source name, plus the timeline's worker rows and the curves' ranges.

    Returns
    -------
    dict
        ``{"sources": {name: columns}, "workers": [worker, ...], "ranges": {name: [start, end]}}``.
        Worker addresses are shortened to ``host:port``; the timeline's ``row`` column is the
        worker's label and ``y`` its index in ``workers``. The curves' ranges are robust
        (:func:`~hpo_kit.ui.data.robust_range`: one diverged trial does not flatten the rest),
        for the linear and the log axis; ``None`` while there is nothing to show.
    """
    specs = param_specs(records) if specs is None else specs
    timeline = worker_timeline(records, now)
    timeline["row"] = [w.split("://")[-1] for w in timeline["worker"]]
    workers = sorted(set(timeline["row"]))
    timeline["y"] = [workers.index(r) for r in timeline["row"]]
    timeline["mid"] = [(s + e) / 2 for s, e in zip(timeline["start"], timeline["end"])]
    per_trial, per_rung = D.rungs(records)
    points, markers = D.bo_cost(records, state)
    costs = [v for v in points["cost"] + points["loss"] if math.isfinite(v)]
    lo, hi = (min(costs), max(costs)) if costs else (0.0, 1.0)
    span = max(points["elapsed"] + markers["elapsed"], default=1.0)
    levels = D.stagger(markers["elapsed"], span, levels=5, gap=0.3)  # a label is about a third of the width
    markers["y0"], markers["y1"] = [lo] * len(markers["elapsed"]), [hi] * len(markers["elapsed"])
    markers["label_y"] = [hi - lv * 0.1 * (hi - lo or 1.0) for lv in levels]
    width = max(per_trial["trial"], default=0) + 0.5
    per_rung.update(x0=[-0.5] * len(per_rung["rung"]), x1=[width] * len(per_rung["rung"]),
                    label=[f"rung {r} epoch{'s' * (r != 1)}: {n} trial{'s' * (n != 1)} reached it"
                           for r, n in zip(per_rung["rung"], per_rung["reached"])])
    curves = D.learning_curves(records)
    ends = {"trial": curves["trial"], "x": [xs[-1] for xs in curves["xs"]], "y": [ys[-1] for ys in curves["ys"]],
            "category": curves["category"], "status": curves["status"]}  # a one-epoch trial is this marker only
    nodes, edges = lineage(records)
    table = table_columns(records, specs)
    text = dict(zip(table["trial"], table["config"]))
    curves["config"] = [text.get(t, "") for t in curves["trial"]]
    values = [y for ys in curves["ys"] for y in ys]
    lines, axes = parallel_coordinates(records, specs)
    axes["top"] = [1.1] * len(axes["x"])
    axes["one"] = [1.0] * len(axes["x"])
    axes["zero"] = [0.0] * len(axes["x"])
    scores = D.trial_scores(records)
    front, front_line, front_pick = loss_time_front(records, state)
    return {"sources": {"curves": curves, "curve_ends": ends, "best": D.best_so_far(records, now), "scores": scores,
                        "lineage": nodes, "lineage_edges": edges,
                        "timeline": timeline, "rungs": per_trial, "rung_levels": per_rung,
                        "cost": points, "cost_markers": markers,
                        "front": front, "front_line": front_line, "front_pick": front_pick, "parallel": lines, "parallel_axes": axes,
                        "importance": importance or dict(EMPTY_IMPORTANCE), "slice": slices(records, specs),
                        "table": table},
            "workers": workers,
            "ranges": {"hpo-curves-yrange": D.robust_range(values),
                       "hpo-curves-logyrange": D.robust_range(values, log=True)}}


def default_views(optimizer: Any) -> tuple[str, ...]:
    """The figures worth showing for a policy: rungs for budget-based ones, cost for time-aware BO.

    Duck-typed on the policies' public attributes (``eta``/``rungs`` of ASHA and SHA,
    ``sessions`` of Hypersearch, a live ``b``), so the view needs no list of policy names.
    """
    views = ["curves", "best", "timeline"]
    if any(hasattr(optimizer, a) for a in ("eta", "rungs", "sessions")):  # ASHA, SHA, Hypersearch
        views.append("rungs")
    if hasattr(optimizer, "sessions"):  # Hypersearch: trials start from others' weights
        views.append("lineage")
    if "b" in getattr(optimizer, "live_params", ()):
        views.append("cost")
    if "b" in getattr(optimizer, "live_params", ()) or getattr(getattr(optimizer, "searcher", optimizer), "multi_objective", False):
        views.append("front")
    return (*views, "parallel", "importance", "slice")


def views_for(records: D.Records) -> tuple[str, ...]:
    """The figures worth showing, judged from the journal alone (for the dashboard, which has no optimizer).

    Rungs once a trial paused at a budget or was resumed; cost when the policy has a ``b``.
    """
    views = ["curves", "best", "timeline"]
    if any(r.get("event") in ("trial_pause", "trial_resume") for r in records):
        views.append("rungs")
    if has_lineage(records):
        views.append("lineage")
    if "b" in D.policy_params(records):
        views.extend(("cost", "front"))
    elif D.goal_of(records).multi:
        views.append("front")
    return (*views, "parallel", "importance", "slice")


def legend_html(categories: tuple[str, ...] = tuple(PALETTE)) -> str:
    """The colour legend shown above the figures: one swatch per status (and flagged, retried, warm-up)."""
    items = "".join(f"<span class='hpo-legend-item' title='{MEANING[c]}' style='margin-right:10px;white-space:nowrap'>"
                    f"<span style='display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:3px;"
                    f"background:{PALETTE[c]}'></span>{c.lower()}</span>" for c in categories)
    return f"<div class='hpo-legend' style='font-size:11px;line-height:16px'>{items}</div>"


def colour(field: str = "category") -> Any:
    from bokeh.transform import factor_cmap

    return factor_cmap(field, palette=list(PALETTE.values()), factors=list(PALETTE))


class StudyPlots:
    """The study's figures and its trial table, in one Bokeh layout.

    Parameters
    ----------
    metric
        The goal's metric (axis label).
    views
        Which of :data:`VIEWS` to draw.
    specs
        The search space (``Space.to_dict()``), for the table's and the parallel plot's columns.
    width, height
        Size of each figure in pixels.
    page
        For the dashboard page: a click on a trial also writes its row into a ``Div``
        (``hpo-detail``) in the browser; the notebook shows more, from the kernel.
    """

    def __init__(self, metric: str = "loss", views: tuple[str, ...] = VIEWS[:3], specs: dict | None = None,
                 width: int = 400, height: int = 250, page: bool = False) -> None:
        from bokeh.models import ColumnDataSource

        from . import figures as F

        unknown = set(views) - set(VIEWS)
        if unknown:
            raise ValueError(f"views={views!r}: unknown {sorted(unknown)}; choose from {VIEWS}")
        self.specs = dict(specs or {})
        empty = view_data([], specs=self.specs)
        self.sources = {name: ColumnDataSource(cols, name=f"hpo-{name}") for name, cols in empty["sources"].items()}
        self.figures: dict[str, Any] = {}
        self.ranges: dict[str, Any] = {}
        self._size = {"width": width, "height": height}
        self._ranges_set: dict[str, Any] = {}
        self.layout = F.build(self, metric, tuple(views), page)
        # BokehJS sends the kernel every range it computes and every size it lays out (hundreds of
        # messages while a page lays out or the pointer crosses the figures), each answered with the
        # kernel's busy/idle: a widget update typed meanwhile waited behind them. Only the table's
        # selection (a click on a trial) and the log toggle are wanted back from the browser.
        keep = {id(self.sources["table"].selected), *(id(m) for m in self.layout.select({"name": "hpo-log-toggle"}))}
        for model in self.layout.references():
            if id(model) not in keep:
                model.syncable = False

    def update(self, records: D.Records, state: dict[str, Any] | None = None, now: float | None = None,
               importance: D.Columns | None = None) -> bool:
        """Redraw from records; only sources whose columns changed are sent. True if any changed."""
        new = view_data(records, state, now, self.specs, importance)
        changed = False
        if "timeline" in self.figures:
            axis = self.figures["timeline"].yaxis[0]
            labels = dict(enumerate(new["workers"]))
            if list(axis.ticker.ticks) != list(labels) or dict(axis.major_label_overrides) != labels:
                axis.ticker.ticks = list(labels)
                axis.major_label_overrides = labels
        for name, value in new["ranges"].items():
            rng = self.ranges.get(name)
            if rng is not None and value is not None and self._ranges_set.get(name) != value:
                rng.start, rng.end = value
                rng.reset_start, rng.reset_end = value
                self._ranges_set[name] = value
        for name, cols in new["sources"].items():
            src = self.sources[name]
            if _differs(src.data, cols):
                src.data = cols
                changed = True
        return changed

    def select(self, trial: int | None) -> None:
        """Highlight ``trial`` (its table row, learning curve, parallel line, slice points); ``None`` clears."""
        for name in ("table", "curves", "curve_ends", "parallel", "slice", "lineage"):
            trials = list(self.sources[name].data.get("trial", []))
            rows = [trials.index(trial)] if trial in trials else []
            if list(self.sources[name].selected.indices) != rows:
                self.sources[name].selected.indices = rows

    def points(self, name: str = "curves") -> int:
        """How many data points a source holds (epochs summed over lines for ``curves``)."""
        data = self.sources[name].data
        if name == "curves":
            return sum(len(xs) for xs in data["xs"])
        return len(next(iter(data.values()), []))


def drop_computed_ranges(docs_json: Any) -> int:
    """Remove ``start``/``end`` from every serialised ``DataRange1d`` (in place); returns how many.

    BokehJS sends the bounds it computes back to the kernel, so a document serialised
    again (to re-render a view) would carry them, and BokehJS would take them as fixed
    bounds: that figure would stop following its data.
    """
    n = 0
    if isinstance(docs_json, dict):
        if docs_json.get("name") == "DataRange1d" and isinstance(docs_json.get("attributes"), dict):
            attrs = docs_json["attributes"]
            n += sum(attrs.pop(k, None) is not None for k in ("start", "end")) > 0
        for value in docs_json.values():
            n += drop_computed_ranges(value)
    elif isinstance(docs_json, (list, tuple)):
        for value in docs_json:
            n += drop_computed_ranges(value)
    return n


def _differs(old: dict[str, Any], new: dict[str, list]) -> bool:
    if set(old) != set(new):
        return True
    for key, values in new.items():
        before = list(old[key])
        if len(before) != len(values) or repr(before) != repr(values):
            return True
    return False


def load_bokehjs() -> None:
    """Put BokehJS on the notebook page from the installed package (no CDN, no internet)."""
    from bokeh.io import output_notebook
    from bokeh.resources import INLINE

    output_notebook(resources=INLINE, hide_banner=True)


__all__ = ["PALETTE", "MEANING", "VIEWS", "legend_html", "StudyPlots", "view_data", "default_views", "views_for", "config_text"]
