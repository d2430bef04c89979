"""A journal's trials as a file: CSV (pandas alone) or Parquet (pandas with pyarrow or fastparquet).

The table is ``study.results`` of the journal's trials (:func:`~hpo_kit.results.trials_frame`)
with the ``best.<metric>`` columns of ``hpo-kit show``: one row per trial, indexed by trial id.
Behind ``hpo-kit export JOURNAL --to csv|parquet [-o PATH]``.
"""
from __future__ import annotations

import importlib.util
import os
from typing import Any

FORMATS = ("csv", "parquet")
PARQUET_ENGINES = ("pyarrow", "fastparquet")


def journal_frame(journal: str | os.PathLike) -> Any:
    """The trials of ``journal`` as a DataFrame (``study.results`` plus ``best.<metric>`` columns).

    Raises
    ------
    FileNotFoundError
        If there is no file at ``journal``.
    ValueError
        If it is no journal (no ``study_start`` record).
    """
    from .cli import with_best_metrics
    from .engine.replay import replay
    from .goal import Goal
    from .results import trials_frame

    rep = replay(journal)
    goal = Goal(**rep.start["goal"])
    trials = list(rep.trials.values())
    return with_best_metrics(trials_frame(trials, goal), trials, goal)


def default_output(journal: str | os.PathLike, to: str) -> str:
    """``runs/study.jsonl`` -> ``runs/study.csv`` (or ``.parquet``)."""
    root, _ = os.path.splitext(os.fspath(journal))
    return f"{root}.{to}"


def check_format(to: str) -> None:
    """Raise before anything is read: an unknown format, or Parquet without an engine (naming the package).

    Raises
    ------
    ValueError
        For ``to`` not in :data:`FORMATS`.
    ImportError
        For ``"parquet"`` when neither pyarrow nor fastparquet is installed.
    """
    if to not in FORMATS:
        raise ValueError(f"export: to={to!r} must be one of {list(FORMATS)}")
    if to == "parquet" and not any(importlib.util.find_spec(e) for e in PARQUET_ENGINES):
        raise ImportError("export: Parquet needs the pyarrow package, which is not installed: pip install pyarrow "
                          "(or use --to csv)")


def export_trials(journal: str | os.PathLike, to: str = "csv", out: str | os.PathLike | None = None) -> str:
    """Write the trials of ``journal`` as ``to`` (``"csv"`` or ``"parquet"``); returns the path written.

    Parameters
    ----------
    journal
        The study's journal (``.jsonl``).
    to
        The format.
    out
        Where to write (default: the journal's path with the format's suffix).
    """
    check_format(to)
    df = journal_frame(journal)
    path = os.fspath(out) if out is not None else default_output(journal, to)
    if to == "csv":
        df.to_csv(path)
    else:
        _parquet_safe(df).to_parquet(path)
    return path


def _parquet_safe(df: Any) -> Any:
    # Parquet columns have one type: a categorical dimension of mixed choices (1, "auto") or an error
    # column of strings and None pickles fine in CSV but not there. Mixed object columns become text.
    out = df.copy()
    for name in out.columns:
        col = out[name]
        if col.dtype == object:
            kinds = {type(v) for v in col if v is not None and v == v}
            if len(kinds) > 1 or (kinds and not kinds <= {str, bool, int, float}):
                out[name] = col.map(lambda v: None if v is None else str(v))
    return out
