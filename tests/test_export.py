"""Export: `hpo-kit export JOURNAL --to csv|parquet` and hpo_kit.ui.save (standalone HTML, PNG)."""
from __future__ import annotations

import importlib.util
import shutil

import pandas as pd
import pytest

from hpo_kit import Real, Study
from hpo_kit.cli import main
from hpo_kit.testing import failing

SPACE = {"x": Real(0, 1)}


@pytest.fixture(scope="module")
def journal(tmp_path_factory, client):
    """A journal of 6 trials (some FAILED), 4 run, then 2 more after a resume."""
    path = tmp_path_factory.mktemp("export") / "study.jsonl"
    Study(failing, SPACE, n_trials=4, cluster=client, journal=path, seed=4).run(progress=False)
    Study.resume(path, n_trials=6, cluster=client).run(progress=False)
    return path


def test_export_csv_writes_every_trial_beside_the_journal_or_where_told(journal, tmp_path, capsys):
    assert main(["export", str(journal)]) == 0
    default = journal.with_suffix(".csv")
    assert capsys.readouterr().out.strip() == str(default)
    df = pd.read_csv(default, index_col="trial_id")
    assert list(df.index) == list(range(6)) and {"FAILED", "COMPLETED"} <= set(df.status)
    assert {"config.x", "score", "status", "error", "best.loss"} <= set(df.columns)
    out = tmp_path / "trials.csv"
    assert main(["export", str(journal), "--to", "csv", "-o", str(out)]) == 0
    assert pd.read_csv(out, index_col="trial_id").equals(df)


def test_export_parquet_or_a_clear_error_naming_pyarrow(journal, tmp_path, capsys):
    out = tmp_path / "trials.parquet"
    code = main(["export", str(journal), "--to", "parquet", "-o", str(out)])
    if importlib.util.find_spec("pyarrow") or importlib.util.find_spec("fastparquet"):
        assert code == 0 and len(pd.read_parquet(out)) == 6
    else:
        assert code == 2 and not out.exists()
        assert "pip install pyarrow" in capsys.readouterr().err


def test_export_of_no_journal_says_so(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope.jsonl")]) == 1
    assert "no journal" in capsys.readouterr().err


def test_save_writes_standalone_html_of_the_panels_figures(journal, tmp_path):
    from hpo_kit import ui

    out = ui.save(journal, tmp_path / "plots.html")
    page = (tmp_path / "plots.html").read_text()
    assert out == str(tmp_path / "plots.html")
    assert "<script src=" not in page and len(page) > 500_000  # BokehJS inline: the file opens offline
    for title in ("Learning curves", "Best loss so far", "Workers: which trial ran when", "Configurations"):
        assert title in page, title
    with pytest.raises(FileNotFoundError, match="no journal"):
        ui.save(tmp_path / "missing.jsonl", tmp_path / "x.html")


@pytest.mark.skipif(not (importlib.util.find_spec("playwright") and shutil.which("chromium")),
                    reason="PNG needs playwright and chromium")
def test_save_png_is_an_image_of_the_page(journal, tmp_path):
    from hpo_kit import ui

    ui.save(journal, tmp_path / "plots.png")
    data = (tmp_path / "plots.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_save_png_without_a_browser_names_what_to_install(journal, tmp_path, monkeypatch):
    from hpo_kit import ui

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("playwright", "selenium")
                        else real(name, *a))
    with pytest.raises(RuntimeError, match="pip install playwright"):
        ui.save(journal, tmp_path / "plots.png")
    assert not (tmp_path / "plots.png").exists()
