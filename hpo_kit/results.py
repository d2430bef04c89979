"""Tabular views of a study's trials (pure functions over trial records).

``source`` says where a trial's configuration came from, as its searcher journalled it in
``Start.info["source"]`` at creation: ``"initial"`` (a random start), ``"surrogate"`` (a model's
proposal), ``"random"`` (random search, or BO's fallback while no model was ready),
``"duplicate"`` (BO's candidates all equal running trials' configurations, so a random
point), ``"enqueued"`` (``study.enqueue``, :mod:`hpo_kit.known`), ``"grid"``, ``"neighbour"``
(Hypersearch), an ask/tell sampler's class name; ``None`` where the searcher said nothing.
It is read from the trial record's ``info`` (the ``info`` its :class:`~hpo_kit.decisions.Start`
carried), so a user sees in ``study.results`` when BO is not being Bayesian.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

from .goal import Goal
from .trial import Trial

COLUMNS = ["status", "score", "source", "epochs", "duration", "busy", "worker", "parent", "attempt", "flags",
           "reason", "error", "traceback"]


def source_of(trial: Trial) -> str | None:
    """Where ``trial``'s configuration came from (``info["source"]`` of its Start; module docstring)."""
    info = getattr(trial, "info", None)
    source = info.get("source") if isinstance(info, dict) else None
    return None if source is None else str(source)


def trials_frame(trials: Iterable[Trial], goal: Goal, names: Iterable[str] = ()) -> pd.DataFrame:
    """One row per trial, indexed by trial id.

    Columns: ``config.<name>`` for each hyperparameter (first, in the order of ``names``, the
    space's, then any others; NaN where a conditional dimension was inactive), the fields in
    :data:`COLUMNS`, and ``last.<metric>`` for each metric of the last report. ``score`` is NaN
    when the trial has no finite score. Trials that reported constraints add ``violation``
    (0: feasible) and ``constraint.<name>``.
    """
    rows = []
    for t in trials:
        score = t.score(goal)
        row = {"trial_id": t.id, **{f"config.{k}": v for k, v in t.config.items()},
               "status": t.status.value, "score": math.nan if score is None else score, "source": source_of(t),
               "epochs": t.epochs,
               "duration": t.duration, "busy": t.busy, "worker": t.worker, "parent": t.parent,
               "attempt": t.attempt, "flags": ",".join(f["indicator"] for f in t.flags) or None,
               "reason": t.reason, "error": t.error, "traceback": t.traceback}
        if t.reports:
            row.update({f"last.{k}": v for k, v in t.reports[-1]["metrics"].items()})
        constraints = t.constraints
        if constraints is not None:  # only studies with constraints get these columns
            row["violation"] = t.violation
            row.update({f"constraint.{k}": v for k, v in constraints.items()})
        rows.append(row)
    if not rows:
        frame = pd.DataFrame(columns=COLUMNS).rename_axis("trial_id")
    else:
        df = pd.DataFrame(rows).set_index("trial_id").sort_index()
        # pandas orders columns by first appearance: a name inactive in the first trial would land after its metrics
        config = [c for c in dict.fromkeys([f"config.{n}" for n in names] + list(df.columns))
                  if c in df.columns and c.startswith("config.")]
        frame = df[config + [c for c in df.columns if c not in config]]
    frame.attrs["metric"] = goal.metric  # what ``score`` scores (a warm start reads it)
    return frame
