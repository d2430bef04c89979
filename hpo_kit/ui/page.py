"""The study's page on the Dask dashboard: its data (JSON) and its HTML, pure of any server.

:func:`page_data` is what the page shows, as strict JSON (NaN becomes ``null``), from the
study's journal records; :func:`render_page` the whole page (inline BokehJS, the same
figures and trial table as the notebook, :class:`~hpo_kit.ui.plots.StudyPlots` with
``page=True``). The page polls ``data.json`` every second, read-only. It says so when the
study went quiet (``silent_s``: no record nor heartbeat from the study's process for
:data:`QUIET_S`) or when the dashboard itself is gone (the scheduler of an embedded
cluster closes with the study), keeping the last picture it had.

The page follows the browser's light or dark scheme (``prefers-color-scheme``): it defines
JupyterLab's ``--jp-*`` colour variables (:data:`PAGE_COLOURS`), which the trial table's
and the buttons' styles read (custom properties reach into Bokeh's shadow DOM), and the
figures recolour themselves from the same media query (:mod:`hpo_kit.ui.theme`).
"""
from __future__ import annotations

import html
import json
import math
import time
import urllib.parse
from typing import Any

from . import plots as P
from . import status as S
from .controls import ENDED

ROUTE = "/hpo-kit"
QUIET_S = 10.0  # seconds without news from a live study before the page says it is disconnected
REFRESH_S = 1.0


def strict(value: Any) -> Any:
    """JSON for browsers: NaN and infinities become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def page_data(records: list[dict[str, Any]], now: float | None = None, importance: dict | None = None,
              silent_s: float | None = None, notice: str = "") -> dict[str, Any]:
    """What the page shows: summary, header, figure columns and ranges, and the connection's state.

    An ended study's clock stops at its ``study_end`` record (not at ``now``). ``notice`` (HTML)
    ends the header line (the dashboard's word on refused records).
    """
    state = S.study_state(records)
    ended = state in ENDED
    if ended:
        now = next(r["t"] for r in reversed(records) if r.get("event") == "study_end")
    now = time.time() if now is None else now
    s = S.summary(records, now)
    view = P.view_data(records, None, now, importance=importance)
    quiet = not ended and silent_s is not None and silent_s > QUIET_S
    return strict({"summary": s, "header": S.header_html(s) + notice, "n_records": len(records), "ended": ended,
                   "silent_s": silent_s, "disconnected": quiet, **view})


_SCRIPT = """
<script>
(function() {
  const url = %(url)s;
  let n = -1, selected = null;
  const conn = document.getElementById("hpo-conn");
  function say(text, cls) { conn.textContent = text; conn.className = cls; }
  function doc() { return window.Bokeh && Bokeh.documents[0]; }
  function apply(d) {
    document.getElementById("hpo-header").innerHTML = d.header;
    const D = doc();
    if (!D) return;
    const table = D.get_model_by_name("hpo-table");  // the trial table's source
    const rows = table ? table.selected.indices : [];
    if (rows.length) selected = table.data.trial[rows[0]];
    for (const [name, cols] of Object.entries(d.sources)) {
      const src = D.get_model_by_name("hpo-" + name);
      if (src) src.data = cols;
    }
    for (const [name, r] of Object.entries(d.ranges)) {
      const rng = D.get_model_by_name(name);
      if (rng && r && (rng.start !== r[0] || rng.end !== r[1])) { rng.start = r[0]; rng.end = r[1]; }
    }
    const ticks = D.get_model_by_name("hpo-worker-ticks");
    if (ticks) ticks.ticks = d.workers.map((_, i) => i);
    const axis = D.get_model_by_name("hpo-worker-axis");
    if (axis) axis.major_label_overrides = new Map(d.workers.map((w, i) => [i, w]));
    if (table && selected !== null) {
      const k = Array.from(table.data.trial).indexOf(selected);
      table.selected.indices = k >= 0 ? [k] : [];
    }
  }
  async function tick() {
    let d = null;
    try {
      const stop = new AbortController();  // a dead loop can leave a connection open: give up after 5 s
      const timer = setTimeout(() => stop.abort(), 5000);
      const r = await fetch(url + "?n=" + n, {cache: "no-store", signal: stop.signal});
      if (!r.ok) throw new Error("HTTP " + r.status);
      d = await r.json();
      clearTimeout(timer);
    } catch (e) {
      say("disconnected: the dashboard does not answer (an embedded cluster closes with its study); " +
          "the last picture received is shown.", "hpo-conn-disconnected");
    }
    if (d !== null) {
      try {
        if (!d.unchanged) { apply(d); n = d.n_records; }
      } catch (e) { console.log("hpo-kit page update failed", e); }
      if (d.ended) say("finished: this is the study's final state", "hpo-conn-ended");
      else if (d.disconnected) say("disconnected: no word from the study for " + Math.round(d.silent_s) +
                                   " s (its kernel or client is gone?); the last picture it sent is shown.",
                                   "hpo-conn-disconnected");
      else say("live", "hpo-conn-live");
    }
    setTimeout(tick, %(ms)d);
  }
  tick();
})();
</script>
"""

#: JupyterLab's colour variables, light by default and dark under the browser's dark scheme: the trial
#: table's and the buttons' styles (:mod:`hpo_kit.ui.theme`) read them, in the page as in JupyterLab.
PAGE_COLOURS = {
    "light": {"layout-color0": "#ffffff", "layout-color1": "#ffffff", "layout-color2": "#f3f3f3",
              "ui-font-color0": "#000000", "ui-font-color1": "#222222", "ui-font-color2": "#555555",
              "border-color1": "#cccccc", "border-color2": "#dddddd", "border-color3": "#eeeeee",
              "brand-color2": "#bbdefb", "brand-color3": "#c7dcf5"},
    "dark": {"layout-color0": "#111111", "layout-color1": "#1a1a1a", "layout-color2": "#262626",
             "ui-font-color0": "#ffffff", "ui-font-color1": "#e6e6e6", "ui-font-color2": "#b0b0b0",
             "border-color1": "#555555", "border-color2": "#3a3a3a", "border-color3": "#2a2a2a",
             "brand-color2": "#1e4e79", "brand-color3": "#264a6e"}}


def _variables(scheme: str) -> str:
    return " ".join(f"--jp-{k}: {v};" for k, v in PAGE_COLOURS[scheme].items())


_STYLE = f"""<meta name='color-scheme' content='light dark'><style>
:root {{ color-scheme: light dark; {_variables("light")} }}
@media (prefers-color-scheme: dark) {{ :root {{ {_variables("dark")} }}
  a {{ color: #8ab4f8; }}
  .hpo-conn-live {{ background: #1b3a1f !important; }}
  .hpo-conn-disconnected {{ background: #4a1c1c !important; color: #ffb4ab !important; }} }}
body {{ font-family: sans-serif; margin: 12px; background: var(--jp-layout-color0); color: var(--jp-ui-font-color1); }}
#hpo-conn {{ display: inline-block; padding: 2px 6px; border-radius: 3px; font-size: 12px; }}
.hpo-conn-live {{ background: #e8f5e9; }} .hpo-conn-disconnected {{ background: #fdecea; color: #b71c1c; }}
.hpo-detail {{ font-size: 12px; }}
</style>"""


def render_page(name: str, records: list[dict[str, Any]], refresh_s: float = REFRESH_S) -> str:
    """The full HTML page of one study (figures embedded with inline BokehJS)."""
    from bokeh.embed import components
    from bokeh.resources import Resources

    from .trials import param_specs

    data = page_data(records)
    plots = P.StudyPlots(data["summary"]["metric"], views=P.views_for(records), specs=param_specs(records),
                         page=True)
    plots.update(records, now=None if data["ended"] else time.time())
    script, div = components(plots.layout)
    url = json.dumps(f"{ROUTE}/{urllib.parse.quote(name)}/data.json")
    bokehjs = Resources(mode="inline", components=["bokeh", "bokeh-widgets", "bokeh-tables"]).render()
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>hpo_kit: {html.escape(name)}</title>"
            f"{bokehjs}{_STYLE}</head><body>"
            f"<p><a href='{ROUTE}/'>hpo_kit studies</a> · <a href='/status'>Dask dashboard</a> · "
            f"<span id='hpo-conn' class='hpo-conn-live'></span> · read-only</p>"
            f"<div id='hpo-header'>{data['header']}</div>{div}"
            f"{script}{_SCRIPT % {'url': url, 'ms': int(refresh_s * 1000)}}</body></html>")


def index_page(studies: dict[str, list[dict[str, Any]]], notes: dict[str, str] | None = None) -> str:
    """The list of published studies, each with its header line (and its note, ``notes[name]``, if any).

    Each line is drawn on its own: a study whose records cannot be summarised shows an error
    line, and the others their headers (one publisher's records never break the list).
    """
    notes = notes or {}
    items = "".join(f"<li><a href='{ROUTE}/{urllib.parse.quote(n)}'>{html.escape(n)}</a>: {_header_line(r)}"
                    f"{' · ' + html.escape(notes[n]) if notes.get(n) else ''}</li>" for n, r in studies.items())
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>hpo_kit studies</title>{_STYLE}</head>"
            f"<body><p><a href='/status'>Dask dashboard</a></p><h3>hpo_kit studies</h3>"
            f"<ul>{items or 'none yet'}</ul></body></html>")


def _header_line(records: list[dict[str, Any]]) -> str:
    try:
        return S.header_html(S.summary(records))
    except Exception as exc:  # noqa: BLE001 - this study's records, not the page, are at fault
        return f"<i>this study cannot be shown ({html.escape(type(exc).__name__)}: {html.escape(str(exc)[:200])})</i>"
