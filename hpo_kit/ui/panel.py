"""The control panel: ipywidgets that show a study and call its public API, nothing else.

Every button calls one :class:`~hpo_kit.Study` method (``pause``, ``resume``, ``kill``,
``kill_flagged``, ``tune``, ``set_concurrency``), so each intervention is journalled
by the study exactly as if it was typed in a cell, with ``source="user"``. What the
panel shows comes from :func:`hpo_kit.ui.status.summary`, :func:`~hpo_kit.ui.status.trial_rows`
and :func:`~hpo_kit.ui.status.live_controls`; the widgets only format it. ipywidgets
is imported when a panel is built, never at package import.

Every interactive widget carries a CSS class ``hpo-<name>`` (e.g. ``hpo-pause``) so
that browser tests and custom themes can find it.
"""
from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from . import status as S


class ControlPanel:
    """Buttons, inputs and a trial table for one study; ``.widget`` is what to display.

    Parameters
    ----------
    study
        The :class:`~hpo_kit.Study` to steer.
    max_rows
        Trials shown in the table (newest first).
    """

    def __init__(self, study: Any, max_rows: int = 30) -> None:
        import ipywidgets as W

        self.study = study
        self.max_rows = max_rows
        self.dashboard_url: str | None = None
        lay = W.Layout
        self.header = W.HTML(layout=lay(width="100%"))
        self.progress = W.IntProgress(min=0, max=1, layout=lay(width="320px"))
        self.message = W.HTML()
        self.pause_btn = self._button(W, "Pause", "pause", lambda: study.pause(reason="from the panel"), "warning")
        self.resume_btn = self._button(W, "Resume", "resume", lambda: study.resume(reason="from the panel"),
                                       "success")
        self.select = W.SelectMultiple(options=[], rows=5, description="Trials", layout=lay(width="230px"))
        self.select.add_class("hpo-select")
        self.kill_btn = self._button(W, "Kill selected", "kill", self._kill_selected, "danger")
        self.kill_flagged_btn = self._button(W, "Kill all flagged", "kill-flagged",
                                             lambda: study.kill_flagged(reason="flagged; killed from the panel"),
                                             "danger")
        self.concurrency = W.BoundedIntText(value=study.concurrency or 1, min=1, max=1024,
                                            description="Concurrency", style={"description_width": "initial"},
                                            layout=lay(width="170px"))
        self.concurrency_btn = self._button(W, "Set", "concurrency",
                                            lambda: study.set_concurrency(int(self.concurrency.value),
                                                                          reason="from the panel"))
        self.b = W.FloatText(value=0.0, step=0.05, description="b", style={"description_width": "initial"},
                             layout=lay(width="120px"))
        self.b_btn = self._button(W, "Apply b", "b", lambda: study.tune(b=float(self.b.value),
                                                                         reason="from the panel"))
        self.switch_trials = W.BoundedIntText(value=0, min=0, max=10**6, description="switch after",
                                              style={"description_width": "initial"}, layout=lay(width="160px"))
        self.switch_trials_btn = self._button(W, "trials", "switch-trials", lambda: study.tune(
            switch_after_trials=int(self.switch_trials.value), reason="from the panel"))
        self.switch_seconds = W.BoundedFloatText(value=60.0, min=0.0, max=1e9, description="or after",
                                                 style={"description_width": "initial"}, layout=lay(width="150px"))
        self.switch_seconds_btn = self._button(W, "seconds", "switch-seconds", lambda: study.tune(
            switch_after_seconds=float(self.switch_seconds.value), reason="from the panel"))
        self.bo_hint = W.HTML()
        for name, w in (("concurrency-input", self.concurrency), ("b-input", self.b),
                        ("switch-trials-input", self.switch_trials), ("switch-seconds-input", self.switch_seconds)):
            w.add_class(f"hpo-{name}")
        self.table = W.HTML()
        self.table.add_class("hpo-table")
        box = W.HBox
        self.widget = W.VBox([
            self.header, box([self.progress]),
            box([self.pause_btn, self.resume_btn, self.kill_flagged_btn, self.concurrency, self.concurrency_btn]),
            box([self.select, W.VBox([self.kill_btn])]),
            box([self.b, self.b_btn, self.switch_trials, self.switch_trials_btn, self.switch_seconds,
                 self.switch_seconds_btn]), self.bo_hint,
            self.message, self.table], layout=lay(border="1px solid #ddd", padding="6px"))
        self.widget.add_class("hpo-panel")

    def _button(self, W: Any, text: str, name: str, action: Callable[[], Any], style: str = "") -> Any:
        btn = W.Button(description=text, button_style=style, layout=W.Layout(width="auto"))
        btn.add_class(f"hpo-{name}")
        btn.on_click(lambda _: self._call(text, action))
        return btn

    def _call(self, text: str, action: Callable[[], Any]) -> None:
        try:
            result = action()
        except Exception as exc:  # noqa: BLE001 - shown to the user, who can fix the input
            self.message.value = f"<span style='color:#c00'>{html.escape(text)}: {html.escape(str(exc))}</span>"
            return
        done = f" ({html.escape(str(result))})" if result else ""
        self.message.value = f"<span style='color:#555'>{html.escape(text)}: sent{done}</span>"

    def _kill_selected(self) -> list[int]:
        ids = list(self.select.value)
        for tid in ids:
            self.study.kill(tid, reason="killed from the panel")
        return ids

    # -- refresh (any thread) ----------------------------------------------------------------
    def refresh(self, records: list[dict[str, Any]], now: float | None = None) -> None:
        """Redraw from the study's records, its live state and its optimizer's live parameters."""
        s = S.summary(records, now)
        s["name"] = s["name"] or self.study.name
        state = self.study.state
        target = s["n_target"]
        self.progress.max = max(1, target or s["n_trials"])
        self.progress.value = min(self.progress.max, s["ended"])
        self.header.value = S.header_html(s, state, self.dashboard_url)
        self.pause_btn.disabled = state != "running"
        self.resume_btn.disabled = state != "paused"
        self.kill_flagged_btn.disabled = not s["flagged"]
        self.kill_flagged_btn.description = f"Kill all flagged ({len(s['flagged'])})"
        self._refresh_controls()
        rows = S.trial_rows(records)
        live = [r["trial"] for r in rows if r["live"]]
        if list(self.select.options) != live:
            keep = tuple(t for t in self.select.value if t in live)
            self.select.options = live
            self.select.value = keep
        self.kill_btn.disabled = not live
        self.table.value = S.table_html(rows[: self.max_rows], s["metric"])

    def _refresh_controls(self) -> None:
        opt = self.study.optimizer
        try:
            state = opt.state()
        except Exception:  # noqa: BLE001 - a policy's live facts are optional
            state = {}
        controls = S.live_controls(tuple(getattr(opt, "live_params", ())), getattr(opt, "name", "optimizer"), state)
        hints = []
        inputs = {"b": (self.b, self.b_btn), "switch_after_trials": (self.switch_trials, self.switch_trials_btn),
                  "switch_after_seconds": (self.switch_seconds, self.switch_seconds_btn)}
        for name, (box, btn) in inputs.items():
            c = controls[name]
            box.disabled = btn.disabled = not c["enabled"]
            box.description_tooltip = btn.tooltip = c["hint"]
            now = f" (now {S.fmt(c['value'])})" if c["enabled"] and c["value"] is not None else ""
            hints.append(html.escape(c["hint"]) + now)
        if not controls["b"]["enabled"]:
            hints = hints[:1]  # one line says why all three are off
        elif state.get("cost"):
            hints.append(f"cost now: Z = {html.escape(str(state['cost']))} ({html.escape(str(state.get('phase')))})")
        self.bo_hint.value = "<small style='color:#666'>" + "<br>".join(hints) + "</small>"

