"""The quickstart in a real browser: JupyterLab on 127.0.0.1 driven through Debian's chromium by Playwright.

*Run All* on ``notebooks/01_quickstart.ipynb`` (a temporary copy), then, while the kernel
sits in ``study.wait()``:

* the panel and a Bokeh plot render and grow;
* **Pause** clicked while the cell waits is journalled within 2 s of the button's press, and no trial
  starts for 5 s;
* a trial clicked in the table shows its configuration;
* screenshots of the panel in JupyterLab's light and dark themes (the plots follow the theme);
* the study's page on the Dask dashboard is in the dashboard's *More...* menu (screenshot);
* **Resume**, then *Kernel -> Interrupt* during ``study.wait()``: the study is paused, the same worker
  processes are alive; **Resume** and the rest of the notebook run; the study completes (the
  notebook's last cell asserts on it) with no step lost, and the open dashboard page shows
  ``finished`` within 5 s of the end, then says it is disconnected;
* the interrupt shows one line, not the wait's frames; at the end the panel says "finished", its
  controls are off and no cell output shows a traceback.

Screenshots go to a temporary folder (``$HPO_SCREENSHOTS`` when ``screenshots.py`` sets it).
Needs ``/usr/bin/chromium`` (``apt-get install -y chromium``) and ``playwright`` (pip); no
browser is ever downloaded. Skips, saying why, only when chromium is absent.
"""
from __future__ import annotations

import os
import time

import psutil
import pytest

from lab_helpers import (CHROMIUM, CHROMIUM_ARGS, CURVE_POINTS_JS, PLOT_BACKGROUND_JS, assert_panels_ended,
                         cell_index, controls, journal_records, jupyter_lab, menu, notebook_cells, open_notebook,
                         prompt, run_all, run_cells, screenshot_dir, wait)

NOTEBOOK = "01_quickstart.ipynb"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600),
              pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                 reason=f"{CHROMIUM} is absent: apt-get install -y chromium (CI installs it)")]

# Notes in the page when the dashboard header first says "finished" (Date.now(), ms).
WATCH_FINISHED_JS = """() => {
  const h = document.getElementById("hpo-header");
  const seen = () => {
    if (!window.__hpoFinishedAt && h.innerText.includes("finished")) window.__hpoFinishedAt = Date.now();
  };
  new MutationObserver(seen).observe(h, {childList: true, subtree: true, characterData: true});
  seen();
}"""


# Notes when the Pause button was pressed (ms since the epoch): the event's own time stamp, taken when the
# browser received the input, so the time it then waited for a busy page counts. (Playwright's click()
# first waits for the button to be visible, stable and hit by the pointer.)
NOTE_MOUSEDOWN_JS = """() => document.addEventListener("mousedown", e => {
  if (e.target.closest("button.hpo-pause")) window.__hpoPressedAt = performance.timeOrigin + e.timeStamp;
}, true)"""


@pytest.fixture
def lab(tmp_path):
    with jupyter_lab(tmp_path, [NOTEBOOK]) as served:
        yield served


PAUSE_WITHIN_S = 2.0  # seconds from the button's press in the page to the journalled pause
# Seconds from Playwright's click() call: it first waits for the button to be visible, stable across two
# animation frames and hit by the pointer, which took up to 1.84 s before the press with the renderer busy
# on a loaded 2-core machine (the kernel's part was 0.27 s of 2.11 s); none of that is the panel's doing.
CLICK_WITHIN_S = 4.0


def test_quickstart_panel_answers_while_a_cell_waits_and_survives_an_interrupt(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    base, nbdir = lab
    shots = screenshot_dir(tmp_path)
    cells = notebook_cells(nbdir, NOTEBOOK)
    results_cell, wait_cell = cell_index(cells, "study.results[["), cell_index(cells, "study.wait()")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_context(viewport={"width": 1280, "height": 2300}).new_page()  # the whole view fits
        board = None
        try:
            open_notebook(page, base, NOTEBOOK)
            run_all(page, cells)
            panel = page.locator(".hpo-panel")
            panel.wait_for(state="visible", timeout=120_000)
            page.locator(".hpo-plots canvas").first.wait_for(state="visible", timeout=60_000)
            first = wait(lambda: max(0, page.evaluate(CURVE_POINTS_JS)), 120, "plot points")
            wait(lambda: page.evaluate(CURVE_POINTS_JS) > first, 60, f"the plot to grow past {first} points")
            # the kernel is now blocked in study.wait(): the cell before it has its number, it has none
            wait(lambda: prompt(page, results_cell) not in ("[*]:", "[ ]:") and prompt(page, wait_cell) == "[*]:",
                 120, "the wait cell to be running")
            wait(lambda: int(panel.locator(".hpo-count").inner_text().split("/")[0]) >= 5, 180,
                 "five trials to end (for a screenshot worth showing: importance needs five scores)")

            page.evaluate(NOTE_MOUSEDOWN_JS)
            clicked = time.time()
            page.locator("button.hpo-pause").click()
            pause = wait(lambda: next(iter(controls(nbdir, "pause")), None), 10, "the pause in the journal", 0.05)
            pressed = page.evaluate("window.__hpoPressedAt || 0") / 1000
            print(f"pause journalled {pause['t'] - clicked:.2f} s after click() was called, "
                  f"{pause['t'] - pressed:.2f} s after the button was pressed; load {os.getloadavg()}")
            assert pause["source"] == "user" and clicked - 0.01 <= pressed <= pause["t"], (clicked, pressed, pause["t"])
            assert pause["t"] - pressed <= PAUSE_WITHIN_S, pause["t"] - pressed
            assert pause["t"] - clicked <= CLICK_WITHIN_S, pause["t"] - clicked
            assert prompt(page, wait_cell) == "[*]:", "the click was handled while the cell still waited"
            wait(lambda: "applied" in page.locator(".hpo-message").inner_text(), 10, "the panel to say applied")
            wait(lambda: "Paused" in page.locator(".hpo-banner-box").inner_text(), 10, "the paused banner")

            page.locator(".hpo-plots .slick-row .slick-cell").first.click()  # a trial in the table
            detail = page.locator(".hpo-detail")
            wait(lambda: "lr" in detail.inner_text() and "batch_size" in detail.inner_text(), 15,
                 "the clicked trial's configuration")
            assert detail.locator(".hpo-detail-config").count() == 1 and "Trial" in detail.inner_text()

            view = page.locator(".jp-OutputArea-output:has(.hpo-panel)")
            view.scroll_into_view_if_needed()
            view.screenshot(path=str(shots / "panel.png"))
            light = page.evaluate(PLOT_BACKGROUND_JS)
            menu(page, "Settings", "Theme", "JupyterLab Dark")
            wait(lambda: page.evaluate("document.body.dataset.jpThemeLight") == "false", 30, "the dark theme")
            wait(lambda: page.evaluate(PLOT_BACKGROUND_JS) not in (light, None), 15, "the plots to turn dark")
            time.sleep(1.0)
            view.screenshot(path=str(shots / "panel-dark.png"))
            menu(page, "Settings", "Theme", "JupyterLab Light")

            time.sleep(max(0.0, pause["t"] + 5.5 - time.time()))
            late = [r for r in journal_records(nbdir) if r["event"] == "trial_start" and r["t"] > pause["t"] + 0.5]
            assert late == [], f"trials started while paused: {late}"  # 0.5 s grace: a step already on its way

            # the study's page on the Dask dashboard, reached from the dashboard's own menu
            url = panel.locator("a[href*='/hpo-kit/']").first.get_attribute("href")
            board = browser.new_context(viewport={"width": 1100, "height": 1300}).new_page()
            board.goto(url.split("/hpo-kit/")[0] + "/status")
            board.locator("a[href='hpo-kit/']").wait_for(state="attached", timeout=30_000)  # in "More..."
            board.goto(url.split("/hpo-kit/")[0] + "/hpo-kit/")
            board.locator("a[href*='/hpo-kit/study-']").first.click()
            board.locator("#hpo-header .hpo-state").wait_for(timeout=60_000)
            board.evaluate(WATCH_FINISHED_JS)
            time.sleep(2)

            page.locator("button.hpo-resume").click()
            wait(lambda: controls(nbdir, "resume"), 10, "the resume in the journal")
            board.screenshot(path=str(shots / "dashboard.png"), full_page=True)

            workers = {r["pid"] for r in journal_records(nbdir) if r["event"] == "trial_start" and r.get("pid")}
            menu(page, "Kernel", "Interrupt Kernel")
            interrupted = wait(lambda: next((p for p in controls(nbdir, "pause") if "interrupt" in p["reason"]),
                                            None), 30, "the interrupt's pause in the journal")
            wait(lambda: "KeyboardInterrupt" in page.locator(".jp-Notebook .jp-Cell").nth(wait_cell).inner_text(),
                 30, "the wait cell to end with KeyboardInterrupt")
            shown = page.locator(".jp-Notebook .jp-Cell").nth(wait_cell).locator(".jp-OutputArea").inner_text()
            assert "KeyboardInterrupt: hpo_kit: interrupted;" in shown and "Traceback" not in shown, shown  # one line
            time.sleep(2)
            assert len(workers) == 2 and all(psutil.pid_exists(pid) for pid in workers), workers
            wait(lambda: "Paused" in page.locator(".hpo-banner-box").inner_text(), 10, "the paused banner")

            page.locator("button.hpo-resume").click()
            wait(lambda: len(controls(nbdir, "resume")) == 2, 15, "the second resume in the journal")
            run_cells(page, cells, range(wait_cell, len(cells)))  # wait for the end, then the checks
            page.locator(".jp-OutputArea-output", has_text="quickstart: all checks passed").wait_for(timeout=300_000)

            rows = page.locator(".hpo-plots .slick-row")  # the rows on screen show the end, not what they first showed
            wait(lambda: rows.count() and all("COMPLETED" in t for t in rows.all_inner_texts()), 15,
                 "the trial table to show the final statuses")
            records = journal_records(nbdir)
            after = {r["pid"] for r in records if r["event"] == "trial_start" and r["t"] > interrupted["t"]}
            assert after <= workers, "the same worker processes ran the rest of the study"
            assert not [r for r in records if r["event"] == "trial_retry"], "no step was lost with a worker"
            end = next(r for r in records if r["event"] == "study_end")
            finished_at = wait(lambda: board.evaluate("window.__hpoFinishedAt || 0"), 10, "the page to say finished")
            assert finished_at / 1000 - end["t"] <= 5.0
            wait(lambda: "disconnected" in board.locator("#hpo-conn").inner_text(), 20, "the page to say disconnected")
            assert_panels_ended(page)  # "finished", controls off, no traceback in any output
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            if board is not None:
                board.screenshot(path=str(tmp_path / "failure-dashboard.png"), full_page=True)
            print(f"browser state at the failure: {tmp_path / 'failure.png'}")
            raise
        finally:
            browser.close()
