"""Plots that follow JupyterLab's light or dark theme, in the browser, with no round trip to the kernel.

Bokeh draws on a canvas, so CSS cannot recolour it. :func:`follow_theme` attaches a
``CustomJS`` to a change of a figure's ``inner_width`` (set by BokehJS when the figure is
first laid out, in a notebook or on a plain page alike) that reads JupyterLab's theme
(``data-jp-theme-light`` on ``<body>`` and its ``--jp-*`` colours; elsewhere the browser's
``prefers-color-scheme``), recolours every figure's background, title, axes, grids,
legends and labels, and watches ``<body>`` (and the browser's scheme) to do it again when
the user switches themes.
The trial table and the toggle are DOM elements, so :data:`TABLE_CSS` and :data:`BUTTON_CSS`
style them with the same variables.
"""
from __future__ import annotations

from typing import Any

#: Styles for the trial table (a Bokeh DataTable): JupyterLab's colours, light defaults elsewhere.
TABLE_CSS = """
.slick-header-column, .slick-header, .slick-headerrow, .slick-pane-header {
  background: var(--jp-layout-color2, #f3f3f3) !important; color: var(--jp-ui-font-color1, #222) !important;
  border-color: var(--jp-border-color2, #ddd) !important; }
.slick-viewport, .grid-canvas, .slick-row, .slick-cell {
  background: var(--jp-layout-color1, #fff) !important; color: var(--jp-ui-font-color1, #222) !important;
  border-color: var(--jp-border-color3, #eee) !important; }
.slick-row.odd .slick-cell { background: var(--jp-layout-color2, #f8f8f8) !important; }
.slick-cell.selected, .slick-row.active .slick-cell.selected {
  background: var(--jp-brand-color3, #c7dcf5) !important; color: var(--jp-ui-font-color0, #000) !important; }
"""
#: Styles for the plots' buttons (the log-scale toggle), likewise.
BUTTON_CSS = """
.bk-btn { background: var(--jp-layout-color2, #fff) !important; color: var(--jp-ui-font-color1, #222) !important;
  border-color: var(--jp-border-color1, #ccc) !important; }
.bk-btn.bk-active { background: var(--jp-brand-color2, #bbdefb) !important; }
"""
_JS = """
const body = document.body;
function palette() {
  const css = getComputedStyle(body);
  const jp = body.dataset.jpThemeLight;
  const dark = jp !== undefined ? jp === "false"
    : !!(window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches);
  const v = (name, fallback) => (jp !== undefined && css.getPropertyValue(name).trim()) || fallback;
  return dark ? {bg: v("--jp-layout-color0", "#111111"), fg: v("--jp-ui-font-color1", "#e6e6e6"),
                 fg2: v("--jp-ui-font-color2", "#b0b0b0"), grid: v("--jp-border-color2", "#3a3a3a")}
              : {bg: v("--jp-layout-color0", "#ffffff"), fg: v("--jp-ui-font-color1", "#222222"),
                 fg2: v("--jp-ui-font-color2", "#555555"), grid: v("--jp-border-color2", "#e5e5e5")};
}
function set(model, attr, value) {
  if (model != null && model[attr] !== undefined && model[attr] !== value) model[attr] = value;
}
function apply() {
  const c = palette();
  for (const p of plots) {
    set(p, "background_fill_color", c.bg); set(p, "border_fill_color", c.bg); set(p, "outline_line_color", c.grid);
    if (p.title != null) set(p.title, "text_color", c.fg);
    for (const a of [...p.left, ...p.below, ...p.right, ...p.above]) {
      if (a.axis_label_text_color === undefined) continue;
      set(a, "axis_label_text_color", c.fg); set(a, "major_label_text_color", c.fg2);
      set(a, "axis_line_color", c.fg2); set(a, "major_tick_line_color", c.fg2); set(a, "minor_tick_line_color", c.fg2);
    }
    for (const r of p.center) {
      if (r.grid_line_color !== undefined) set(r, "grid_line_color", c.grid);
      if (r.label_text_color !== undefined) {
        set(r, "label_text_color", c.fg); set(r, "background_fill_color", c.bg); set(r, "border_line_color", c.grid);
      }
      if (r.name != null && String(r.name).startsWith("hpo-label")) set(r, "text_color", c.fg2);
    }
  }
  document.documentElement.dataset.hpoTheme = (c.bg === "#ffffff" || c.bg.startsWith("#f") || c.bg.startsWith("white"))
    ? "light" : "dark";
}
apply();
if (!cb_obj.__hpo_theme_watch) {
  cb_obj.__hpo_theme_watch = new MutationObserver(apply);
  cb_obj.__hpo_theme_watch.observe(body, {attributes: true,
                                          attributeFilter: ["data-jp-theme-light", "data-jp-theme-name"]});
  if (window.matchMedia) window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", apply);
}
"""


def follow_theme(plots: list[Any], trigger: Any) -> None:
    """Recolour ``plots`` with the page's theme, now and whenever it changes (see the module docstring).

    ``trigger`` is a figure that is visible when the layout first renders.
    """
    from bokeh.models import CustomJS

    trigger.js_on_change("inner_width", CustomJS(args={"plots": list(plots)}, code=_JS))


def table_stylesheet() -> Any:
    from bokeh.models import InlineStyleSheet

    return InlineStyleSheet(css=TABLE_CSS)


def button_stylesheet() -> Any:
    from bokeh.models import InlineStyleSheet

    return InlineStyleSheet(css=BUTTON_CSS)
