"""Views of a study: a notebook control panel with live plots, and a Dask dashboard page.

Data first, render second: :mod:`.data`, :mod:`.status`, :mod:`.trials` (the trial table
and a trial's detail), :mod:`.importance` (parallel coordinates, fANOVA-style importance)
and :mod:`.controls` (what a control answers, which are off) turn journal records into
columns and values, :mod:`.timeline` the workers' steps with their warm-up apart, :mod:`.lineage` which
trial's weights seeded which (pure, tested without a browser); :mod:`.plots` / :mod:`.figures`
(Bokeh, themed by :mod:`.theme`) and :mod:`.panel` (ipywidgets) only draw them and call
the study's public API; :mod:`.live` redraws while the study runs; :mod:`.dashboard` and
:mod:`.page` serve the same view from the scheduler. :mod:`.poll` (with
:mod:`.shellpump`) keeps the panel answering while a cell blocks in ``study.wait()``; :mod:`.export`
writes the same figures to a standalone HTML file or a PNG (:func:`save`).
ipywidgets, Bokeh and jupyter_bokeh are imported only when a view is built.

>>> study.start()                      # doctest: +SKIP
>>> hpo_kit.ui.show(study)             # doctest: +SKIP
>>> study.wait()                       # doctest: +SKIP  (the panel still answers while it blocks)
"""
from __future__ import annotations

from typing import Any

__all__ = ["show", "publish", "save", "wait_until", "LiveView", "Feed"]


def show(study: Any, interval: float = 1.0, views: tuple[str, ...] | None = None, dashboard: bool = True) -> Any:
    """Live control panel and plots of ``study`` (see :func:`hpo_kit.ui.live.show`)."""
    from .live import show as _show

    return _show(study, interval=interval, views=views, dashboard=dashboard)


def publish(study: Any) -> Any:
    """Serve ``study`` on its scheduler's Dask dashboard; ``.url`` of the result is the page."""
    from .dashboard import publish as _publish

    return _publish(study)


def save(study_or_journal: Any, path: Any, views: tuple[str, ...] | None = None) -> str:
    """Write the study's plots as standalone HTML, or PNG for ``*.png`` (see :func:`hpo_kit.ui.export.save`)."""
    from .export import save as _save

    return _save(study_or_journal, path, views)


def wait_until(done: Any, timeout: float | None = None) -> bool:
    """Wait until ``done()`` is true; in a notebook the panel keeps answering meanwhile (see :mod:`.poll`)."""
    from .poll import wait_until as _wait_until

    return _wait_until(done, timeout)


def __getattr__(name: str) -> Any:
    if name == "LiveView":
        from .live import LiveView

        return LiveView
    if name == "Feed":
        from .feed import Feed

        return Feed
    raise AttributeError(name)
