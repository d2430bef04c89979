"""Replay a recorded table: any searcher x scheduler x monitor on the virtual clock.

:func:`replay` runs :func:`hpo_kit.engine.simulator.simulate` with the table as the objective:

* **Configurations.** Searchers search :meth:`Table.replay_space` - the space the table was
  recorded from (when the table says), else one Categorical dimension per config key over the
  table's values. A proposed configuration trains as the table's *nearest row*
  (:meth:`Table.nearest`: the row with equal config if there is one, else the one at the
  smallest :func:`~hpo_kit.bench.table.distance`: every categorical value matched when some row
  has them, then the closest numeric values in unit coordinates). The trial keeps the
  searcher's configuration (a surrogate learns on its own points); :func:`row_of` names the row.
  So random search over the recorded space draws rows in proportion to the volume nearest to
  them - uniform in expectation when the rows were themselves drawn uniformly from that space -
  with repeats once a search runs more trials than the table has rows.
* **Epochs.** Epoch ``e`` reports the row's recorded metrics and ``diag`` statistics, after the
  row's recorded seconds for that epoch (per-epoch times), so a monitor sees what the real
  training showed, and a trial resumed by ASHA continues the same curve.
* **Clock.** ``time_budget`` is hard (trials cut at it), ``target`` stops the run, the runaway
  guard is on, and ``decision_time=True`` counts the policy's (and monitor's) CPU time on the
  clock; all times are virtual seconds (see :mod:`hpo_kit.engine.simulator`).
"""
from __future__ import annotations

from typing import Any

from ..engine.simulator import SimResult, simulate
from ..trial import Trial
from .table import Row, Table


def replay(table: Table, optimizer: Any = None, *, searcher: Any = None, scheduler: Any = None, monitor: Any = None,
           on_flag: str = "stop", n_workers: int = 8, n_trials: int | None = None, time_budget: float | None = None,
           target: float | None = None, decision_time: bool = False, max_events: int | None = None) -> SimResult:
    """Run a policy over ``table`` (see the module docstring); returns the :class:`SimResult`.

    Parameters
    ----------
    optimizer, searcher, scheduler
        As for :class:`~hpo_kit.Study`: a name (``"random"``, ``"asha"``, ...) or policy object, or a
        searcher and/or a scheduler (:func:`hpo_kit.optimizers.make_policy`).
    monitor, on_flag
        A monitor (e.g. :class:`~hpo_kit.diagnosis.Diagnosis`) and what its findings do.
    n_workers, n_trials, time_budget, target, decision_time, max_events
        As for :func:`~hpo_kit.engine.simulator.simulate`; at least one of ``n_trials``,
        ``time_budget``, ``target`` or a finite policy, or the runaway guard raises.

    Raises
    ------
    ValueError
        If the table has no complete row (``max_epochs`` epochs).
    """
    from ..optimizers import make_policy

    full = table.complete()
    if not full.rows:
        raise ValueError(f"replay: no row of the table has its {table.max_epochs} epochs")
    policy = make_policy(optimizer, searcher, scheduler)
    return simulate(policy, full.replay_space(), full.goal, lambda c, e: full.nearest(c).report(e),
                    epoch_time=lambda c, e: float(full.nearest(c).epochs[e - 1].get("seconds", 0.0)),
                    n_workers=n_workers, n_trials=n_trials, max_epochs=full.max_epochs, time_budget=time_budget,
                    max_events=max_events, monitor=monitor, on_flag=on_flag, target=target,
                    decision_time=decision_time)


def row_of(table: Table, trial: Trial) -> Row:
    """The table row a replayed trial trained as."""
    return table.nearest(trial.config)


def full_trial_seconds(table: Table) -> float:
    """Mean seconds of a full trial over the table's complete rows (to size time budgets)."""
    rows = table.complete().rows
    return sum(sum(r.seconds()[:table.max_epochs]) for r in rows) / max(1, len(rows))
