"""The control panel: ipywidgets that show a study and call its public API, nothing else.

Every button calls one :class:`~hpo_kit.Study` method (``pause``, ``resume``, ``kill``,
``kill_flagged``, ``tune``, ``set_concurrency``), so each intervention is journalled
by the study exactly as if it was typed in a cell, with ``source="user"``. What a
control answers comes from :func:`hpo_kit.ui.controls.outcome`: *applied* once the
study's loop applied it (the returned ``Future``), *refused: <reason>* for the error it
raised at once, the future's exception or a journalled refusal. What the panel shows
comes from :mod:`hpo_kit.ui.status` and :mod:`hpo_kit.ui.controls`; the widgets only
format it. ipywidgets is imported when a panel is built, never at package import.

Every interactive widget carries a CSS class ``hpo-<name>`` (e.g. ``hpo-pause``) so
that browser tests and custom themes can find it.
"""
from __future__ import annotations

import concurrent.futures
import html
import time
from collections.abc import Callable
from typing import Any

from . import controls as C
from . import status as S
from .picker import TrialPicker

#: The policy parameter each BO input sets.
_PARAM = {"b": "b", "switch-trials": "switch_after_trials", "switch-seconds": "switch_after_seconds"}



class ControlPanel:
    """Buttons, inputs, a banner and a trial detail for one study; ``.widget`` is what to display.

    Parameters
    ----------
    study
        The :class:`~hpo_kit.Study` to steer.
    records
        A callable returning the study's records so far (``Feed.records``), to tell a
        journalled refusal from an applied change.
    """

    def __init__(self, study: Any, records: Callable[[], list[dict[str, Any]]] | None = None) -> None:
        import ipywidgets as W

        self.study = study
        self.records = records or (lambda: [])
        self.dashboard_url: str | None = None
        self._live: dict[str, Any] = {}  # each BO parameter's value in force, as the panel last saw it
        self._inflight: set[str] = set()  # parameters sent from the panel and not yet applied or refused
        lay, style = W.Layout, {"description_width": "initial"}
        self.header = W.HTML(layout=lay(width="100%"))
        self.banner = W.HTML()
        self.banner.add_class("hpo-banner-box")
        self.progress = W.IntProgress(min=0, max=1, layout=lay(width="320px"))
        self.progress_text = W.HTML()  # the numbers, and what they count (trials ended, or epochs)
        self.progress_text.add_class("hpo-progress-text")
        self._level = ""  # the level of the message shown (sent, applied, refused)
        self.message = W.HTML()
        self.message.add_class("hpo-message")
        self.pause_btn = self._button(W, "Pause", "pause", lambda: study.pause(reason="from the panel"), "warning")
        self.resume_btn = self._button(W, "Resume", "resume", lambda: study.resume(reason="from the panel"), "success")
        self.picker = TrialPicker(W)  # live trials, one toggle each (see hpo_kit.ui.picker)
        self.kill_btn = self._button(W, "Kill selected", "kill", self._kill_selected, "danger")
        self.kill_flagged_btn = self._button(W, "Kill all flagged", "kill-flagged", lambda: study.kill_flagged(
            reason="flagged; killed from the panel"), "danger")
        # An input applies its value when it is committed (Enter, or leaving the box: a click on its button
        # does that), as a change of the input itself. A button that read the box when clicked raced the
        # box's own update: ipywidgets holds a model's next update until the kernel said idle for its last,
        # so the click could arrive first and apply the number typed before.
        state = self._policy_state()
        self._live = {name: state.get(name) for name in S.BO_PARAMS}
        self._live["concurrency"] = study.concurrency
        self.concurrency = W.BoundedIntText(value=study.concurrency or 1, min=1, max=1024, description="Concurrency",
                                            continuous_update=False, style=style, layout=lay(width="170px"))
        self.concurrency_btn = self._input(W, self.concurrency, "Set", "concurrency", lambda v: self._concurrency(v))
        self.b = W.Text(value=C.show_number(state.get("b")), placeholder="b >= 0", description="b", style=style,
                        continuous_update=False, layout=lay(width="130px"))
        self.b_btn = self._input(W, self.b, "Apply b", "b", lambda v: self._tune("b", v, "b", False))
        self.switch_trials = W.Text(value=C.show_number(state.get("switch_after_trials")), placeholder="trials",
                                    description="switch after", style=style, continuous_update=False,
                                    layout=lay(width="170px"))
        self.switch_trials_btn = self._input(W, self.switch_trials, "trials", "switch-trials", lambda v: self._tune(
            "switch_after_trials", v, "switch after", True))
        self.switch_seconds = W.Text(value=C.show_number(state.get("switch_after_seconds")), placeholder="seconds",
                                     description="or after", style=style, continuous_update=False,
                                     layout=lay(width="150px"))
        self.switch_seconds_btn = self._input(W, self.switch_seconds, "seconds", "switch-seconds", lambda v: self._tune(
            "switch_after_seconds", v, "or after", False))
        self.bo_hint = W.HTML()
        for name, w in (("concurrency-input", self.concurrency), ("b-input", self.b),
                        ("switch-trials-input", self.switch_trials), ("switch-seconds-input", self.switch_seconds)):
            w.add_class(f"hpo-{name}")
        self.detail = W.HTML(value="<i>Click a trial in the table above to see its configuration, metrics and "
                                   "journal events.</i>", layout=lay(width="100%"))  # shown under the table
        self.detail.add_class("hpo-detail")
        box = W.HBox
        # time-aware BO's inputs take room only where the policy has them (see _refresh_bo)
        self.bo_box = W.VBox([box([self.b, self.b_btn, self.switch_trials, self.switch_trials_btn,
                                   self.switch_seconds, self.switch_seconds_btn]), self.bo_hint])
        self.bo_box.add_class("hpo-bo-box")
        self.widget = W.VBox([
            self.header, self.banner, box([self.progress, self.progress_text]),
            box([self.pause_btn, self.resume_btn, self.kill_flagged_btn, self.concurrency, self.concurrency_btn]),
            box([W.HTML("Trials:", layout=lay(width="50px")), self.picker.widget, self.kill_btn]), self.bo_box,
            self.message],
            layout=lay(border="1px solid var(--jp-border-color2, #ddd)", padding="6px"))
        self.widget.add_class("hpo-panel")
        self._buttons = {"pause": self.pause_btn, "resume": self.resume_btn, "kill": self.kill_btn,
                         "kill-flagged": self.kill_flagged_btn, "concurrency": self.concurrency_btn,
                         "b": self.b_btn, "switch-trials": self.switch_trials_btn,
                         "switch-seconds": self.switch_seconds_btn}
        self._inputs = {"concurrency": self.concurrency, "b": self.b,
                        "switch-trials": self.switch_trials, "switch-seconds": self.switch_seconds}

    # -- controls ----------------------------------------------------------------------------
    def _button(self, W: Any, text: str, name: str, action: Callable[[], Any] | None, style: str = "") -> Any:
        btn = W.Button(description=text, button_style=style, layout=W.Layout(width="auto"))
        btn.add_class(f"hpo-{name}")
        if action is not None:
            btn.on_click(lambda _: self._call(text, action))
        return btn

    def _input(self, W: Any, box: Any, text: str, name: str, apply: Callable[[Any], Any]) -> Any:
        """Apply ``box``'s value when committed; returns its button (a click commits the box: no action of its own)."""
        def committed(change: dict[str, Any]) -> None:
            live = self._live.get("concurrency" if name == "concurrency" else _PARAM[name])
            if change["new"] == live or change["new"] == C.show_number(live):
                return  # the value in force: put back by the panel, or typed again; nothing to change
            self._call(text, lambda: apply(change["new"]))

        box.observe(committed, "value")
        return self._button(W, text, name, None)

    def _concurrency(self, value: Any) -> Any:
        try:
            future = self.study.set_concurrency(int(value), reason="from the panel")
        except Exception:
            self._show_live("concurrency")  # refused: the box goes back to the value in force
            raise
        self._inflight.add("concurrency")
        return future, ("concurrency", int(value))

    def _call(self, text: str, action: Callable[[], Any], match: tuple[str, Any] | None = None) -> None:
        """Run a control; say *sent*, then *applied* or *refused* when the loop has answered."""
        since = time.time()
        try:
            result = action()
        except Exception as exc:  # noqa: BLE001 - shown to the user, who can fix the input
            self._say(*C.outcome(text, exc))
            return
        if isinstance(result, tuple):  # (futures, match) from _tune
            result, match = result
        futures = [f for f in (result if isinstance(result, list) else [result])
                   if isinstance(f, concurrent.futures.Future)]
        if not futures:
            self._say(*C.outcome(text))
            return
        self._say("sent", f"{text}: sent…")

        def settled(_: Any) -> None:
            if not all(f.done() for f in futures):
                return
            error = next((f.exception() for f in futures if f.exception() is not None), None)
            record = C.matching_control(self.records(), *match, since=since) if match and error is None else None
            level, message = C.outcome(text, error, record)
            sent = match[1] if match and match[0] == "tune" else {"concurrency": match[1]} if match else {}
            for name, value in sent.items():
                self._inflight.discard(name)
                if level == "applied":
                    self._live[name] = value  # in force now: the next redraw leaves the box alone
                else:
                    self._show_live(name)  # refused: the box goes back to the value in force
            self._say(level, message)

        for f in futures:
            f.add_done_callback(settled)

    def _say(self, level: str, text: str) -> None:
        self._level = level
        self.message.value = C.message_html(level, text)

    def _tune(self, name: str, text: str, label: str, integer: bool) -> tuple[Any, tuple[str, Any]]:
        try:
            value = C.parse_number(text, label, integer=integer)
            if value is None:
                raise ValueError(f"{label}: type a number first")
            future = self.study.tune(reason="from the panel", **{name: value})
        except Exception:
            self._show_live(name)  # refused: the box goes back to the value in force
            raise
        # Until the loop answers, the policy still reports the old value: a redraw must not put it back
        # into the box (and so under the next click) in the meantime.
        self._inflight.add(name)
        return future, ("tune", {name: value})

    def _boxes(self) -> dict[str, Any]:
        return {"b": self.b, "switch_after_trials": self.switch_trials, "switch_after_seconds": self.switch_seconds}

    def _show_live(self, name: str) -> None:
        live = self._live.get(name)
        if name == "concurrency":
            if live is not None:
                self.concurrency.value = int(live)
        else:
            self._boxes()[name].value = C.show_number(live)

    def _kill_selected(self) -> list[Any]:
        ids = self.picker.selected()
        if not ids:
            raise ValueError("select live trials in the list first")
        self.picker.clear(ids)
        return [self.study.kill(tid, reason="killed from the panel") for tid in ids]

    def _policy_state(self) -> dict[str, Any]:
        try:
            return dict(self.study.optimizer.state() or {})
        except Exception:  # noqa: BLE001 - a policy's live facts are optional
            return {}

    # -- refresh (any thread) ----------------------------------------------------------------
    def refresh(self, records: list[dict[str, Any]], now: float | None = None, workers: int | None = None,
                workers_max: int | None = None) -> None:
        """Redraw from the study's records, its live state and its optimizer's live parameters."""
        s = S.summary(records, now)
        s["name"] = s["name"] or self.study.name
        state = self.study.state
        done = S.progress(records)
        self.progress.max = max(1, done.total or done.done)
        self.progress.value = min(self.progress.max, done.done)
        self.progress_text.value = f"<span class='hpo-progress-count'>{html.escape(done.text())}</span>"
        if state in C.ENDED and self._level in ("sent", "applied"):  # said while it ran; the banner says the end
            self._level, self.message.value = "", ""
        self.header.value = S.header_html(s, state, self.dashboard_url)
        self.banner.value = C.banner(state, records, workers, workers_max)
        rows = S.trial_rows(records)
        live = sorted(r["trial"] for r in rows if r["live"])
        opt = self.study.optimizer
        params = tuple(getattr(opt, "live_params", ()))
        off = C.disabled(state, params, len(s["flagged"]), len(live))
        self.picker.show(live, disabled=off["kill"])
        now = self.study.concurrency
        if "concurrency" not in self._inflight and now is not None and now != self._live.get("concurrency"):
            self._live["concurrency"] = now  # set from a cell: the box shows the value in force
            self.concurrency.value = int(now)
        for name, btn in self._buttons.items():
            btn.disabled = off[name]
            if name in self._inputs:
                self._inputs[name].disabled = off[name]
        self.kill_flagged_btn.description = f"Kill all flagged ({len(s['flagged'])})"
        self._refresh_bo(params, getattr(opt, "name", "optimizer"))

    def _refresh_bo(self, params: tuple[str, ...], name: str) -> None:
        state = self._policy_state()
        controls = S.live_controls(params, name, state)
        boxes = self._boxes()
        self.bo_box.layout.display = "" if controls["b"]["enabled"] else "none"
        hints = []
        for param, box in boxes.items():
            c = controls[param]
            box.description_tooltip = c["hint"]
            # changed elsewhere (a tune from Python, the policy's switch): show the value in force; a box
            # whose edit is on its way keeps what the user typed
            if c["enabled"] and param not in self._inflight and c["value"] != self._live.get(param):
                self._live[param] = c["value"]  # first: the box's change must read as the value in force
                box.value = C.show_number(c["value"])
            now = f" (now {S.fmt(c['value'])})" if c["enabled"] and c["value"] is not None else ""
            hints.append(html.escape(c["hint"]) + now)
        if not controls["b"]["enabled"]:
            hints = hints[:1]  # one line says why all three are off
        elif state.get("cost"):
            hints.append(f"cost now: Z = {html.escape(str(state['cost']))} ({html.escape(str(state.get('phase')))})")
        self.bo_hint.value = ("<small style='color:var(--jp-ui-font-color2,#666)'>" + "<br>".join(hints) +
                              "</small>")
