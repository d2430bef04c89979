"""Every edit of every panel box reaches the kernel, in a real browser, while a cell blocks in ``study.wait()``.

A notebook written here runs a time-aware BO study of slow trials, shows its panel and a
user-made ``IntText`` (created after ``show()``), then blocks in ``study.wait()``. The test
edits each box three times with different values, a refused one in the middle:
concurrency (1, 3 refused: more than the 2 workers, 2), *b* (0.1, -1 refused, 0.2),
*switch after* trials (50, 1.5 refused, 60) and seconds (600, ``abc`` refused, 900); after
each, the panel's message says *applied* or *refused* and the journal holds exactly the
applied values, in order. It kills two different trials in turn from the list (each kill
journalled for the trial clicked, though the list changes all the time). The
``IntText`` gets 1, 2, 3 and echoes each from the kernel. The browser's ipywidgets sends a
model's next update only after the kernel said *idle* for its last one, so before the shell
pump sent those statuses every box delivered only its first edit (issue 23). A button of the
user's then stops the study: the wait ends with no traceback, the panel says "stopped" and
its controls are off.
"""
from __future__ import annotations

import json
import os

import pytest

from lab_helpers import (CHROMIUM, CHROMIUM_ARGS, assert_panels_ended, controls, jupyter_lab, notebook_cells,
                         open_notebook, run_all, wait)

NOTEBOOK = "edits.ipynb"
CELLS = [
    """import json, time
import ipywidgets as W
import hpo_kit.ui
from hpo_kit import Real, Study
from hpo_kit.optimizers import TimeAwareBO


def slow(config, reporter):
    for epoch in range(1, 4):
        time.sleep(1.0)
        reporter.report(epoch=epoch, loss=config["x"] + 1.0 / epoch)


study = Study(slow, {"x": Real(0.0, 1.0)}, n_trials=500, n_workers=2, max_epochs=3,
              optimizer=TimeAwareBO(b=0.3, n_initial_points=4, seed=0), journal="hpo-runs/edits.jsonl")
study.start()""",
    "view = hpo_kit.ui.show(study)\nview",
    """seen, echo = [], W.HTML(value="seen []")
echo.add_class("user-echo")
box = W.IntText(value=0, description="mine")
box.add_class("user-box")


def note(change):
    seen.append(change["new"])
    echo.value = f"seen {seen}"


box.observe(note, "value")
stop = W.Button(description="Stop the study")
stop.add_class("user-stop")
stop.on_click(lambda _: study.stop(wait=False, reason="stopped from the test"))
W.VBox([box, echo, stop])""",
    "study.wait()",
    """view.close()
print(json.dumps({"state": study.state, "seen": seen, "concurrency": study.concurrency,
                  "panel": view.panel.concurrency.value}))""",
]

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600),
              pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                 reason=f"{CHROMIUM} is absent: apt-get install -y chromium (CI installs it)")]


@pytest.fixture
def lab(tmp_path):
    with jupyter_lab(tmp_path, []) as (base, nbdir):
        nb = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": c}
                        for c in CELLS],
              "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
              "nbformat": 4, "nbformat_minor": 5}
        (nbdir / NOTEBOOK).write_text(json.dumps(nb))
        yield base, nbdir


def test_every_edit_of_every_box_reaches_the_kernel_and_is_answered(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    base, nbdir = lab
    cells = notebook_cells(nbdir, NOTEBOOK)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_context(viewport={"width": 1280, "height": 2000}).new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        try:
            open_notebook(page, base, NOTEBOOK)
            run_all(page, cells)
            message = page.locator(".hpo-message")
            page.locator(".hpo-b-input input").wait_for(state="visible", timeout=180_000)
            wait(lambda: page.locator(".hpo-b-input input").is_enabled(), 120, "the panel's controls to be on")

            def edit(box: str, button: str, value: str, action: str, expected: object) -> None:
                """Type ``value``, press ``button``; ``expected`` is the journalled value, or None for a refusal."""
                before = controls(nbdir, action)
                page.locator(f".hpo-{box} input").fill(value)
                page.locator(f"button.hpo-{button}").click()
                if expected is None:
                    wait(lambda: "refused" in message.inner_text(), 15, f"{box}={value} to be refused")
                    assert value in message.inner_text() or "exceeds" in message.inner_text(), message.inner_text()
                    assert len(controls(nbdir, action)) == len(before), f"{box}={value} was journalled"
                    return
                after = wait(lambda: controls(nbdir, action)[len(before):], 15, f"{box}={value} in the journal")
                assert [r["value"] for r in after] == [expected], (box, value, after)
                wait(lambda: "applied" in message.inner_text(), 15, f"{box}={value} to say applied")

            for box, button, action, steps in (
                    ("concurrency-input", "concurrency", "concurrency", [("1", 1), ("3", None), ("2", 2)]),
                    ("b-input", "b", "tune", [("0.1", {"b": 0.1}), ("-1", None), ("0.2", {"b": 0.2})]),
                    ("switch-trials-input", "switch-trials", "tune",
                     [("50", {"switch_after_trials": 50}), ("1.5", None), ("60", {"switch_after_trials": 60})]),
                    ("switch-seconds-input", "switch-seconds", "tune",
                     [("600", {"switch_after_seconds": 600.0}), ("abc", None), ("900", {"switch_after_seconds": 900.0})])):
                for value, expected in steps:
                    edit(box, button, value, action, expected)
            assert [r["value"] for r in controls(nbdir, "concurrency")] == [1, 2]
            assert [r["value"] for r in controls(nbdir, "tune")] == [
                {"b": 0.1}, {"b": 0.2}, {"switch_after_trials": 50}, {"switch_after_trials": 60},
                {"switch_after_seconds": 600.0}, {"switch_after_seconds": 900.0}]

            killed: list[int] = []
            toggles = page.locator(".hpo-select button.hpo-trial-toggle")
            for _ in range(2):
                live = wait(lambda: [int(t) for t in toggles.all_inner_texts() if int(t) not in killed], 60,
                            "a live trial in the list")
                tid = max(live)  # the newest: the furthest from its end
                page.locator(f"button.hpo-trial-{tid}").click()
                page.locator("button.hpo-kill").click()
                kills = wait(lambda: controls(nbdir, "kill")[len(killed):], 15,
                             f"the kill of trial {tid} (the panel says {message.inner_text()!r})")
                assert [r["trial"] for r in kills] == [tid], (tid, kills)  # that trial, no other
                killed.append(tid)
                wait(lambda: "applied" in message.inner_text() and "Kill" in message.inner_text(), 30,
                     "the kill to say applied")
                wait(lambda: page.locator(f"button.hpo-trial-{tid}").count() == 0, 30, f"trial {tid} to leave the list")
            assert [r["trial"] for r in controls(nbdir, "kill")] == killed and len(set(killed)) == 2

            user, echo = page.locator(".user-box input"), page.locator(".user-echo")
            for n in (1, 2, 3):
                user.fill(str(n))
                user.press("Enter")
                wait(lambda: f"seen {list(range(1, n + 1))}" in echo.inner_text(), 15, f"the kernel to see {n}")

            page.locator("button.user-stop").click()
            out = page.locator(".jp-OutputArea-output", has_text='"state"')
            out.wait_for(timeout=180_000)
            result = json.loads(out.inner_text().strip().splitlines()[-1])
            assert result == {"state": "stopped", "seen": [1, 2, 3], "concurrency": 2, "panel": 2}, result
            assert_panels_ended(page, "stopped")  # controls off, no traceback after the stop
            assert not [e for e in errors if "Error setting state" in e], errors
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            print(f"browser state at the failure: {tmp_path / 'failure.png'}; load {os.getloadavg()}")
            raise
        finally:
            browser.close()
