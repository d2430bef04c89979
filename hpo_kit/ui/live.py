"""The notebook view of a running study: panel + live plots + trial table, redrawn by a background thread.

``hpo_kit.ui.show(study)`` builds a :class:`LiveView` and returns it. A daemon thread
takes a snapshot of the study's records every ``interval`` seconds and hands it to the
panel and the plots, so the figures move while the study runs in its own background
thread. Widget updates from a thread reach the browser through ipykernel's IOPub
thread; the plots are a ``jupyter_bokeh`` ``BokehModel`` widget, so a change to a Bokeh
source is sent as a small document patch. The thread stops after the study ends (one
last redraw) or on :meth:`LiveView.close`.

A ``BokehModel`` view renders the document as it was serialised, and drops the patches
that arrive before the browser has created it. Worse, jupyter_bokeh sends each patch in
several messages (header, metadata, content), and BokehJS's receiver, one per view, never
finds its place again once it starts in the middle of one: a view created between two of
them (the page opened or reloaded in the middle of a run: the browser asks for the
widgets' state, then builds the view while patches keep coming) reads every later patch
out of step and never redraws again. So the plot widget (:func:`_plot_widget`):

* sends no patch until a view has shown that it exists (the first message BokehJS sends
  back), and stops sending them again when a page asks for the widget's full state (a
  page opened or reloaded), until that page's view speaks (or :data:`HOLD_S` passed);
  the state it answers with is the document *now* (serialised afresh, under the lock), not
  as it was first shown;
* then sends the whole document once again (``render_bundle``, one message that every view
  re-renders from), so nothing changed meanwhile is lost (a change made once, like the
  timeline's worker labels), and once more at the end (a page reloaded later shows the
  final picture);
* sends each redraw's changes as one patch (all sources from one snapshot of the records),
  and serialises redraws, clicks from the browser and state requests with one lock, so no
  view sees half a redraw and no state is answered in the middle of a patch.

The sources' data are always replaced wholesale (``source.data = ...``, never ``stream`` or
``patch``), so a patch never depends on the rows a view had before it.
``tests/test_ui_views.py`` plays two BokehJS views (the receiver's protocol, the document
applied in Python), one opened in the middle of a run, and checks that both end in step.
From the browser the
kernel takes only what the view uses (a table row clicked, the log toggle), not BokehJS's
stream of computed ranges and sizes, so a click on the panel never queues behind them. A
click on a table row shows that trial's detail and highlights it; hyperparameter
importance is computed off this thread (:class:`~hpo_kit.ui.importance.ImportanceCache`).
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any

from .controls import ENDED
from .feed import Feed
from .importance import ImportanceCache
from .panel import ControlPanel
from .plots import StudyPlots, default_views, load_bokehjs
from .poll import prepare_kernel
from .trials import detail_html, trial_detail

#: Browser-side changes the kernel takes: a table row clicked, the log toggle. BokehJS also reports
#: every range it computes and every size it lays out (dozens a second); the kernel needs none of them.
SYNCED_FROM_BROWSER = frozenset({"indices", "active"})


HOLD_S = 5.0  # seconds patches wait for a page that asked for the state to show its view


def _plot_widget(layout: Any, lock: Any = None) -> Any:
    """A ``BokehModel`` that keeps every view in step (see the module docstring).

    It also ignores the browser's reports of computed ranges and sizes: each message from
    BokehJS costs the kernel tens of milliseconds (jupyter_bokeh builds a deserializer over
    the whole document); handling only what the view uses keeps a click on the panel from
    queueing behind seconds of them. ``lock`` guards the Bokeh document (a new one if None).
    """
    import collections
    import contextlib

    from bokeh.core.json_encoder import serialize_json
    from bokeh.protocol import Protocol
    from jupyter_bokeh.widgets import BokehModel

    from .plots import drop_computed_ranges

    class PlotWidget(BokehModel):
        def __init__(self, layout: Any) -> None:
            self.ready = threading.Event()  # a view exists in the browser (it has sent something)
            self.on_ready: Any = None
            self.lock = lock if lock is not None else threading.RLock()
            self.resync_due = False
            self.held_at: float | None = None  # when a page asked for the full state
            self._batch: list[Any] | None = None
            self._inbox: collections.deque = collections.deque()  # browser messages that found a redraw
            self._inbox_lock = threading.Lock()
            self._draining = False
            self._opened = False
            super().__init__(layout)
            self._opened = True

        def bundle(self) -> Any:
            """The document as it is now, for a view to render (computed ranges left out)."""
            with self.lock:
                bundle = self._model_to_traits(self._model)
                drop_computed_ranges(bundle["docs_json"])  # let every auto range follow its data again
                return bundle

        def get_state(self, key: Any = None, drop_defaults: bool = False) -> dict[str, Any]:
            with self.lock:
                state = super().get_state(key, drop_defaults)
                if key is None and self._opened:  # a page opened or reloaded asks for everything
                    self.ready.clear()  # no patch until its view speaks: it must not start inside one
                    self.held_at = time.monotonic()
                    state["render_bundle"] = serialize_json(self.bundle())
                return state

        def _document_patched(self, event: Any) -> None:
            if not self.ready.is_set():  # a view may be created between the parts of a patch
                return
            if self._batch is not None:
                self._batch.append(event)
            else:
                super()._document_patched(event)

        @contextlib.contextmanager
        def batch(self) -> Any:
            """Send the changes made in this block as one patch."""
            with self.lock:
                self._batch = []
                try:
                    yield
                finally:
                    events, self._batch = [e for e in self._batch if e.setter is not self], None
                    if events and self.ready.is_set():
                        msg = Protocol().create("PATCH-DOC", events)
                        for part in (msg.header_json, msg.metadata_json, msg.content_json):
                            self.send({"msg": "patch", "payload": part})
                        for buffer in msg.buffers:
                            self.send({"msg": "patch", "payload": json.dumps(buffer.ref)})
                            self.send({"msg": "patch"}, [buffer.to_bytes()])

        def update(self, change: Any) -> None:
            """Make ``change()`` (a redraw) under the lock, as one patch; then resend everything if due."""
            with self.lock:
                if self.held_at is not None and not self.ready.is_set() \
                        and time.monotonic() - self.held_at > HOLD_S:
                    self._speak()  # that page never showed its view: go on, everything resent
                with self.batch():
                    change()
                if self.resync_due:
                    self.resync()

        def resync(self) -> None:
            """Send the whole document to every view (one state message; each view re-renders)."""
            with self.lock:
                self.resync_due = False
                self.render_bundle = self.bundle()

        def _speak(self) -> None:
            self.held_at = None
            self.ready.set()
            self.resync_due = True
            if self.on_ready is not None:
                self.on_ready()

        def _sync_model(self, model: Any, content: dict[str, Any], buffers: list[Any]) -> None:
            # Called by the UI pump while a cell waits: it must never wait for a redraw, or a click on
            # Pause queues behind it. A message that finds the document busy is handled by a helper
            # thread once the redraw is done; later ones follow it there, so the order holds.
            with self._inbox_lock:
                if self._inbox or self._draining or not self.lock.acquire(blocking=False):
                    self._inbox.append((model, content, buffers))
                    if not self._draining:
                        self._draining = True
                        threading.Thread(target=self._drain, name="hpo-kit-plot-inbox", daemon=True).start()
                    return
            try:
                self._take(model, content, buffers)
            finally:
                self.lock.release()

        def _drain(self) -> None:
            while True:
                with self._inbox_lock:
                    if not self._inbox:
                        self._draining = False
                        return
                    item = self._inbox.popleft()
                with self.lock:
                    self._take(*item)

        def _take(self, model: Any, content: dict[str, Any], buffers: list[Any]) -> None:
            if not self.ready.is_set():
                self._speak()
            if content.get("kind") == "ModelChanged" and content.get("attr") not in SYNCED_FROM_BROWSER:
                return
            super()._sync_model(model, content, buffers)

    return PlotWidget(layout)


class LiveView:
    """Control panel, live Bokeh plots and the trial table of one study.

    Parameters
    ----------
    study
        The :class:`~hpo_kit.Study` (created or running).
    interval
        Seconds between redraws.
    views
        Figures to draw (see :data:`hpo_kit.ui.plots.VIEWS`); default: what suits the policy.
    dashboard
        Also publish the study to its scheduler's dashboard page (see :mod:`hpo_kit.ui.dashboard`).
    """

    def __init__(self, study: Any, interval: float = 1.0, views: tuple[str, ...] | None = None,
                 dashboard: bool = True) -> None:
        import ipywidgets as W

        try:
            import jupyter_bokeh.widgets  # noqa: F401
        except ImportError as exc:
            raise ImportError("hpo_kit.ui.show needs jupyter_bokeh for live plots: "
                              "pip install 'jupyter_bokeh>=4.0,<5'") from exc

        self.study, self.interval, self.dashboard = study, interval, dashboard
        prepare_kernel()  # clicks are handled while cells run (see hpo_kit.ui.poll)
        self.feed = Feed(study)
        self.panel = ControlPanel(study, records=self.feed.records)
        self.plots = StudyPlots(study.goal.metric, views or default_views(study.optimizer),
                                specs=study.space.to_dict())
        self.importance = ImportanceCache()
        self.publisher: Any = None
        self.redraws = 0
        self.selected: int | None = None
        self.workers_max: int | None = None
        self._lock = threading.RLock()  # the Bokeh document: redraws, clicks, state requests, re-serialisation
        self.plot_widget = _plot_widget(self.plots.layout, self._lock)
        self.plot_widget.add_class("hpo-plots")
        self.plots.sources["table"].selected.on_change("indices", self._on_select)
        self.widget = W.VBox([self.panel.widget, self.plot_widget, self.panel.detail])
        self.widget.add_class("hpo-view")
        self._stop = threading.Event()
        self.refresh()
        self._thread = threading.Thread(target=self._run, name=f"hpo-kit-view-{study.name}", daemon=True)
        self._thread.start()

    def refresh(self) -> None:
        """Redraw once from the current records (what the thread does every ``interval``)."""
        ended = self.study.state in ENDED
        if self.dashboard and self.publisher is None and self.study.client is not None and not ended:
            from .dashboard import Publisher

            try:
                self.publisher = Publisher(self.study, self.feed)
                self.panel.dashboard_url = self.publisher.url
            except Exception:  # noqa: BLE001 - the dashboard page is optional; the notebook view goes on
                self.dashboard = False
        records = self.feed.records()
        now = None if ended else time.time()
        try:
            state = self.study.optimizer.state()
        except Exception:  # noqa: BLE001 - a policy's live facts are optional
            state = {}
        workers = None if ended else self._workers()
        self.panel.refresh(records, now, workers, self.workers_max)
        importance = self.importance.get(records, self.plots.specs, block=ended)

        def change() -> None:
            self.plots.update(records, state, now, importance)
            self.plots.select(self.selected)

        self.plot_widget.update(change)  # one patch; everything again once a new view has spoken
        if self.selected is not None:
            self.panel.detail.value = detail_html(trial_detail(records, self.selected))
        self.redraws += 1

    def _workers(self) -> int | None:
        """Workers connected now (and the most seen), for the panel's lost-worker warning."""
        client = self.study.client
        try:
            n = len(client.nthreads()) if client is not None else None
        except Exception:  # noqa: BLE001 - a client that is closing
            return None
        if n is not None:
            self.workers_max = max(self.workers_max or 0, n)
        return n

    def _on_select(self, attr: str, old: Any, new: Any) -> None:
        """A row clicked in the browser's trial table: show that trial (the kernel's thread or the UI pump's)."""
        trials = list(self.plots.sources["table"].data.get("trial", []))
        rows = [i for i in (new or []) if 0 <= i < len(trials)]
        self.selected = trials[rows[0]] if rows else None
        self.panel.detail.value = detail_html(None if self.selected is None
                                              else trial_detail(self.feed.records(), self.selected))

    def resync(self) -> None:
        """Send the whole Bokeh document to the browser again (see the module docstring)."""
        self.plot_widget.resync()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            ended = self.study.state in ENDED
            try:
                self.refresh()
                if ended:
                    self.resync()  # the final picture, also for a page reloaded later
            except Exception as exc:  # noqa: BLE001 - keep the view alive; say what broke
                self.panel.message.value = f"<span style='color:#c00'>view refresh failed: {exc!r}</span>"
            if ended:
                self.importance.close()
                return

    def close(self) -> None:
        """Stop redrawing and listening; the widgets keep their last picture, drawn now.

        One last redraw after the thread stopped: a cell that closes the view right after
        ``study.wait()`` must not leave the panel saying "running" with *Pause* on, as it did
        when the thread had not yet seen the end.
        """
        self._stop.set()
        self._thread.join(timeout=2 * self.interval + 1)
        try:
            self.refresh()
            self.resync()  # the final picture, also for a page reloaded later
        except Exception as exc:  # noqa: BLE001 - closing must not fail; say what broke
            self.panel.message.value = f"<span style='color:#c00'>view refresh failed: {exc!r}</span>"
        if self.publisher is not None:
            self.publisher.close()
        self.importance.close()
        self.feed.close()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        self.resync()
        display(self.widget)


def show(study: Any, interval: float = 1.0, views: tuple[str, ...] | None = None,
         dashboard: bool = True) -> LiveView:
    """Display a live control panel and plots for ``study`` in a notebook; returns the view.

    Loads BokehJS into the page from the installed bokeh (no internet needed), then
    builds a :class:`LiveView`. Display the returned view (last expression of a cell).
    """
    load_bokehjs()
    return LiveView(study, interval=interval, views=views, dashboard=dashboard)
