"""The views' newer data (trial table, detail, parallel coordinates, importance, controls) and the panel's logic.

Hand-built journal records with known answers, as in ``test_ui_data.py``; no browser, no cluster.
"""
from __future__ import annotations

import concurrent.futures
import math
import random

import pytest

from hpo_kit.ui import controls as C
from hpo_kit.ui import importance as I
from hpo_kit.ui import trials as T
from test_ui_data import T0, end, rec, report, start, story  # noqa: F401 - story is a fixture

SPACE = {"lr": {"type": "real", "low": 1e-4, "high": 1.0, "log": True},
         "act": {"type": "categorical", "choices": ["relu", "tanh"]}}


def with_space(records, space=SPACE):
    return [dict(records[0], space=space), *records[1:]]


def test_table_has_config_columns_in_id_order_with_pending_last(story):
    recs = with_space(story, {"lr": SPACE["lr"]})
    recs.insert(2, rec("trial_create", 0.15, trial=9, config={"lr": 0.9}, budget=3))  # an older id, still pending
    cols = T.table_columns(recs)
    assert cols["trial"] == [0, 1, 2, 3, 9] or cols["trial"] == [0, 1, 2, 9, 3]
    assert cols["status"][-2:] == ["PENDING", "PENDING"] and cols["status"][:3] == ["COMPLETED", "KILLED", "RUNNING"]
    assert cols["config.lr"][:3] == [0.1, 0.5, 0.2] and cols["config"][0] == "lr=0.1"
    assert cols["score"][0] == 1.0 and math.isnan(cols["score"][-1]) and cols["worker"][0] == "127.0.0.1:1"
    assert cols["flags"][1] == "AGV" and cols["category"][1] == "FLAGGED" and cols["reason"][1] == ""
    order = T.sort_rows(cols, "score")
    assert [cols["trial"][i] for i in order][:3] == [2, 0, 1]  # 0.5, 1.0, 3.0; pending (no score) last
    assert [cols["status"][i] for i in T.sort_rows(cols, "config.lr", descending=True)][-2:] == ["PENDING"] * 2


def test_trial_detail_has_config_metrics_flags_and_events(story):
    d = T.trial_detail(story, 1)
    assert d["config"] == {"lr": 0.5} and d["status"] == "KILLED" and d["flags"][0]["indicator"] == "AGV"
    assert math.isnan(d["metrics"]["val_loss"]) and d["epochs"] == 2
    kinds = [e[1] for e in d["events"]]
    assert kinds == ["trial_create", "trial_start", "report", "flag", "control: kill", "trial_end"]
    assert d["events"][2][2] == "2 reports, epochs 1-2" and "reason bad" in d["events"][4][2]
    html = T.detail_html(d)
    assert "Trial 1" in html and "hpo-detail-config" in html and "lr" in html and "AGV" in html
    assert T.trial_detail(story, 99) is None and "Click a trial" in T.detail_html(None)
    assert T.config_text({"b": 2, "a": 1e-5}, ["b"]) == "b=2, a=1e-05"


def test_parallel_coordinates_scale_each_axis_and_put_the_best_on_top():
    recs = with_space([start(), *[r for i, (lr, act, v) in enumerate([(1e-4, "relu", 3.0), (1e-2, "tanh", 2.0),
                                                                       (1.0, "relu", 1.0)])
                                  for r in (rec("trial_create", i, trial=i, config={"lr": lr, "act": act}),
                                            report(i, 1, i + 0.5, v), end(i, i + 0.6, score=v, told=v))]])
    lines, axes = I.parallel_coordinates(recs)
    assert lines["trial"] == [0, 1, 2] and lines["xs"][0] == [0, 1, 2]
    assert lines["ys"][0] == pytest.approx([0.0, 0.0, 0.0])  # lowest lr, first choice, worst score (min mode)
    assert lines["ys"][1] == pytest.approx([0.5, 1.0, 0.5])  # lr 1e-2 is half way on a log axis
    assert lines["ys"][2] == pytest.approx([1.0, 0.0, 1.0]) and lines["rank"][2] == 1.0
    assert axes["name"] == ["lr", "act", "val_loss"]
    assert (axes["low"], axes["high"]) == (["0.0001", "relu", "3"], ["1", "tanh", "1"])


def _study(n, f, seed=0):
    rnd = random.Random(seed)
    out = [with_space(
        [start(), rec("trial_create", 0, trial=0, config={})],
        {"x": {"type": "real", "low": 0.0, "high": 1.0, "log": False},
         "noise": {"type": "real", "low": 0.0, "high": 1.0, "log": False},
         "act": {"type": "categorical", "choices": ["a", "b"]}})[0]]
    for i in range(n):
        config = {"x": rnd.random(), "noise": rnd.random(), "act": rnd.choice("ab")}
        v = f(config)
        out += [rec("trial_create", i, trial=i, config=config), report(i, 1, i + 0.5, v),
                end(i, i + 0.6, score=v, told=v)]
    return out


def test_importance_finds_the_parameter_that_matters():
    recs = _study(60, lambda c: (c["x"] - 0.3) ** 2 * 10 + (2.0 if c["act"] == "b" else 0.0))
    imp = I.importance(recs)
    assert imp["param"][0] == "x" and imp["param"][-1] == "noise"
    share = dict(zip(imp["param"], imp["importance"]))
    assert share["x"] > 0.4 and share["noise"] < 0.05 and 0.15 < share["act"] < share["x"]
    assert imp["n"] == [60] * 3
    assert I.importance(recs[:10]) == {"param": [], "importance": [], "n": []}  # too few trials
    assert I.importance(_study(10, lambda c: 1.0))["param"] == []  # nothing varies


def test_importance_cache_computes_off_thread_and_only_for_new_scores():
    calls = []
    cache = I.ImportanceCache(compute=lambda records, specs: calls.append(len(records)) or {"param": ["x"],
                                                                                           "importance": [1.0],
                                                                                           "n": [1]})
    recs = _study(6, lambda c: c["x"])
    cache.get(recs, block=True)
    assert cache.get(recs)["param"] == ["x"] and calls == [len(recs)]  # same scores: not again
    cache.get(recs + [end(99, 9, score=1.0)], block=True)
    assert len(calls) == 2
    cache.close()
    cache.get(recs + [end(98, 9, score=1.0)] * 2)  # closed: computed in the caller
    assert len(calls) == 3


def test_controls_parse_say_and_switch_off():
    assert C.parse_number(" 0.25 ", "b") == 0.25 and C.parse_number("", "b") is None
    assert C.parse_number("3", "switch after", integer=True) == 3
    for bad, text in (("x", "not a number"), ("1.5", "whole number"), ("inf", "finite")):
        with pytest.raises(ValueError, match=text):
            C.parse_number(bad, "switch after", integer=True)
    assert C.parse_number("-1", "b") == -1.0  # the study judges the value (and says why)
    with pytest.raises(ValueError, match="below 0"):
        C.parse_number("-1", "b", low=0)
    assert C.show_number(None) == "" and C.show_number(0.3) == "0.3" and C.show_number(2.0) == "2"
    assert C.outcome("Apply b", ValueError("b=-1 must be >= 0")) == ("refused", "Apply b: refused: b=-1 must be >= 0")
    assert C.outcome("Apply b", record={"refused": "ValueError: no"}) == ("refused", "Apply b: refused: ValueError: no")
    assert C.outcome("Pause") == ("applied", "Pause: applied")
    recs = [rec("control", 1, action="tune", value={"b": 0.1}), rec("control", 2, action="tune", value={"b": 0.2})]
    assert C.matching_control(recs, "tune", {"b": 0.1})["t"] == T0 + 1
    assert C.matching_control(recs, "tune", {"b": 0.1}, since=T0 + 5) is None
    off = C.disabled("finished", ("b",), 2, 3)
    assert all(off.values()) and set(off) == set(C.CONTROLS)
    on = C.disabled("running", ("b",), 0, 1)
    assert not on["pause"] and on["resume"] and not on["b"] and on["switch-trials"] and on["kill-flagged"]
    assert not C.disabled("paused")["resume"] and C.disabled("paused")["pause"]


def test_banner_says_paused_ended_and_lost_workers(story):
    text = C.banner("paused", story)
    assert "Paused by user" in text and "hpo-banner-paused" in text
    assert "lost" not in C.banner("running", story, workers=2, workers_max=2)
    lost = C.banner("running", story, workers=1, workers_max=2)
    assert "1 of 2 workers lost" in lost and "hpo-banner-workers" in lost
    assert "has finished" in C.banner("finished", story, workers=0, workers_max=2)
    assert "lost" not in C.banner("finished", story, workers=0, workers_max=2)
    assert C.last_pause(story + [rec("control", 9, action="resume")]) is None


def test_view_data_ranges_ignore_a_diverged_curve_and_markers_are_staggered():
    from hpo_kit.ui.plots import view_data

    recs = [start(optimizer={"name": "bo", "b": 0.5}), rec("trial_create", 0, trial=0, config={})]
    recs += [report(0, e, e, 1.0 / e) for e in range(1, 6)] + [report(1, 1, 6, 1e9)]
    recs += [rec("control", 7, action="tune", value={"b": 0.1}), rec("control", 7.1, action="tune",
                                                                     value={"switch_after_trials": 0})]
    data = view_data(recs)
    lo, hi = data["ranges"]["hpo-curves-yrange"]
    assert lo < 0.2 and hi < 2.0  # the 1e9 report is off the chart
    marks = data["sources"]["cost_markers"]
    assert len(set(marks["label_y"])) == 2  # two markers 0.1 s apart: two heights


def test_study_plots_label_workers_and_highlight_a_trial(story):
    from hpo_kit.ui.plots import StudyPlots

    plots = StudyPlots("val_loss", ("curves", "best", "timeline", "parallel", "importance"), specs={"lr": SPACE["lr"]})
    assert plots.update(with_space(story, {"lr": SPACE["lr"]}), now=T0 + 4.0)
    axis = plots.figures["timeline"].yaxis[0]
    assert axis.ticker.ticks == [0, 1] and axis.major_label_overrides == {0: "127.0.0.1:1", 1: "127.0.0.1:2"}
    assert plots.ranges["hpo-curves-yrange"].start < 0.5 < 3.0 < plots.ranges["hpo-curves-yrange"].end
    plots.select(2)
    assert plots.sources["table"].selected.indices == [2] and plots.sources["curves"].selected.indices == [2]
    plots.select(None)
    assert plots.sources["curves"].selected.indices == []
    assert [c.title for c in plots.table.columns][:6] == ["trial", "status", "epochs", "score", "last", "lr"]
    from bokeh.document import Document
    from bokeh.embed.util import standalone_docs_json_and_render_items

    from hpo_kit.ui.plots import drop_computed_ranges

    Document().add_root(plots.layout)
    rng = plots.figures["best"].x_range
    rng.start, rng.end = 1.0, 21.0  # what BokehJS computed and sent back
    docs_json, _ = standalone_docs_json_and_render_items([plots.layout], suppress_callback_warning=True)
    assert "21.0" in repr(docs_json) and drop_computed_ranges(docs_json) >= 1
    assert "21.0" not in repr(docs_json)  # a re-rendered figure follows its data again


class FakeStudy:
    """Records which public method each panel control calls; controls answer with a Future."""

    name, state, concurrency = "fake", "running", 2

    def __init__(self, live_params=(), b=0.3):
        self.calls = []
        self.futures: list[concurrent.futures.Future] = []
        state = {"b": b, "cost": f"L + {b}*T", "phase": "x", "switch_after_trials": None}
        self.optimizer = type("Opt", (), {"name": "bo" if live_params else "random", "live_params": live_params,
                                          "state": lambda self: dict(state)})()

    def kill_flagged(self, **kw):
        self.calls.append(("kill_flagged", (), kw))
        return [1]

    def __getattr__(self, method):
        def call(*args, **kwargs):
            self.calls.append((method, args, kwargs))
            if method == "tune" and kwargs.get("b", 0) < 0:
                raise ValueError(f"TimeAwareBO: b={kwargs['b']} must be a number >= 0")
            future = concurrent.futures.Future()
            self.futures.append(future)
            return future
        return call


def test_panel_controls_call_the_public_api_and_say_applied_or_refused(story):
    from hpo_kit.ui.panel import ControlPanel

    journal = list(story)
    study = FakeStudy(live_params=("b", "switch_after_trials", "switch_after_seconds"))
    panel = ControlPanel(study, records=lambda: journal)
    assert panel.b.value == "0.3" and panel.switch_trials.value == "" and panel.switch_seconds.value == ""
    panel.refresh(story, now=T0 + 4.0)
    assert [w.description for w in panel.picker.widget.children] == ["2", "3"] and not panel.b.disabled and "now 0.3" in panel.bo_hint.value
    assert "demo" in panel.header.value and "2/4 trials ended" in panel.header.value
    panel.pause_btn.click()
    assert "sent" in panel.message.value
    study.futures[-1].set_result(None)
    assert "Pause: applied" in panel.message.value
    panel.b.value = "-1"  # a committed edit applies itself (a click on "Apply b" only commits the box)
    assert "refused" in panel.message.value and "b=-1" in panel.message.value and len(study.futures) == 1
    assert panel.b.value == "0.3"  # back to the value in force at once
    panel.b_btn.click()  # no action of its own: nothing sent twice
    panel.b.value = "0.05"
    journal.append(rec("control", 9e9 - T0, action="tune", value={"b": 0.05}, refused="ValueError: not now"))
    study.futures[-1].set_result(None)
    assert "Apply b: refused: ValueError: not now" in panel.message.value and panel.b.value == "0.3"
    panel.switch_trials.value = "x"
    assert "is not a number" in panel.message.value and panel.switch_trials.value == ""
    panel.picker.widget.children[0].value = True  # trial 2's toggle
    for button in (panel.resume_btn, panel.kill_btn, panel.kill_flagged_btn):
        button.click()
    panel.switch_trials.value, panel.concurrency.value = "0", 1
    assert [(m, a, {k: v for k, v in kw.items() if k != "reason"}) for m, a, kw in study.calls] == [
        ("pause", (), {}), ("tune", (), {"b": -1.0}), ("tune", (), {"b": 0.05}), ("resume", (), {}),
        ("kill", (2,), {}), ("kill_flagged", (), {}), ("tune", (), {"switch_after_trials": 0}),
        ("set_concurrency", (1,), {})]
    study.futures[-1].set_exception(RuntimeError("set_concurrency: the study is finished"))
    assert "Set: refused: set_concurrency: the study is finished" in panel.message.value


def test_panel_disables_everything_at_the_end_and_shows_a_paused_banner(story):
    from hpo_kit.ui.panel import ControlPanel

    study = FakeStudy()
    panel = ControlPanel(study)
    panel.refresh(story)
    assert panel.b.disabled and panel.b_btn.disabled and panel.switch_seconds.disabled
    assert "time-aware BO only" in panel.bo_hint.value and panel.kill_flagged_btn.disabled
    study.state = "paused"
    panel.refresh(story)
    assert "Paused" in panel.banner.value and not panel.resume_btn.disabled and panel.pause_btn.disabled
    panel.refresh(story, workers=1, workers_max=2)
    assert "1 of 2 workers lost" in panel.banner.value
    study.state = "finished"
    panel.refresh(story)
    buttons = (panel.pause_btn, panel.resume_btn, panel.kill_btn, panel.kill_flagged_btn, panel.concurrency_btn,
               panel.b_btn, panel.switch_trials_btn, panel.switch_seconds_btn, panel.concurrency)
    assert all(w.disabled for w in buttons) and "has finished" in panel.banner.value
    assert panel.picker.disabled and all(w.disabled for w in panel.picker.widget.children)


def test_plot_widget_takes_clicks_from_the_browser_but_not_computed_ranges(story):
    from hpo_kit.ui.live import _plot_widget
    from hpo_kit.ui.plots import StudyPlots

    plots = StudyPlots("val_loss", ("curves", "best"), specs={})
    widget = _plot_widget(plots.layout)
    sent, ready = [], []
    widget.send = lambda content, buffers=None: sent.append(content)
    widget.on_ready = lambda: ready.append(True)
    plots.sources["best"].data = {"elapsed": [1.0], "best": [2.0], "trial": [0]}
    assert sent == [] and not widget.ready.is_set()  # no view yet: no patch (a view made mid-patch would break)
    selection, rng = plots.sources["table"].selected, plots.figures["best"].x_range
    for model, attr, new in ((selection, "indices", [1]), (rng, "start", 5.0)):
        widget._sync_model(widget, {"event": "jsevent", "kind": "ModelChanged", "model": {"id": model.id},
                                    "attr": attr, "new": new}, [])
    assert selection.indices == [1] and math.isnan(rng.start)
    assert widget.ready.is_set() and ready == [True]  # the view has spoken: it exists
    plots.sources["best"].data = {"elapsed": [2.0], "best": [1.0], "trial": [1]}
    assert sent and all(m["msg"] == "patch" for m in sent)


def test_slice_plots_hold_every_finished_trial_on_log_and_categorical_axes():
    from bokeh.models import FactorRange, LogScale

    from hpo_kit.ui.plots import StudyPlots, VIEWS, views_for

    space = {**SPACE, "width": {"type": "integer", "low": 16, "high": 256, "log": False}}
    done = [(1e-4, "relu", 16, 3.0), (1e-2, "tanh", 64, 2.0), (1.0, "relu", 256, 1.0)]
    recs = with_space([start()], space)
    for i, (lr, act, width, v) in enumerate(done):
        recs += [rec("trial_create", i, trial=i, config={"lr": lr, "act": act, "width": width}),
                 report(i, 1, i + 0.5, v), end(i, i + 0.6, score=v, told=v)]
    recs += [rec("trial_create", 5, trial=3, config={"lr": 0.5, "act": "tanh", "width": 32}),
             rec("trial_start", 5.1, trial=3, worker="tcp://127.0.0.1:1"), report(3, 1, 5.5, 0.1)]  # running: out
    cols = I.slices(recs)
    assert cols["trial"] == [0, 1, 2] and cols["score"] == [3.0, 2.0, 1.0]
    assert cols["config.lr"] == [1e-4, 1e-2, 1.0] and cols["config.act"] == ["relu", "tanh", "relu"]
    assert cols["config.width"] == [16.0, 64.0, 256.0] and cols["config"][0] == "lr=0.0001, act=relu, width=16"
    assert "slice" in VIEWS and "slice" in views_for(recs)

    plots = StudyPlots("val_loss", ("curves", "parallel", "importance", "slice"), specs=space)
    assert plots.update(recs, now=T0 + 6.0)
    data = plots.sources["slice"].data
    assert list(data["trial"]) == [0, 1, 2] and list(data["config.lr"]) == [1e-4, 1e-2, 1.0]
    lr, act, width = (plots.figures[f"slice-{n}"] for n in ("lr", "act", "width"))
    assert isinstance(lr.x_scale, LogScale) and not isinstance(width.x_scale, LogScale)  # log only where the space is
    assert isinstance(act.x_range, FactorRange) and list(act.x_range.factors) == ["relu", "tanh"]
    for fig, name in ((lr, "lr"), (act, "act"), (width, "width")):
        glyph = fig.renderers[0]
        assert glyph.data_source is plots.sources["slice"] and glyph.glyph.x == f"config.{name}"
        assert glyph.glyph.y == "score"
    themed = plots.figures["curves"].js_property_callbacks["change:inner_width"][0].args["plots"]
    assert lr in themed and act in themed  # recoloured with the others in the dark theme
    plots.select(1)
    assert plots.sources["slice"].selected.indices == [1]
    recs += [end(3, 7.0, score=0.1, told=0.1)]  # live: the running trial joins once it ends
    assert plots.update(recs, now=T0 + 8.0) and list(plots.sources["slice"].data["trial"]) == [0, 1, 2, 3]


class BrowserView:
    """One BokehJS view of a ``BokehModel``, played in Python: a document built from ``render_bundle`` (again at
    every change of it), and patches read through BokehJS's receiver protocol (header, metadata, content, then
    a header and a payload per buffer), which never finds its place again once it starts inside a patch."""

    def __init__(self, bundle_json: str) -> None:
        self.render(bundle_json)
        self.parts: list = []
        self.want = "header"
        self.errors: list[str] = []

    def render(self, bundle_json: str) -> None:
        import json

        from bokeh.document import Document

        docs = json.loads(bundle_json)["docs_json"]
        self.doc = Document.from_json(next(iter(docs.values())))

    def consume(self, content: dict, buffers) -> None:
        import json

        from bokeh.core.serialization import Buffer, Serialized

        part = content.get("payload", buffers[0] if buffers else None)
        if self.want in ("header", "metadata"):
            self.parts = [part] if self.want == "header" else self.parts + [part]
            self.want = "metadata" if self.want == "header" else "content"
            return
        if self.want == "buffer_header":
            self.buf_header, self.want = json.loads(part), "buffer"
            return
        if self.want == "content":
            self.parts.append(part)
            self.header, self.content = json.loads(self.parts[0]), json.loads(self.parts[2])
            self.buffers = []
        else:
            self.buffers.append(Buffer(self.buf_header["id"], bytes(part)))
        if len(self.buffers) < (self.header.get("num_buffers") or 0):
            self.want = "buffer_header"
            return
        self.want = "header"
        try:
            assert self.header.get("msgtype") == "PATCH-DOC", f"out of step: {self.parts[0][:60]}"
            self.doc.apply_json_patch(Serialized(content=self.content, buffers=self.buffers))
        except Exception as exc:  # BokehJS throws too, and this view stops redrawing
            self.errors.append(repr(exc))

    def data(self, name: str) -> dict:
        return {k: list(v) for k, v in self.doc.get_model_by_name(f"hpo-{name}").data.items()}


def test_a_view_opened_in_the_middle_of_a_run_gets_the_whole_state_and_stays_in_step(story):
    """Two views of one plot widget: one from the start, one opened (a page reloaded) mid-run, which is created
    while the redraws go on (it misses what is sent meanwhile). Both end showing what the kernel has."""
    from hpo_kit.ui.live import _plot_widget
    from hpo_kit.ui.plots import StudyPlots

    recs = with_space(story, {"lr": SPACE["lr"]})
    plots = StudyPlots("val_loss", ("curves", "best", "timeline"), specs={"lr": SPACE["lr"]})
    widget = _plot_widget(plots.layout)
    sent: list = []
    widget.send = lambda content, buffers=None: sent.append((content, buffers))
    views: list[BrowserView] = []
    widget.observe(lambda change: [v.render(widget.get_state("render_bundle")["render_bundle"]) for v in views],
                   "render_bundle")  # a new render_bundle: every view re-renders from it
    fig = plots.figures["curves"]
    width = {"event": "jsevent", "kind": "ModelChanged", "model": {"id": fig.id}, "attr": "inner_width", "new": 400}

    def attach() -> BrowserView:
        view = BrowserView(widget.get_state()["render_bundle"])  # the page asks for the widget's state ...
        view.asked, view.seen = len(sent), None  # ... and builds its view: it exists once it speaks, or
        views.append(view)  # once one more message went by (then it missed that one)
        return view

    def speak(view: BrowserView) -> None:
        if view.seen is None:
            view.seen = len(sent)
        widget._sync_model(widget, dict(width), [])

    def deliver() -> None:
        for view in views:
            if view.seen is None and len(sent) > view.asked:
                view.seen = view.asked + 1
            for content, buffers in sent[view.seen or len(sent):]:
                view.consume(content, buffers)
            if view.seen is not None:
                view.seen = len(sent)

    first = attach()
    speak(first)  # the first view speaks: patches may go
    for upto in range(6, len(recs) + 1):
        widget.update(lambda: plots.update(recs[:upto], now=T0 + 4.0))
        if upto == 14:
            second = attach()  # the worker labels were set long before: only the state can tell this view
        deliver()
        if upto == 16:
            speak(second)  # the second view exists and speaks
    assert first.errors == [] and second.errors == []
    for view in (first, second):
        for name in ("table", "curves", "timeline", "best"):
            assert repr(view.data(name)) == repr({k: list(v) for k, v in plots.sources[name].data.items()}), name
        axis = view.doc.get_model_by_name("hpo-worker-axis")
        assert dict(axis.major_label_overrides) == {0: "127.0.0.1:1", 1: "127.0.0.1:2"}
    patches = [c for c, _ in sent if c.get("payload", "").startswith('{"msgid"')]
    assert len(patches) <= len(recs) - 5  # one patch per redraw, whatever number of sources changed


def test_a_redraw_replays_the_journal_once_and_a_grown_journal_again(story, monkeypatch):
    """Every figure folds the same records: one replay per redraw (the kernel's CPU goes to the clicks)."""
    from hpo_kit.ui import data as D
    from hpo_kit.ui.plots import view_data

    calls = []
    replay = D.replay_records
    monkeypatch.setattr(D, "replay_records", lambda *a, **k: calls.append(1) or replay(*a, **k))
    recs = with_space(story)
    first = view_data(recs)
    assert len(calls) == 1
    grown = recs + [rec("trial_create", 9.0, trial=7, config={"lr": 0.3, "act": "relu"}, budget=3)]
    again = view_data(grown)
    assert len(calls) == 2 and 7 in again["sources"]["table"]["trial"] and 7 not in first["sources"]["table"]["trial"]
    assert repr(view_data(list(recs))["sources"]["table"]) == repr(first["sources"]["table"])  # another list: replayed
    assert len(calls) == 3
