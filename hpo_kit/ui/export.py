"""A study's plots as a file: standalone HTML (BokehJS inline, opens offline) or a PNG image.

``hpo_kit.ui.save(study_or_journal, "report.html")`` draws the panel's figures (learning curves,
best so far, the workers' timeline, rungs / lineage / cost where the policy has them, parallel
coordinates, importance, slices and the trial table: :class:`~hpo_kit.ui.plots.StudyPlots`) from
the journal, as the dashboard page does, and writes them with :func:`bokeh.embed.file_html`.

PNG: Bokeh's :func:`bokeh.io.export_png` needs selenium and a browser driver. Where selenium is
absent, the same HTML is opened in headless Chromium through Playwright (the package this
project's browser tests use) and screenshotted. Where neither is installed, a clear
``RuntimeError`` names what to install; nothing is written.
"""
from __future__ import annotations

import html
import importlib.util
import os
import shutil
import tempfile
import threading
from typing import Any

#: Where Playwright looks for a Chromium when its own download is absent (Debian's package).
SYSTEM_CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
#: Seconds to wait for BokehJS to draw before the screenshot.
RENDER_TIMEOUT = 30.0


def records_of(study_or_journal: Any) -> list[dict[str, Any]]:
    """The journal records of a :class:`~hpo_kit.Study` (its journal file) or of a journal path."""
    from ..engine.journal import read_journal

    path = getattr(study_or_journal, "journal_path", study_or_journal)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"save: {study_or_journal!r} is neither a Study nor a journal path")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"save: no journal at {os.fspath(path)!r} (has the study run?)")
    return list(read_journal(path))


def page_html(records: list[dict[str, Any]], views: tuple[str, ...] | None = None) -> str:
    """The standalone HTML of the study's figures (BokehJS inline)."""
    from bokeh.embed import file_html
    from bokeh.layouts import column
    from bokeh.models import Div
    from bokeh.resources import INLINE

    from . import plots as P
    from .importance import importance
    from .status import header_html, summary
    from .trials import param_specs

    specs = param_specs(records)
    name = str(next((r.get("name") for r in records if r.get("event") == "study_start"), None) or "study")
    try:
        weights = importance(records, specs)
    except Exception:  # noqa: BLE001 - too few trials or sklearn missing: the figure stays empty
        weights = None
    plots = P.StudyPlots(summary(records)["metric"], views=views or P.views_for(records), specs=specs)
    plots.update(records, importance=weights)
    header = Div(text=f"<h3>hpo_kit: {html.escape(name)}</h3>{header_html(summary(records))}")
    return file_html(column(header, plots.layout), INLINE, title=f"hpo_kit: {name}")


def save(study_or_journal: Any, path: str | os.PathLike, views: tuple[str, ...] | None = None) -> str:
    """Write the study's plots to ``path``: standalone HTML, or a PNG image if it ends in ``.png``.

    Parameters
    ----------
    study_or_journal
        A :class:`~hpo_kit.Study` (running or ended) or the path of a journal.
    path
        ``*.html`` (or any other name): HTML; ``*.png``: an image of the same page.
    views
        Which figures (:data:`hpo_kit.ui.plots.VIEWS`; default: those that fit the study).

    Returns
    -------
    str
        The path written.

    Raises
    ------
    RuntimeError
        For a PNG where neither selenium (Bokeh's way) nor Playwright with Chromium is installed.
    """
    path = os.fspath(path)
    png = path.lower().endswith(".png")
    if png:
        browser = _png_route()  # said before any work, and nothing is written
    page = page_html(records_of(study_or_journal), views)
    if not png:
        with open(path, "w", encoding="utf-8") as f:
            f.write(page)
        return path
    _screenshot(page, path, browser)
    return path


def _png_route() -> str | None:
    """The Chromium for Playwright (``None``: its own download), checked up front."""
    if importlib.util.find_spec("playwright") is None:
        selenium = importlib.util.find_spec("selenium") is not None
        raise RuntimeError("save: a PNG needs a headless browser: pip install playwright && playwright install "
                           "chromium" + ("" if selenium else " (or selenium with a browser driver, for "
                                                               "bokeh.io.export_png)") + "; or save as .html")
    browser = next((shutil.which(b) for b in SYSTEM_CHROMIUM if shutil.which(b)), None)
    return browser


def _screenshot(page: str, path: str, browser: str | None) -> None:
    # Playwright's sync API refuses to run inside an asyncio loop (a notebook's): give it a thread.
    error: list[BaseException] = []

    def shoot() -> None:
        from playwright.sync_api import sync_playwright

        with tempfile.TemporaryDirectory() as tmp:
            page_path = os.path.join(tmp, "plots.html")
            with open(page_path, "w", encoding="utf-8") as f:
                f.write(page)
            try:
                with sync_playwright() as pw:
                    b = pw.chromium.launch(executable_path=browser, headless=True,
                                           args=["--no-sandbox", "--disable-gpu"])
                    try:
                        tab = b.new_page(viewport={"width": 900, "height": 700})
                        tab.goto(f"file://{page_path}")
                        tab.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0",
                                              timeout=RENDER_TIMEOUT * 1000)
                        tab.wait_for_load_state("networkidle")
                        tab.screenshot(path=path, full_page=True)
                    finally:
                        b.close()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                error.append(exc)

    t = threading.Thread(target=shoot, name="hpo-kit-png", daemon=True)
    t.start()
    t.join()
    if error:
        raise RuntimeError(f"save: the PNG could not be made ({type(error[0]).__name__}: {error[0]}); "
                           f"Chromium for Playwright: `playwright install chromium` or apt-get install "
                           f"chromium") from error[0]
