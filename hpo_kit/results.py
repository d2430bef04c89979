"""Tabular views of a study's trials (pure functions over trial records)."""
from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

from .goal import Goal
from .trial import Trial

COLUMNS = ["status", "score", "epochs", "duration", "busy", "worker", "parent", "attempt", "flags", "reason",
           "error", "traceback"]


def trials_frame(trials: Iterable[Trial], goal: Goal) -> pd.DataFrame:
    """One row per trial, indexed by trial id.

    Columns: ``config.<name>`` for each hyperparameter, the fields in :data:`COLUMNS`, and
    ``last.<metric>`` for each metric of the last report. ``score`` is NaN when the trial
    has no finite score.
    """
    rows = []
    for t in trials:
        score = t.score(goal)
        row = {"trial_id": t.id, **{f"config.{k}": v for k, v in t.config.items()},
               "status": t.status.value, "score": math.nan if score is None else score, "epochs": t.epochs,
               "duration": t.duration, "busy": t.busy, "worker": t.worker, "parent": t.parent,
               "attempt": t.attempt, "flags": ",".join(f["indicator"] for f in t.flags) or None,
               "reason": t.reason, "error": t.error, "traceback": t.traceback}
        if t.reports:
            row.update({f"last.{k}": v for k, v in t.reports[-1]["metrics"].items()})
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=COLUMNS).rename_axis("trial_id")
    return pd.DataFrame(rows).set_index("trial_id").sort_index()
