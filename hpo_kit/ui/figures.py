"""The figures of :class:`~hpo_kit.ui.plots.StudyPlots`, built once over its named sources.

Every source, range and widget has a ``name`` (``hpo-<source>``, ``hpo-curves-yrange``,
``hpo-log-toggle``, ``hpo-trial-table``) so that the dashboard page's script and the browser
tests find them. Interactions that need no kernel run in the browser (``CustomJS``): the
log-scale toggle, and a click on a table row highlighting that trial's curve and line.
"""
from __future__ import annotations

from typing import Any

from .plots import colour, legend_html
from .theme import button_stylesheet, follow_theme, table_stylesheet

TOOLS = "pan,wheel_zoom,box_zoom,reset,hover,save"

_SELECT_JS = """
const rows = table.selected.indices;
const trial = rows.length ? table.data.trial[rows[0]] : null;
for (const src of [curves, ends, parallel, slice, lineage]) {
  if (src === null) continue;
  const k = trial === null ? -1 : Array.from(src.data.trial).indexOf(trial);
  src.selected.indices = k >= 0 ? [k] : [];
}
if (detail !== null) {
  if (trial === null) { detail.text = ""; return; }
  const r = rows[0], d = table.data;
  const esc = (s) => String(s).replace(/[&<>]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;"})[c]);
  const num = (v) => (v === null || v === undefined || Number.isNaN(v)) ? "-" : Number(v).toPrecision(4);
  detail.text = `<div class="hpo-detail-body"><b>Trial ${trial}</b> · ${esc(d.status[r])} · ${d.epochs[r]} epochs · `
    + `score ${num(d.score[r])} · last ${num(d.last[r])}<br><span class="hpo-detail-config">${esc(d.config[r])}</span>`
    + (d.flags[r] ? `<br>flags: ${esc(d.flags[r])}` : "") + (d.reason[r] ? `<br>${esc(d.reason[r])}` : "") + "</div>";
}
"""


def _figure(sp: Any, name: str, title: str, x: str, y: str, **kwargs: Any) -> Any:
    from bokeh.plotting import figure

    fig = figure(title=title, x_axis_label=x, y_axis_label=y, name=f"hpo-fig-{name}",
                 **{"tools": TOOLS, **sp._size, **kwargs})
    fig.title.text_font_size = "11pt"
    return fig


def curves(sp: Any, metric: str) -> tuple[Any, Any, Any]:
    """The learning curves twice (linear and log y, one shown at a time) and the toggle between them."""
    from bokeh.models import CustomJS, Range1d, Toggle

    figs = []
    for log in (False, True):
        name = "hpo-curves-logyrange" if log else "hpo-curves-yrange"
        sp.ranges[name] = rng = Range1d(0, 1, name=name)
        fig = _figure(sp, "curves-log" if log else "curves", f"Learning curves ({metric}{', log' if log else ''})",
                      "epoch", metric, y_range=rng, y_axis_type="log" if log else "linear", visible=log is False)
        fig.multi_line("xs", "ys", source=sp.sources["curves"], color=colour(), line_width=1.5, alpha=0.8,
                       nonselection_line_alpha=0.12, selection_line_width=3.5)
        # each curve's last point: a trial that ran one epoch (most of them under SHA/ASHA) has no line
        fig.scatter("x", "y", source=sp.sources["curve_ends"], color=colour(), size=6, alpha=0.85,
                    nonselection_alpha=0.15, name="hpo-curve-ends")
        fig.hover.tooltips = [("trial", "@trial"), ("status", "@status"), ("flags", "@flags"), ("config", "@config")]
        figs.append(fig)
    toggle = Toggle(label="log scale (curves)", active=False, name="hpo-log-toggle", css_classes=["hpo-log-toggle"],
                    width=170, stylesheets=[button_stylesheet()])
    toggle.js_on_change("active", CustomJS(args={"lin": figs[0], "log": figs[1]},
                                           code="lin.visible = !cb_obj.active; log.visible = cb_obj.active;"))
    return figs[0], figs[1], toggle


def best(sp: Any, metric: str) -> Any:
    fig = _figure(sp, "best", f"Best {metric} so far, and every trial's score", "seconds since start", metric)
    fig.scatter("elapsed", "score", source=sp.sources["scores"], size=5, color=colour(), alpha=0.6)
    fig.step("elapsed", "best", source=sp.sources["best"], mode="after", line_width=2, color="#1f77b4")
    fig.hover.tooltips = [("trial", "@trial"), ("score", "@score"), ("best", "@best"), ("at", "@elapsed{0.0} s")]
    return fig


def timeline(sp: Any, metric: str) -> Any:
    from bokeh.models import FixedTicker

    fig = _figure(sp, "timeline", "Workers: which trial ran when", "seconds since start", "worker")
    fig.yaxis.ticker = FixedTicker(ticks=[], name="hpo-worker-ticks")
    fig.yaxis.name = "hpo-worker-axis"
    src = sp.sources["timeline"]
    fig.hbar(y="y", left="start", right="end", height=0.7, source=src, fill_color=colour("status"),
             line_color="white", fill_alpha=0.85)
    fig.text(x="mid", y="y", text="label", source=src, text_align="center", text_baseline="middle",
             text_font_size="8pt", text_color="white")  # warm-up segments carry no label
    fig.hover.tooltips = [("trial", "@trial"), ("worker", "@row"), ("segment", "@status"),
                          ("from", "@start{0.0} s"), ("to", "@end{0.0} s")]
    return fig


def rungs(sp: Any, metric: str) -> Any:
    from bokeh.models import LabelSet

    fig = _figure(sp, "rungs", "Rungs: epochs reached per trial (dashed: rung levels)", "trial", "epochs")
    fig.segment("x0", "rung", "x1", "rung", source=sp.sources["rung_levels"], line_dash="dashed", color="#999999")
    fig.add_layout(LabelSet(x="x0", y="rung", text="label", source=sp.sources["rung_levels"], text_font_size="8pt",
                            text_baseline="bottom", text_color="#888888", name="hpo-label-rungs"))
    fig.vbar(x="trial", top="epochs", width=0.8, source=sp.sources["rungs"], fill_color=colour(), line_color=None)
    fig.hover.tooltips = [("trial", "@trial"), ("epochs", "@epochs"), ("budget", "@budget"), ("status", "@status")]
    return fig


def cost(sp: Any, metric: str) -> Any:
    fig = _figure(sp, "cost", "Time-aware BO: cost Z = L + b*T", "seconds since start", "loss / cost")
    src = sp.sources["cost"]
    fig.scatter("elapsed", "cost", source=src, size=7, color="#1f77b4", legend_label="cost Z")
    fig.scatter("elapsed", "loss", source=src, size=5, marker="x", color="#2ca02c", legend_label="loss L")
    marks = sp.sources["cost_markers"]
    fig.segment("elapsed", "y0", "elapsed", "y1", source=marks, color="#d62728", line_dash="dotted")
    fig.text("elapsed", "label_y", text="label", source=marks, text_font_size="8pt", text_color="#d62728",
             x_offset=3, text_baseline="top")  # staggered: markers close in time get different heights
    legend = fig.legend[0]
    legend.orientation, legend.label_text_font_size, legend.padding, legend.margin = "horizontal", "8pt", 2, 2
    fig.add_layout(legend, "below")  # outside the plot: the marker labels sit along its top
    fig.hover.tooltips = [("trial", "@trial"), ("L", "@loss"), ("T", "@time{0.00} s"), ("b", "@b"), ("Z", "@cost")]
    return fig


def front(sp: Any, metric: str) -> Any:
    """Loss against training time; the front as a staircase; the point the current b prefers marked."""
    fig = _figure(sp, "front", "Loss-training-time front (the star: what Z = L + b*T picks now)",
                  "training seconds", f"loss ({metric})")
    fig.scatter("seconds", "loss", source=sp.sources["front"], size=6, color="#9e9e9e", alpha=0.7)
    fig.line("x", "y", source=sp.sources["front_line"], color="#1f77b4", line_width=2)
    fig.scatter("seconds", "loss", source=sp.sources["front_pick"], size=16, marker="star", color="#d62728",
                name="hpo-front-pick")
    fig.text("seconds", "loss", text="label", source=sp.sources["front_pick"], text_font_size="8pt",
             text_color="#d62728", x_offset=8, text_baseline="middle")
    fig.hover.tooltips = [("trial", "@trial"), ("loss", "@loss"), ("seconds", "@seconds{0.00}")]
    return fig


def lineage(sp: Any, metric: str) -> Any:
    """Hypersearch's family tree: each trial at (its id, its generation), a line from the trial it started from."""
    fig = _figure(sp, "lineage", "Lineage: which trial's weights seeded which", "trial", "generation")
    fig.segment("x0", "y0", "x1", "y1", source=sp.sources["lineage_edges"], color="#999999", line_width=1.5)
    fig.scatter("trial", "generation", source=sp.sources["lineage"], size=9, color=colour(), line_color="white",
                nonselection_alpha=0.2)
    fig.text("trial", "generation", text="label", source=sp.sources["lineage"], text_font_size="7pt",
             text_baseline="bottom", y_offset=-6, text_align="center", text_color="#888888")
    fig.y_range.flipped = True  # roots on top, their descendants below
    fig.hover.tooltips = [("trial", "@trial"), ("started from", "@parent"), ("generation", "@generation"),
                          ("score", "@score"), ("status", "@status")]
    return fig


def parallel(sp: Any, metric: str) -> Any:
    from bokeh.models import LabelSet, Range1d
    from bokeh.transform import linear_cmap

    fig = _figure(sp, "parallel", "Configurations → score (best on top)", "", "",
                  x_range=Range1d(-0.45, len(sp.specs) + 0.45), y_range=Range1d(-0.12, 1.22),
                  tools="pan,wheel_zoom,reset,hover,save")
    fig.yaxis.visible = False
    fig.xaxis.visible = False
    fig.xgrid.grid_line_color = None
    axes = sp.sources["parallel_axes"]
    fig.segment("x", "zero", "x", "one", source=axes, color="#888888")
    fig.multi_line("xs", "ys", source=sp.sources["parallel"], line_width=1.5, alpha=0.7,
                   color=linear_cmap("rank", "Viridis256", 0.0, 1.0), nonselection_line_alpha=0.1,
                   selection_line_width=3.5)
    for field, y, base, name in (("name", "top", "bottom", "names"), ("high", "one", "bottom", "high"),
                                 ("low", "zero", "top", "low")):
        fig.add_layout(LabelSet(x="x", y=y, text=field, source=axes, text_align="center", text_baseline=base,
                                text_font_size="8pt", text_color="#555555", name=f"hpo-label-parallel-{name}"))
    fig.hover.tooltips = [("trial", "@trial"), ("score", "@score"), ("config", "@config")]
    return fig


def importance(sp: Any, metric: str) -> Any:
    from bokeh.models import FactorRange

    fig = _figure(sp, "importance", "Hyperparameter importance (5+ scores)",
                  f"share of {metric}'s variance (random forest)", "",
                  y_range=FactorRange(factors=list(sp.specs)[::-1] or [""]))
    fig.hbar(y="param", right="importance", height=0.6, source=sp.sources["importance"], color="#1f77b4")
    fig.x_range.start = 0
    fig.hover.tooltips = [("parameter", "@param"), ("importance", "@importance{0.000}"), ("from", "@n trials")]
    return fig


def slices(sp: Any, metric: str) -> tuple[Any, list[Any]]:
    """Optuna's slice view: score against each hyperparameter, one small figure each (log axis where the space is).

    Returns the layout cell and its figures (to theme them). Categorical hyperparameters
    get their choices as categories; a missing value is not drawn.
    """
    from bokeh.layouts import column, row
    from bokeh.models import FactorRange

    specs = sp.specs or {"": {}}
    ncols = 1 if len(specs) == 1 else 2
    size = {"width": sp._size["width"] // ncols, "height": sp._size["height"] if len(specs) == 1 else 170}
    figs = []
    for i, (name, spec) in enumerate(specs.items()):
        kwargs: dict[str, Any] = {}
        if spec.get("type") == "categorical":
            kwargs["x_range"] = FactorRange(factors=[str(c) for c in spec.get("choices", [])])
        elif spec.get("log"):
            kwargs["x_axis_type"] = "log"
        fig = _figure(sp, f"slice-{name}", f"Slice: {name}" if name else "Slice (no hyperparameters)",
                      name, metric if i % ncols == 0 else "", **{**kwargs, **size})
        fig.title.text_font_size = "9pt"
        if name:
            fig.scatter(f"config.{name}", "score", source=sp.sources["slice"], size=6, color=colour(), alpha=0.7)
            fig.hover.tooltips = [("trial", "@trial"), ("score", "@score"), (name, f"@{{config.{name}}}"),
                                  ("config", "@config")]
        sp.figures[f"slice-{name}"] = fig
        figs.append(fig)
    return column([row(figs[i:i + ncols]) for i in range(0, len(figs), ncols)], name="hpo-slices"), figs


def table(sp: Any) -> Any:
    """The trial table: every trial, sortable by any column (a click on a header), scrollable."""
    from bokeh.models import DataTable, ScientificFormatter, StringFormatter, TableColumn

    # every cell's background follows the row's ``tint`` (flagged rows); widths fit their longest text
    # ("COMPLETED", "127.0.0.1:40000") and the table scrolls sideways rather than squeezing them
    num = ScientificFormatter(precision=4, power_limit_high=6, power_limit_low=-3, nan_format="-", null_format="-",
                              background_color="tint")
    text = StringFormatter(background_color="tint")
    cols = [TableColumn(field="trial", title="trial", width=50, formatter=text),
            TableColumn(field="status", title="status", width=105, formatter=text),
            TableColumn(field="epochs", title="epochs", width=55, formatter=text),
            TableColumn(field="score", title="score", formatter=num, width=85),
            TableColumn(field="last", title="last", formatter=num, width=85)]
    for name, spec in sp.specs.items():
        fmt = text if spec.get("type") == "categorical" else num
        cols.append(TableColumn(field=f"config.{name}", title=name, formatter=fmt, width=max(85, 9 * len(name))))
    cols += [TableColumn(field="worker", title="worker", width=135, formatter=text),
             TableColumn(field="flags", title="flags", width=110, formatter=text),
             TableColumn(field="reason", title="reason", width=420, formatter=text)]
    from bokeh.models import CustomJS

    grid = DataTable(source=sp.sources["table"], columns=cols, name="hpo-trial-table", css_classes=["hpo-trial-table"],
                     width=2 * sp._size["width"] + 20, height=260, sortable=True, index_position=None,
                     selectable=True, autosize_mode="none", stylesheets=[table_stylesheet()])
    # BokehJS redraws the table's rows only when their number changes: a status that changed in a
    # row already shown stayed stale. Tell the table's view that its data changed, every time.
    grid.source.js_on_change("data", CustomJS(args={"view": grid.view}, code="view.change.emit();"))
    return grid


def build(sp: Any, metric: str, views: tuple[str, ...], page: bool) -> Any:
    """All figures of ``views``, the log toggle, the table (and, on the page, the detail ``Div``) in one layout."""
    from bokeh.layouts import column, gridplot
    from bokeh.models import CustomJS, Div

    builders = {"best": best, "timeline": timeline, "rungs": rungs, "lineage": lineage, "cost": cost, "front": front,
                "parallel": parallel, "importance": importance}
    cells, toggle, plots = [], None, []
    for name in views:
        if name == "curves":
            lin, log, toggle = curves(sp, metric)
            sp.figures["curves"], sp.figures["curves_log"] = lin, log
            cells.append(column(lin, log))
            plots += [lin, log]
        elif name == "slice":
            cell, figs = slices(sp, metric)
            cells.append(cell)
            plots += figs
        else:
            sp.figures[name] = fig = builders[name](sp, metric)
            cells.append(fig)
            plots.append(fig)
    grid = gridplot(cells, ncols=2, toolbar_location="right")
    trials = table(sp)
    detail = Div(text="", name="hpo-detail", css_classes=["hpo-detail"], width=2 * sp._size["width"]) if page else None
    trials.source.selected.js_on_change("indices", CustomJS(
        args={"table": trials.source, "curves": sp.sources["curves"], "ends": sp.sources["curve_ends"],
              "parallel": sp.sources["parallel"], "slice": sp.sources["slice"],
              "lineage": sp.sources["lineage"] if "lineage" in views else None, "detail": detail}, code=_SELECT_JS))
    if plots:
        follow_theme(plots, plots[0])
    sp.table = trials
    legend = Div(text=legend_html(), name="hpo-legend", css_classes=["hpo-legend"], width=2 * sp._size["width"])
    return column([c for c in (legend, toggle, grid, trials, detail) if c is not None], name="hpo-layout")
