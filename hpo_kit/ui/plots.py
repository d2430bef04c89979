"""Bokeh figures of a study, drawn from the columns of :mod:`hpo_kit.ui.data`.

:func:`view_data` is the one place that decides *which* columns each figure shows
(the notebook plots and the dashboard page both call it); :class:`StudyPlots` builds
the figures once and then only swaps its sources' data. Colours are chosen here, from
the ``category`` column (status, or ``FLAGGED``), never in the data functions.

Bokeh is imported lazily; BokehJS is loaded from the installed package (inline
resources), so plots render with no internet.
"""
from __future__ import annotations

import math
from typing import Any

from . import data as D

#: Colour of each trial category (status, or FLAGGED for a monitor's finding).
PALETTE = {"PENDING": "#bdbdbd", "RUNNING": "#1f77b4", "PAUSED": "#9467bd", "COMPLETED": "#2ca02c",
           "STOPPED": "#ff7f0e", "KILLED": "#7f7f7f", "FAILED": "#000000", D.FLAGGED: "#d62728",
           "RETRIED": "#8c564b"}
#: Figures shown, in order; ``rungs`` and ``cost`` are for ASHA-like and time-aware BO studies.
VIEWS = ("curves", "best", "timeline", "rungs", "cost")


def view_data(records: D.Records, state: dict[str, Any] | None = None, now: float | None = None) -> dict[str, Any]:
    """All figures' columns, by source name, plus the timeline's worker rows.

    Returns
    -------
    dict
        ``{"sources": {name: columns}, "workers": [worker, ...]}``. Worker addresses are
        shortened to ``host:port``; the timeline's ``row`` column is the worker's label and
        ``y`` its index in ``workers`` (a numeric axis auto-ranges as workers appear).
    """
    timeline = D.worker_timeline(records, now)
    timeline["row"] = [w.split("://")[-1] for w in timeline["worker"]]
    workers = sorted(set(timeline["row"]))
    timeline["y"] = [workers.index(r) for r in timeline["row"]]
    timeline["mid"] = [(s + e) / 2 for s, e in zip(timeline["start"], timeline["end"])]
    per_trial, per_rung = D.rungs(records)
    points, markers = D.bo_cost(records, state)
    costs = [v for v in points["cost"] + points["loss"] if math.isfinite(v)]
    lo, hi = (min(costs), max(costs)) if costs else (0.0, 1.0)
    markers["y0"], markers["y1"] = [lo] * len(markers["elapsed"]), [hi] * len(markers["elapsed"])
    width = max(per_trial["trial"], default=0) + 0.5
    per_rung.update(x0=[-0.5] * len(per_rung["rung"]), x1=[width] * len(per_rung["rung"]),
                    label=[f"{n} reached" for n in per_rung["reached"]])
    return {"sources": {"curves": D.learning_curves(records), "best": D.best_so_far(records),
                        "timeline": timeline, "rungs": per_trial, "rung_levels": per_rung,
                        "cost": points, "cost_markers": markers},
            "workers": workers}


def default_views(optimizer: Any) -> tuple[str, ...]:
    """The figures worth showing for a policy: rungs for budget-based ones, cost for time-aware BO.

    Duck-typed on the policies' public attributes (``eta``/``rungs`` of ASHA and SHA,
    ``sessions`` of Hypersearch, a live ``b``), so the view needs no list of policy names.
    """
    views = ["curves", "best", "timeline"]
    if any(hasattr(optimizer, a) for a in ("eta", "rungs", "sessions")):  # ASHA, SHA, Hypersearch
        views.append("rungs")
    if "b" in getattr(optimizer, "live_params", ()):
        views.append("cost")
    return tuple(views)


def views_for(records: D.Records) -> tuple[str, ...]:
    """The figures worth showing, judged from the journal alone (for the dashboard, which has no optimizer).

    Rungs once a trial paused at a budget or was resumed; cost when the policy has a ``b``.
    """
    views = ["curves", "best", "timeline"]
    if any(r.get("event") in ("trial_pause", "trial_resume") for r in records):
        views.append("rungs")
    if "b" in D.policy_params(records):
        views.append("cost")
    return tuple(views)


def _colour(field: str = "category") -> Any:
    from bokeh.transform import factor_cmap

    return factor_cmap(field, palette=list(PALETTE.values()), factors=list(PALETTE))


class StudyPlots:
    """The study's figures, in one Bokeh layout.

    Parameters
    ----------
    metric
        The goal's metric (axis label).
    views
        Which of :data:`VIEWS` to draw.
    width, height
        Size of each figure in pixels.
    """

    def __init__(self, metric: str = "loss", views: tuple[str, ...] = VIEWS[:3], width: int = 430,
                 height: int = 250) -> None:
        from bokeh.layouts import gridplot
        from bokeh.models import ColumnDataSource

        unknown = set(views) - set(VIEWS)
        if unknown:
            raise ValueError(f"views={views!r}: unknown {sorted(unknown)}; choose from {VIEWS}")
        empty = view_data([])
        self.sources = {name: ColumnDataSource(cols, name=f"hpo-{name}") for name, cols in empty["sources"].items()}
        self.figures: dict[str, Any] = {}
        self._size = {"width": width, "height": height}
        builders = {"curves": self._curves, "best": self._best, "timeline": self._timeline,
                    "rungs": self._rungs, "cost": self._cost}
        for name in views:
            self.figures[name] = builders[name](metric)
        self.layout = gridplot(list(self.figures.values()), ncols=2, toolbar_location="right")

    # -- figures ----------------------------------------------------------------------------
    def _figure(self, name: str, title: str, x: str, y: str, **kwargs: Any) -> Any:
        from bokeh.plotting import figure

        fig = figure(title=title, x_axis_label=x, y_axis_label=y, name=f"hpo-fig-{name}",
                     tools="pan,wheel_zoom,box_zoom,reset,hover,save", **self._size, **kwargs)
        fig.title.text_font_size = "11pt"
        return fig

    def _curves(self, metric: str) -> Any:
        fig = self._figure("curves", f"Learning curves ({metric})", "epoch", metric)
        fig.multi_line("xs", "ys", source=self.sources["curves"], color=_colour(), line_width=1.5, alpha=0.8)
        fig.hover.tooltips = [("trial", "@trial"), ("status", "@status"), ("flags", "@flags")]
        return fig

    def _best(self, metric: str) -> Any:
        fig = self._figure("best", f"Best {metric} so far", "seconds since start", metric)
        fig.step("elapsed", "best", source=self.sources["best"], mode="after", line_width=2)
        fig.scatter("elapsed", "best", source=self.sources["best"], size=6)
        fig.hover.tooltips = [("trial", "@trial"), ("best", "@best"), ("at", "@elapsed{0.0} s")]
        return fig

    def _timeline(self, metric: str) -> Any:
        from bokeh.models import FixedTicker

        fig = self._figure("timeline", "Workers: which trial ran when", "seconds since start", "worker")
        fig.yaxis.ticker = FixedTicker(ticks=[], name="hpo-worker-ticks")
        fig.yaxis.name = "hpo-worker-axis"
        src = self.sources["timeline"]
        fig.hbar(y="y", left="start", right="end", height=0.7, source=src, fill_color=_colour("status"),
                 line_color="white", fill_alpha=0.85)
        fig.text(x="mid", y="y", text="trial", source=src, text_align="center", text_baseline="middle",
                 text_font_size="8pt", text_color="white")
        fig.hover.tooltips = [("trial", "@trial"), ("worker", "@row"), ("ended", "@status"),
                              ("from", "@start{0.0} s"), ("to", "@end{0.0} s")]
        return fig

    def _rungs(self, metric: str) -> Any:
        fig = self._figure("rungs", "Rungs: epochs reached per trial", "trial", "epochs")
        fig.segment("x0", "rung", "x1", "rung", source=self.sources["rung_levels"], line_dash="dashed",
                    color="#999999")
        fig.text("x0", "rung", text="label", source=self.sources["rung_levels"], text_font_size="8pt",
                 text_baseline="bottom", text_color="#666666")
        fig.vbar(x="trial", top="epochs", width=0.8, source=self.sources["rungs"], fill_color=_colour(),
                 line_color=None)
        fig.hover.tooltips = [("trial", "@trial"), ("epochs", "@epochs"), ("budget", "@budget"),
                              ("status", "@status")]
        return fig

    def _cost(self, metric: str) -> Any:
        fig = self._figure("cost", "Time-aware BO: cost Z = L + b*T", "seconds since start", "loss / cost")
        src = self.sources["cost"]
        fig.scatter("elapsed", "cost", source=src, size=7, color="#1f77b4", legend_label="cost Z")
        fig.scatter("elapsed", "loss", source=src, size=5, marker="x", color="#2ca02c", legend_label="loss L")
        marks = self.sources["cost_markers"]
        fig.segment("elapsed", "y0", "elapsed", "y1", source=marks, color="#d62728", line_dash="dotted")
        fig.text("elapsed", "y1", text="label", source=marks, text_font_size="8pt", text_color="#d62728")
        fig.legend.location, fig.legend.label_text_font_size = "top_right", "8pt"
        fig.hover.tooltips = [("trial", "@trial"), ("L", "@loss"), ("T", "@time{0.00} s"), ("b", "@b"),
                              ("Z", "@cost")]
        return fig

    # -- updates ------------------------------------------------------------------------------
    def update(self, records: D.Records, state: dict[str, Any] | None = None, now: float | None = None) -> bool:
        """Redraw from records; only sources whose columns changed are sent. True if any changed."""
        new = view_data(records, state, now)
        changed = False
        if "timeline" in self.figures:
            axis = self.figures["timeline"].yaxis[0]
            if list(axis.ticker.ticks) != list(range(len(new["workers"]))):
                axis.ticker.ticks = list(range(len(new["workers"])))
                axis.major_label_overrides = dict(enumerate(new["workers"]))
        for name, cols in new["sources"].items():
            src = self.sources[name]
            if _differs(src.data, cols):
                src.data = cols
                changed = True
        return changed

    def points(self, name: str = "curves") -> int:
        """How many data points a source holds (epochs summed over lines for ``curves``)."""
        data = self.sources[name].data
        if name == "curves":
            return sum(len(xs) for xs in data["xs"])
        return len(next(iter(data.values()), []))


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
