"""Notebook 02 in a real browser: the panel refuses a negative b and says why; the study completes.

*Run All* on ``notebooks/02_time_aware_bo.ipynb``; once the panel shows, its *b* box holds
the current value (0.3) and the *switch after* boxes are empty. The test types ``-1``,
presses *Apply b* while a cell blocks (the notebook waits with ``hpo_kit.ui.wait_until``
and ``study.wait()``): the panel says *refused* with the study's reason, nothing is
journalled, the box goes back to the value in force, and the notebook's own checks
(both tunes from Python, the switch) pass; then the panel says "finished", its controls are off and
no cell output shows a traceback.
"""
from __future__ import annotations

import os

import pytest

from lab_helpers import (CHROMIUM, CHROMIUM_ARGS, assert_panels_ended, controls, jupyter_lab, notebook_cells,
                         open_notebook, run_all, wait)

NOTEBOOK = "02_time_aware_bo.ipynb"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600),
              pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                 reason=f"{CHROMIUM} is absent: apt-get install -y chromium (CI installs it)")]


@pytest.fixture
def lab(tmp_path):
    with jupyter_lab(tmp_path, [NOTEBOOK]) as served:
        yield served


def test_a_negative_b_is_refused_in_the_panel_and_the_study_completes(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    base, nbdir = lab
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_context(viewport={"width": 1280, "height": 1400}).new_page()
        try:
            open_notebook(page, base, NOTEBOOK)
            run_all(page, notebook_cells(nbdir, NOTEBOOK))
            b_box = page.locator(".hpo-b-input input")
            b_box.wait_for(state="visible", timeout=180_000)
            wait(lambda: b_box.is_enabled(), 60, "the b input to be enabled")
            assert b_box.input_value() in ("0.3", "0.05")  # the value in force (0.05 once the notebook tuned it)
            assert page.locator(".hpo-switch-trials-input input").input_value() == ""
            assert page.locator(".hpo-switch-seconds-input input").input_value() == ""
            b_box.fill("-1")
            page.locator("button.hpo-b").click()
            message = page.locator(".hpo-message")
            wait(lambda: "refused" in message.inner_text(), 10, "the refusal")
            assert "b" in message.inner_text() and "-1" in message.inner_text(), message.inner_text()
            wait(lambda: b_box.input_value() in ("0.3", "0.05"), 10, "the box back at the value in force")
            assert all(r["value"] != {"b": -1.0} for r in controls(nbdir, "tune"))
            page.locator(".jp-OutputArea-output", has_text="time-aware BO: all checks passed").wait_for(timeout=400_000)
            assert_panels_ended(page)
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            print(f"browser state at the failure: {tmp_path / 'failure.png'}")
            raise
        finally:
            browser.close()
