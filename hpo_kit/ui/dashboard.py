"""A study page on the Dask dashboard, served by the scheduler itself.

Two halves, joined by Dask's event log:

* Driver side, :class:`Publisher`: every journal record of the study (from its
  :class:`~hpo_kit.ui.feed.Feed`) is batched and sent to the scheduler with
  ``client.log_event("hpo-kit-ui", ...)`` every ``interval`` seconds, off the study's
  loop thread. (The workers' own report events already reach the scheduler under
  ``hpo-kit-<runner id>``, but trial ends, flags and controls happen on the driver, so
  the page reads the journal records, the one complete story.)
* Scheduler side, :class:`StudyBoard`: a ``SchedulerPlugin`` whose ``log_event`` hook
  keeps each study's records, and which adds three routes to the scheduler's HTTP
  server (the one that serves the dashboard): ``/hpo-kit/`` (the studies),
  ``/hpo-kit/<study>`` (the page: header, figures, trial table) and
  ``/hpo-kit/<study>/data.json`` (what the page polls to redraw itself).

The page draws with the same functions as the notebook (:func:`hpo_kit.ui.plots.view_data`,
:class:`~hpo_kit.ui.plots.StudyPlots`, :mod:`hpo_kit.ui.status`). BokehJS is inlined
from the installed package (no internet), once per page load; updates are JSON.
The scheduler needs hpo_kit importable (the same environment as the driver).
"""
from __future__ import annotations

import html
import json
import math
import threading
import time
import urllib.parse
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

from . import plots as P
from . import status as S
from .feed import Feed

TOPIC = "hpo-kit-ui"
ROUTE = "/hpo-kit"
PLUGIN_NAME = "hpo-kit-board"


def page_url(client: Any, study_name: str) -> str:
    """The study's page on the dashboard of ``client``'s scheduler."""
    link = client.dashboard_link or ""
    base = link[: -len("/status")] if link.endswith("/status") else link.rstrip("/")
    return f"{base}{ROUTE}/{urllib.parse.quote(study_name)}"


def _strict(value: Any) -> Any:
    """JSON for browsers: NaN and infinities become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def page_data(records: list[dict[str, Any]], now: float | None = None) -> dict[str, Any]:
    """What the page shows, as strict JSON-able data: summary, header and table HTML, figure columns."""
    now = time.time() if now is None else now
    s = S.summary(records, now)
    view = P.view_data(records, None, now)
    return _strict({"summary": s, "header": S.header_html(s), "table": S.table_html(S.trial_rows(records)[:50],
                                                                                    s["metric"]), **view})


_SCRIPT = """
<script>
(function() {
  const url = %(url)s;
  async function tick() {
    try {
      const r = await fetch(url, {cache: "no-store"});
      const d = await r.json();
      document.getElementById("hpo-header").innerHTML = d.header;
      document.getElementById("hpo-table").innerHTML = d.table;
      const doc = window.Bokeh && Bokeh.documents[0];
      if (doc) {
        for (const [name, cols] of Object.entries(d.sources)) {
          const src = doc.get_model_by_name("hpo-" + name);
          if (src) src.data = cols;
        }
        const ticks = doc.get_model_by_name("hpo-worker-ticks");
        if (ticks) ticks.ticks = d.workers.map((_, i) => i);
        const axis = doc.get_model_by_name("hpo-worker-axis");
        if (axis) axis.major_label_overrides = new Map(d.workers.map((w, i) => [i, w]));
      }
    } catch (e) { console.log("hpo-kit page update failed", e); }
    setTimeout(tick, %(ms)d);
  }
  setTimeout(tick, %(ms)d);
})();
</script>
"""


def render_page(name: str, records: list[dict[str, Any]], refresh_s: float = 2.0) -> str:
    """The full HTML page of one study (figures embedded with inline BokehJS)."""
    from bokeh.embed import components
    from bokeh.resources import Resources

    data = page_data(records)
    plots = P.StudyPlots(data["summary"]["metric"], views=P.views_for(records))
    plots.update(records)
    script, div = components(plots.layout)
    url = json.dumps(f"{ROUTE}/{urllib.parse.quote(name)}/data.json")
    bokehjs = Resources(mode="inline", components=["bokeh"]).render()
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>hpo_kit: {html.escape(name)}</title>"
            f"{bokehjs}</head><body style='font-family:sans-serif;margin:12px'>"
            f"<p><a href='{ROUTE}/'>hpo_kit studies</a> · <a href='/status'>Dask dashboard</a></p>"
            f"<div id='hpo-header'>{data['header']}</div>{div}<div id='hpo-table'>{data['table']}</div>"
            f"{script}{_SCRIPT % {'url': url, 'ms': int(refresh_s * 1000)}}</body></html>")


class StudyBoard(SchedulerPlugin):
    """Scheduler plugin: keeps published studies' records and serves their pages.

    Registered once per scheduler by :class:`Publisher` (idempotent).
    """

    idempotent = True
    name = PLUGIN_NAME

    def __init__(self) -> None:
        self.studies: dict[str, list[dict[str, Any]]] = {}

    def start(self, scheduler: Any) -> None:
        from tornado import web

        board = self

        class Base(web.RequestHandler):
            def set_default_headers(self) -> None:
                self.set_header("Cache-Control", "no-store")

            def records(self, name: str) -> list[dict[str, Any]]:
                name = urllib.parse.unquote(name)
                if name not in board.studies:
                    raise web.HTTPError(404, f"no study {name!r} published here")
                return board.studies[name]

        class Index(Base):
            def get(self) -> None:
                items = "".join(f"<li><a href='{ROUTE}/{urllib.parse.quote(n)}'>{html.escape(n)}</a>: "
                                f"{S.header_html(S.summary(r))}</li>" for n, r in board.studies.items())
                self.write(f"<html><body><h3>hpo_kit studies</h3><ul>{items or 'none yet'}</ul></body></html>")

        class Page(Base):
            def get(self, name: str) -> None:
                self.write(render_page(urllib.parse.unquote(name), self.records(name)))

        class Data(Base):
            def get(self, name: str) -> None:
                self.set_header("Content-Type", "application/json")
                self.write(json.dumps(page_data(self.records(name))))

        scheduler.http_application.add_handlers(r".*", [
            (rf"{ROUTE}/?", Index), (rf"{ROUTE}/([^/]+)/data.json", Data), (rf"{ROUTE}/([^/]+)/?", Page)])

    def log_event(self, topic: str, msg: Any) -> None:
        if topic == TOPIC and isinstance(msg, dict) and "study" in msg:
            self.studies.setdefault(msg["study"], []).extend(json.loads(msg["records"]))


class Publisher:
    """Sends a study's journal records to the scheduler's :class:`StudyBoard`.

    Parameters
    ----------
    study
        A started :class:`~hpo_kit.Study` (it needs ``study.client``).
    feed
        The study's feed (one is made if not given).
    interval
        Seconds between batches.
    """

    def __init__(self, study: Any, feed: Feed | None = None, interval: float = 0.5) -> None:
        if study.client is None:
            raise RuntimeError("publish: the study has no client yet; call study.start() first")
        self.study, self.client, self.interval = study, study.client, interval
        self.feed = feed or Feed(study)
        self.url = page_url(self.client, study.name)
        self.client.register_plugin(StudyBoard(), name=PLUGIN_NAME)
        self._lock = threading.Lock()
        self._pending: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._add(self.feed.subscribe(self._add))
        self.flush()  # the page exists once this returns
        self._thread = threading.Thread(target=self._run, name=f"hpo-kit-publish-{study.name}", daemon=True)
        self._thread.start()

    def _add(self, records: list[dict[str, Any]]) -> None:
        with self._lock:
            self._pending.extend(records)

    def flush(self) -> int:
        """Send what is pending now; returns the number of records sent."""
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            slim = [{k: v for k, v in r.items() if k != "traceback"} for r in batch]
            self.client.log_event(TOPIC, {"study": self.study.name, "records": json.dumps(slim, default=str)})
        return len(batch)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the cluster went away (the study closed it): stop quietly
                return
            if self.study.state in ("finished", "stopped") and not self._pending:
                return

    def close(self) -> None:
        """Stop publishing (what was sent stays on the page)."""
        self._stop.set()
        self._thread.join(timeout=2)


def publish(study: Any, feed: Feed | None = None) -> Publisher:
    """Show ``study`` on its scheduler's dashboard; returns the publisher (``.url`` is the page)."""
    return Publisher(study, feed)
