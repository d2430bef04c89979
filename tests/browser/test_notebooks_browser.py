"""Notebooks 03-07 run in a real browser (*Run All*, after the kernel is ready): each ends as it should.

Each notebook's own last cell asserts on its study; here the page must then show every
panel "finished" with its controls off (notebook 03 closed its views before their last
redraw and left the ASHA panel "running" with *Pause* on) and no traceback in any cell's
output (workers shutting down printed ~30-line ``CommClosedError`` tracebacks at the end of
notebooks 01 and 03). Notebook 06 has no panel, only the Dask dashboard page, which its
cells check. Notebooks 01 and 02 have their own browser tests, which end with the same checks.
"""
from __future__ import annotations

import os

import pytest

from lab_helpers import CHROMIUM, CHROMIUM_ARGS, assert_panels_ended, jupyter_lab, notebook_cells, open_notebook, run_all

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900),
              pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                 reason=f"{CHROMIUM} is absent: apt-get install -y chromium (CI installs it)")]

DONE = {"03_asha_vs_sha.ipynb": "ASHA vs SHA: all checks passed", "04_hypersearch.ipynb": "Hypersearch: all checks passed",
        "05_diagnosis.ipynb": "diagnosis: all checks passed", "06_remote_cluster.ipynb": "remote cluster: all checks passed",
        "07_features.ipynb": "features: all checks passed"}
ENDED = {"07_features.ipynb": "stopped"}  # its study ends by a stop rule


@pytest.mark.parametrize("name", sorted(DONE))
def test_a_notebook_ends_with_its_panels_finished_and_no_traceback(name, tmp_path):
    from playwright.sync_api import sync_playwright

    with jupyter_lab(tmp_path, [name]) as (base, nbdir), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_context(viewport={"width": 1280, "height": 1600}).new_page()
        try:
            open_notebook(page, base, name)
            run_all(page, notebook_cells(nbdir, name))
            page.locator(".jp-OutputArea-output", has_text=DONE[name]).wait_for(timeout=600_000)
            assert_panels_ended(page, ENDED.get(name, "finished"))
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            print(f"browser state at the failure: {tmp_path / 'failure.png'}; load {os.getloadavg()}")
            raise
        finally:
            browser.close()
