"""The study's Dask-dashboard page in headless Debian chromium, under a light and a dark browser scheme.

A real study (embedded LocalCluster) is published; the page is opened twice, with
Playwright's ``color_scheme="light"`` and ``"dark"``: the trial table's cells, the page
and the figures follow the browser's ``prefers-color-scheme`` (the table stayed white on a
dark browser). No JupyterLab is needed, so this test is light next to the quickstart's.
"""
from __future__ import annotations

import os

import pytest

from hpo_kit import Categorical, Real, Study
from hpo_kit.testing import quadratic
from hpo_kit.ui.dashboard import publish
from lab_helpers import CHROMIUM, CHROMIUM_ARGS, wait

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300),
              pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                 reason=f"{CHROMIUM} is absent: apt-get install -y chromium (CI installs it)")]

CELL_BACKGROUND_JS = "e => getComputedStyle(e).backgroundColor"
FIGURE_BACKGROUND_JS = """() => {
  const D = window.Bokeh && Bokeh.documents[0];
  const fig = D && D.get_model_by_name("hpo-fig-curves");
  return fig ? fig.background_fill_color : null;
}"""


def brightness(css: str) -> float:
    """Mean of the red, green and blue channels of ``rgb(...)`` / ``rgba(...)`` / ``#rrggbb`` (0..255)."""
    if css.startswith("#"):
        return sum(int(css[i:i + 2], 16) for i in (1, 3, 5)) / 3
    parts = css[css.index("(") + 1:css.index(")")].split(",")
    return sum(float(p) for p in parts[:3]) / 3


def test_dashboard_page_table_and_figures_follow_the_browsers_colour_scheme(tmp_path):
    from playwright.sync_api import sync_playwright

    study = Study(quadratic, {"x": Real(0.0, 1.0), "sleep": Categorical([0.3])}, n_trials=30, n_workers=2,
                  journal=tmp_path / "scheme.jsonl")
    study.start()
    try:
        url = publish(study).url
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                seen = {}
                for scheme in ("light", "dark"):
                    page = browser.new_context(color_scheme=scheme, viewport={"width": 1100, "height": 1400}).new_page()
                    page.goto(url)
                    cell = page.locator(".hpo-trial-table .slick-cell").first  # inside Bokeh's (open) shadow DOM
                    cell.wait_for(state="attached", timeout=60_000)
                    wait(lambda: page.evaluate(FIGURE_BACKGROUND_JS) not in (None, "#ffffff") or scheme == "light",
                         30, f"the figures to follow the {scheme} scheme")
                    seen[scheme] = {"cell": brightness(cell.evaluate(CELL_BACKGROUND_JS)),
                                    "body": brightness(page.evaluate("getComputedStyle(document.body).backgroundColor")),
                                    "figure": brightness(page.evaluate(FIGURE_BACKGROUND_JS) or "#ffffff")}
                    page.screenshot(path=str(tmp_path / f"dashboard-{scheme}.png"), full_page=True)
                    page.context.close()
            finally:
                browser.close()
        assert all(v > 200 for v in seen["light"].values()), seen
        assert all(v < 60 for v in seen["dark"].values()), seen  # table, page and figures alike
    finally:
        study.stop(wait=False)
        study.wait(60)
