"""The command line: the demo (the README's main job) and `show`."""
from __future__ import annotations

from hpo_kit import read_journal
from hpo_kit.cli import main


def test_demo_runs_a_real_study_and_show_reads_it(tmp_path, capsys):
    journal = tmp_path / "demo.jsonl"
    assert main(["demo", "--trials", "4", "--epochs", "2", "--workers", "2", "--optimizer", "bo",
                 "--journal", str(journal)]) == 0
    out = capsys.readouterr().out
    assert "best trial" in out and "val_acc=" in out and "4 trials, 4 completed" in out
    ends = [r for r in read_journal(journal) if r["event"] == "trial_end"]
    assert len(ends) == 4 and all(r["status"] == "COMPLETED" for r in ends)
    assert main(["show", str(journal)]) == 0
    shown = capsys.readouterr().out
    assert "COMPLETED" in shown and "config.lr" in shown
