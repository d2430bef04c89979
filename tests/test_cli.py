"""The command line: the demo (the README's main job), `show`, the help texts, the progress bar."""
from __future__ import annotations

import argparse
import io
import math
import re
import time

import pytest

import hpo_kit
from hpo_kit import read_journal
from hpo_kit.cli import main
from hpo_kit.engine.journal import Journal
from hpo_kit.goal import Goal
from hpo_kit.progress import Progress
from hpo_kit.results import trials_frame
from hpo_kit.trial import Trial, TrialStatus

# -- fixtures -------------------------------------------------------------------------------------------

#: (config, [(val_loss, val_acc) per epoch], status): trial 1 overfits (its best epoch is epoch 1).
TRIALS = [({"lr": 0.1, "activation": "relu"}, [(0.50, 0.80), (0.40, 0.85)], "COMPLETED"),
          ({"lr": 0.01, "activation": "tanh"}, [(0.30, 0.91), (0.45, 0.70)], "COMPLETED"),
          ({"lr": 0.9, "activation": "relu"}, [], "FAILED"),
          ({"lr": 0.05, "activation": "tanh"}, [(0.60, 0.75), (0.55, 0.78)], "COMPLETED")]


def make_trials() -> list[Trial]:
    out = []
    for tid, (config, epochs, status) in enumerate(TRIALS):
        reports = [{"epoch": e, "t": 1.0 + e, "metrics": {"val_loss": loss, "val_acc": acc}}
                   for e, (loss, acc) in enumerate(epochs, 1)]
        out.append(Trial(id=tid, config=config, status=TrialStatus(status), reports=reports, busy=1.5 + tid,
                         error="RuntimeError: " + "x" * 200 if status == "FAILED" else None))
    return out


def write_journal(path, metric: str, mode: str) -> None:
    """A finished study's journal, written record by record (no cluster)."""
    with Journal(path) as j:
        j.write("study_start", name="fake", goal={"metric": metric, "mode": mode, "score": "best"}, space={},
                optimizer={}, settings={}, dashboard=None)
        for tid, (config, epochs, status) in enumerate(TRIALS):
            j.write("trial_create", trial=tid, config=config, t=1.0)
            j.write("trial_start", trial=tid, worker="w", attempt=0, t=1.0)
            for e, (loss, acc) in enumerate(epochs, 1):
                j.write("report", trial=tid, epoch=e, metrics={"val_loss": loss, "val_acc": acc}, t=1.0 + e)
            j.write("trial_end", trial=tid, status=status, busy=1.5 + tid, t=5.0,
                    error="RuntimeError: " + "x" * 200 if status == "FAILED" else None)


def table_ids(text: str) -> list[int]:
    """The trial ids of a printed table, top to bottom."""
    return [int(m.group(1)) for m in re.finditer(r"^(\d+)\s", text, re.M)]


# -- help -----------------------------------------------------------------------------------------------

def test_help_is_plain_text_with_every_default_and_a_version(capsys):
    for argv in (["--help"], ["demo", "--help"], ["show", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
        text = capsys.readouterr().out
        assert "``" not in text and ":mod:" not in text and ":class:" not in text, text
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    demo_help = " ".join(capsys.readouterr().out.split())
    for shown in ("(default: 60)", "(default: 20)", "(default: bo)", "(default: a fresh one", "(default: one per core)"):
        assert shown in demo_help, demo_help
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"hpo-kit {hpo_kit.__version__}"
    from hpo_kit.cli import build_parser

    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for p in [parser, *subs.choices.values()]:
        helps = p._get_formatter()
        for action in p._actions:
            name = "/".join(action.option_strings) or action.dest
            assert action.help, f"{p.prog}: {name} has no help"
            if action.option_strings and action.default is not argparse.SUPPRESS:  # every option says its default
                assert "(default: " in helps._get_help_string(action) % vars(action), f"{p.prog}: {name}"


# -- show -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("metric,mode,order", [("val_loss", "min", [1, 0, 3, 2]), ("val_acc", "max", [1, 0, 3, 2])])
def test_show_sorts_best_first_and_chooses_columns(tmp_path, capsys, metric, mode, order):
    journal = tmp_path / "j.jsonl"
    write_journal(journal, metric, mode)
    assert main(["show", str(journal)]) == 0
    out = capsys.readouterr().out
    assert table_ids(out) == order  # best first, the FAILED trial (no score) last
    header = out.splitlines()[0].split()
    assert header == ["status", "score", "epochs", "busy", "config.lr", "config.activation"]
    assert max(map(len, out.splitlines())) <= 100 and "x" * 30 not in out
    assert main(["show", str(journal), "--columns", "score,best.val_acc,error"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["score", "best.val_acc", "error"]
    assert table_ids(out) == order and "x" * 30 not in out and "..." in out
    assert re.search(r"^1\s+0\.3\s+0\.91\s", out, re.M) or re.search(r"^1\s+0\.91\s+0\.91\s", out, re.M)
    assert main(["show", str(journal), "--columns", "score,nope"]) == 2
    assert "nope" in capsys.readouterr().err


# -- the progress bar -----------------------------------------------------------------------------------

def test_progress_bar_shows_count_rate_eta_and_the_running_count_it_is_given(monkeypatch, capsys):
    for columns in (200, 60):  # a narrow terminal cuts the bar, never the counts, ETA and rate
        monkeypatch.setattr("tqdm.std._screen_shape_wrapper", lambda: lambda fp: (columns, 20))  # a terminal
        capsys.readouterr()
        bar = Progress(10, "demo-20240101-120000")
        time.sleep(0.15)  # past tqdm's mininterval: the update draws the line
        bar.trial_ended(0.5, running=3)
        line = capsys.readouterr().err.split("\r")[-1]
        assert re.search(r" 1/10 \[\d\d:\d\d<\d\d:\d\d, +[\d.]+(trial/s|s/trial)", line), line
        if columns == 200:
            assert "best=0.5" in line and "running=3" in line, line  # this trial's numbers, not the last's
        bar.trial_ended(0.25, running=1)
        bar.close()
        last = capsys.readouterr().err.rstrip("\n").split("\r")[-1]
        assert " 2/10 [" in last and (columns != 200 or "running=1" in last), last


# -- the demo -------------------------------------------------------------------------------------------

class FakeStudy:
    """Stands in for Study: no cluster; the journal's study_start and the trials of :data:`TRIALS`."""

    made: list["FakeStudy"] = []

    def __init__(self, objective, space, *, metric, mode, optimizer, **kwargs):
        self.goal, self.optimizer, self.kwargs = Goal(metric, mode), optimizer, kwargs
        self.listeners, self.journal_path, self.trials = [], "fake.jsonl", {}
        self.seed = kwargs.get("seed") or 1234
        FakeStudy.made.append(self)

    def run(self, progress=True):
        for fn in self.listeners:
            fn({"event": "study_start", "dashboard": "http://127.0.0.1:8787/status"})
        self.trials = {t.id: t for t in make_trials()}
        return self

    @property
    def results(self):
        return trials_frame(self.trials.values(), self.goal)

    @property
    def best_trial(self):
        return min((t for t in self.trials.values() if t.score(self.goal) is not None),
                   key=lambda t: t.score(self.goal))


def test_demo_prints_the_dashboard_and_one_epochs_metrics_of_the_best_trial(monkeypatch, capsys):
    from hpo_kit.searchers.bo import TimeAwareBO

    monkeypatch.setattr(hpo_kit, "Study", FakeStudy, raising=False)
    assert main(["demo", "--trials", "4", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    study = FakeStudy.made[-1]
    assert isinstance(study.optimizer, TimeAwareBO) and study.goal == Goal("val_loss", "min")
    assert "Dask dashboard: http://127.0.0.1:8787/status" in out
    # trial 1's best val_loss (0.30) is at epoch 1, where val_acc was 0.91 (its last epoch: 0.70)
    assert "best trial 1 (epoch 1): val_loss=0.3000 val_acc=0.9100" in out, out
    top = out.split("Top 5")[1].split("best trial")[0]
    assert table_ids(top) == [1, 0, 3, 2] and "best.val_acc" in top


def test_demo_runs_a_real_study_and_show_reads_it(tmp_path, capsys):
    journal = tmp_path / "demo.jsonl"
    assert main(["demo", "--trials", "4", "--epochs", "2", "--workers", "2", "--optimizer", "bo",
                 "--journal", str(journal)]) == 0
    out = capsys.readouterr().out
    assert "4 trials, 4 completed" in out
    assert re.search(r"^Dask dashboard: http://127\.0\.0\.1:\d+/status$", out, re.M), out
    m = re.search(r"^best trial (\d+) \(epoch (\d+)\): val_loss=.*$", out, re.M)
    assert m and "val_acc=" in m.group(0), out
    records = list(read_journal(journal))
    ends = [r for r in records if r["event"] == "trial_end"]
    assert len(ends) == 4 and all(r["status"] == "COMPLETED" for r in ends)
    best, epoch = int(m.group(1)), int(m.group(2))
    reports = {r["epoch"]: r["metrics"] for r in records if r["event"] == "report" and r["trial"] == best}
    assert math.isclose(min(r["val_loss"] for r in reports.values()), reports[epoch]["val_loss"])
    for name in ("val_loss", "val_acc", "train_loss"):  # every value from that one epoch
        assert f" {name}={reports[epoch][name]:.4f}" in m.group(0), (m.group(0), reports)
    assert main(["show", str(journal)]) == 0
    shown = capsys.readouterr().out
    assert "COMPLETED" in shown and "config.lr" in shown and table_ids(shown)[0] == best
