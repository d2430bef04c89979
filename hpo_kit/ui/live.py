"""The notebook view of a running study: panel + live plots, redrawn by a background thread.

``hpo_kit.ui.show(study)`` builds a :class:`LiveView` and returns its widget. A daemon
thread takes a snapshot of the study's records every ``interval`` seconds and hands it
to the panel and the plots, so the figures move while the study runs in its own
background thread and the kernel stays free for other cells. Widget updates from a
thread reach the browser through ipykernel's IOPub thread; the plots are a
``jupyter_bokeh`` ``BokehModel`` widget, so a change to a Bokeh source is sent as a
small document patch. The thread stops after the study ends (one last redraw) or on
:meth:`LiveView.close`.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from .feed import Feed
from .panel import ControlPanel
from .plots import StudyPlots, default_views, load_bokehjs

_ENDED = ("finished", "stopped")


class LiveView:
    """Control panel and live Bokeh plots of one study.

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
            from jupyter_bokeh.widgets import BokehModel
        except ImportError as exc:
            raise ImportError("hpo_kit.ui.show needs jupyter_bokeh for live plots: "
                              "pip install 'jupyter_bokeh>=4.0,<5'") from exc

        self.study, self.interval, self.dashboard = study, interval, dashboard
        self.feed = Feed(study)
        self.panel = ControlPanel(study)
        self.plots = StudyPlots(study.goal.metric, views or default_views(study.optimizer))
        self.publisher: Any = None
        self.redraws = 0
        self.plot_widget = BokehModel(self.plots.layout)
        self.plot_widget.add_class("hpo-plots")
        self.widget = W.VBox([self.panel.widget, self.plot_widget])
        self._stop = threading.Event()
        self.refresh()
        self._thread = threading.Thread(target=self._run, name=f"hpo-kit-view-{study.name}", daemon=True)
        self._thread.start()

    def refresh(self) -> None:
        """Redraw once from the current records (what the thread does every ``interval``)."""
        if self.dashboard and self.publisher is None and self.study.client is not None \
                and self.study.state not in _ENDED:
            from .dashboard import Publisher

            try:
                self.publisher = Publisher(self.study, self.feed)
                self.panel.dashboard_url = self.publisher.url
            except Exception:  # noqa: BLE001 - the dashboard page is optional; the notebook view goes on
                self.dashboard = False
        records = self.feed.records()
        now = time.time() if self.study.state not in _ENDED else None
        try:
            state = self.study.optimizer.state()
        except Exception:  # noqa: BLE001 - a policy's live facts are optional
            state = {}
        self.panel.refresh(records, now)
        self.plots.update(records, state, now)
        self.redraws += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            ended = self.study.state in _ENDED
            try:
                self.refresh()
            except Exception as exc:  # noqa: BLE001 - keep the view alive; say what broke
                self.panel.message.value = f"<span style='color:#c00'>view refresh failed: {exc!r}</span>"
            if ended:
                return

    def close(self) -> None:
        """Stop redrawing and listening (the widgets keep their last picture)."""
        self._stop.set()
        self._thread.join(timeout=2 * self.interval + 1)
        if self.publisher is not None:
            self.publisher.close()
        self.feed.close()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def show(study: Any, interval: float = 1.0, views: tuple[str, ...] | None = None,
         dashboard: bool = True) -> LiveView:
    """Display a live control panel and plots for ``study`` in a notebook; returns the view.

    Loads BokehJS into the page from the installed bokeh (no internet needed), then
    builds a :class:`LiveView`. Display the returned view (last expression of a cell).
    """
    load_bokehjs()
    return LiveView(study, interval=interval, views=views, dashboard=dashboard)
