"""Time-aware asynchronous Bayesian optimisation (seed: time-constrained-parallel-bo.md), as a searcher.

The cost told to the surrogate is ``Z = L + b*T`` until a switch point and ``Z = L`` after
it, so that early trials favour cheap configurations and later ones recover accuracy.

Units. ``L`` is the trial's told loss (minimisation orientation, the engine's one rule) and
``T`` the observation's ``duration`` (busy seconds), in seconds or in median trials
(``time_unit``, default ``"median"``: then ``b = 0.1`` means "a trial of median length
costs 0.1 of loss" on any hardware); the rules are in :mod:`.cost`.

Asynchronous parallel BO: every worker starts on its own random configuration
(``max(n_initial_points, concurrency)`` random starts); afterwards each new trial gets a point
the surrogate proposes from all results told so far and, by default, the running trials
(those with no result yet) told the model's own posterior mean there
(``strategy="kriging_believer"``, :mod:`.pending`), so the next worker is sent elsewhere than
where a trial already runs. ``strategy="none"`` is the seed's asynchronous BO *without
prediction* (running trials are only never proposed twice); ``"constant_liar"`` tells them
the lowest cost so far (skopt's ``cl_min``).

Why the believer is the default (issue 24, "why the GP search loses to Optuna 5"): with 8
workers and no prediction, each refit's best candidate ignores the seven trials running, so
workers pile onto one region. Measured on the four HPOLib FCNet tables (``benchmarks/tabular.py``,
8 workers, 50 trials, 6 paired seeds, docs/benchmarks.md 2026-12-07): median trials finished at
the target (protein / naval / parkinsons / slice) 25 / 29.5 / 37 / 27.5 without prediction,
20.5 / 30.5 / 36.5 / 21.5 with the believer; median virtual time to it 908 / 375 / 294 / 2334 s
against 693 / 428 / 194 / 1402 s (geometric mean 695 -> 533 s), its extra model fit included
(decision CPU per 50-trial run 10.3 -> 16.7 s; 10.5 s now that the fit on the believed points keeps the
results' kernel). That screen refitted the kernel; the adopted version, 6 paired seeds against no
prediction: time to target 1.31x / 0.78x / 0.53x / 0.58x. With the acquisition sampled on discrete
spaces (:func:`.surrogate.acq_optimizer`) it still trails GPSampler (10 seeds: 1.14x / 1.14x /
1.42x / 1.23x its time to target; docs/benchmarks.md).

Running trials are read from the study's ledger (:attr:`Searcher.trials`, issue 22 item 8),
never from a private mirror: a trial killed with ``discard=True`` is never told, and a
mirror kept it running for ever (a permanent liar point, a wrong ``n_pending``, and a live
study proposing otherwise than its resumed copy). A background refit woken by an ask reads
the ledger when it starts; should it start before the engine has recorded the new trial
(microseconds), the next result's refit includes it.

Random points (the initial ones and every fallback) come from :meth:`Policy.rng` of the
trial id, a pure function of ``(seed, trial_id)``; each refit's seed is derived from
``(seed, number of told trials)``. So a searcher rebuilt by :meth:`restore` draws and
refits exactly as an uninterrupted one would, without replaying any generator.

Intermediate results (under ASHA, Hyperband, ...), BOHB-style (Falkner et al. 2018):
:meth:`tell` receives every observation and the searcher keeps per trial its latest one
(``epochs``, ``loss``, ``duration``) at each budget it reached. Each refit is fitted on the
observations at the highest budget (``epochs``) measured by at least ``n_min = len(space) + 2``
trials, else on every trial's latest (:mod:`.cost` documents the details);
``Start.info["budget"]`` journals the budget a surrogate point's model was fitted on
(``None``: mixed). Under FIFO every observation is final at the study's full budget, so
nothing changes there. A failed or NaN trial is fitted at a penalty above every finite cost
(:func:`.cost.fit_costs`); nothing is fitted while no finite loss exists.

Latency. A skopt refit takes seconds at a few hundred observations, so in the default
``background=True`` mode the searcher refits on a daemon thread: :meth:`ask` returns at
once the best unused candidate of the newest refit and journals in ``Start.info`` how many
results that surrogate lacked. With ``background=False`` every refit happens inside the
calls, so seeded runs (tests, the simulator benchmarks) are reproducible.

A refit never leaves a freed worker with a random point (issue 24; ``tests/test_bo_share.py``
drives this on a virtual clock). Measured before on a new user's small CNN on digits (2
workers, load 6-7): 5 of 12 suggestions after the initial points were random, for two reasons,
each fixed here:

* the first refit started only at the last initial ask, so the asks during it got random
  points. Background refits now start as soon as two results are told and the surrogate is
  needed within the next batch of asks (``2 * concurrency``), so a model is ready (or being
  fitted on the first results) when the initial points run out;
* a refit yields a batch of ``2 * concurrency`` distinct candidates from its one fitted
  model (:mod:`.surrogate`), given out in rank order as workers free up; when refits were
  slower than the batch lasted, the searcher fell back to random points. It now takes further
  candidates from the newest model's ranked pool (ranks past the batch, about a millisecond:
  :meth:`Proposal.extend`), so once a model exists every ask is a model's proposal.

What can remain random: the asks made before the study's *first* model lands (with many
workers and ``prefetch`` queued trials the initial points run out after only a few results;
they are journalled as ``"initial"``), and the asks after a cost change until the refit
under the new cost lands (old candidates are dropped, ``"random"``).

Near a running trial (``min_distance``, a fraction of the unit cube's diagonal). Without
prediction, the model that chose a running trial's point has not changed much by the next
ask, so its best candidate may lie next to that point again. With ``min_distance > 0`` a
candidate that close to a running (or paused) trial's configuration is skipped for the next
one (nothing is predicted about running trials). The default ``0`` skips only equal
configurations: measured on FCNet naval / parkinsons (8 workers, 40 trials, 12 paired seeds,
``benchmarks/tabular_compare.py``), ``min_distance=0.1`` changed the trials to the target by
0.89x [0.75, 1.09] / 1.00x [0.86, 1.09] and the best loss at the end by 0.96x / 1.03x
(Wilcoxon p 0.94 / 0.82): no measured difference, so the default stays. Constant liar
(``cl_min``, skopt's) was worse there (naval: 3 of 6 seeds reached the target, against 6).
(Those figures are of ``strategy="none"``, the default then.)

Journal. Each ``Start.info`` holds ``phase``, ``cost``, ``lacked`` (results the surrogate had
not seen) and ``source`` (also the ``source`` column of ``study.results``): ``"initial"`` (a
random start: the first ``max(n_initial_points, concurrency)`` trials, and those asked before
the study's first model landed or before two results existed), ``"surrogate"`` (with ``rank``,
its position in its model's candidates, and ``budget``), ``"random"`` (a model existed but
offered nothing usable: a refit failed, or a cost change dropped its candidates) or
``"duplicate"`` (every candidate of the model's pool was near a running trial's configuration).

Switching. The switch (by finished trials, by elapsed seconds since :meth:`setup`, or by
:meth:`switch`) is one-way. Any change of the cost (the switch, a new ``b``) refits the
surrogate on the whole history under the new cost; candidates chosen under the old cost
are dropped. In a running study call ``study.tune(b=...)`` or
``study.tune(switch_after_trials=0)`` (an immediate, journalled switch); a direct
``searcher.switch()`` takes effect but is not journalled, so a restart would not replay it.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..decisions import Start
from ..goal import Goal
from ..space import Space
from ..trial import Observation, Trial
from .base import Searcher
from .bo_refit import RefitCycle
from .conditional import to_point  # flat spaces: surrogate.py's own
from .cost import STRATEGIES, History, TimeCost, check_choice, check_distance, check_initial, finite_losses, learn
from .feasibility import worst_constraint
from .refits import RefitThread, warm_up
from .surrogate import ACQ_FUNCS, Proposal, check_estimator


class TimeAwareBO(RefitCycle, TimeCost, Searcher):
    """Asynchronous BO over scikit-optimize whose cost trades loss against trial time.

    Parameters
    ----------
    b
        Time penalty ``b >= 0`` of ``Z = L + b*T`` before the switch; ``0`` is standard BO.
        Choose it on the scale of your loss (see ``time_unit``).
    switch_after_trials
        Switch to ``Z = L`` once this many trials have finished (``None``: not by count).
    switch_after_seconds
        Switch once this many seconds have passed since :meth:`setup` (``None``: not by time).
    time_unit
        ``"median"`` (T in median trial durations) or ``"seconds"``; see the module docstring.
    n_initial_points
        Random configurations before the surrogate is used; at least ``concurrency`` are
        drawn so that every worker starts on its own random configuration.
    base_estimator
        Surrogate model: ``"GP"``, ``"RF"`` or ``"ET"`` (``GBRT``/``DUMMY`` are refused:
        they fail with scikit-optimize 0.10.2 on scikit-learn >= 1.6).
    acq_func
        ``"EI"``, ``"PI"``, ``"LCB"`` or ``"gp_hedge"`` (its gains carry over between refits
        of one cost). ``"EI"`` by default: one acquisition per refit, the cheapest.
    strategy
        ``"kriging_believer"`` (running trials told the posterior mean; module docstring),
        ``"none"`` (the seed: no prediction of running trials) or ``"constant_liar"``.
    min_distance
        A candidate closer than this fraction of the unit cube's diagonal to a running (or
        paused) trial's configuration is skipped for the next one (module docstring); ``0``
        (the default) skips only equal configurations.
    seed
        Seed of the random points and of every refit; ``None``: the study's seed (fresh entropy unless
        ``Study(seed=...)``).
    background
        Refit on a daemon thread (``True``, for studies) or inside the calls (``False``,
        reproducible; for tests and simulations).
    clock
        Seconds for ``switch_after_seconds`` (default ``time.monotonic``; a simulator may
        pass its virtual clock).
    """

    name = "bo"

    def __init__(self, b: float = 0.0, *, switch_after_trials: int | None = None,
                 switch_after_seconds: float | None = None, time_unit: str = "median", n_initial_points: int = 10,
                 base_estimator: str = "GP", acq_func: str = "EI", strategy: str = "kriging_believer",
                 min_distance: float = 0.0, seed: int | None = None, background: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(seed)
        self._init_cost(b, switch_after_trials, switch_after_seconds, time_unit, clock)
        self.n_initial_points = check_initial(n_initial_points)
        self.acq_func = check_choice("acq_func", acq_func, ACQ_FUNCS)
        self.strategy = check_choice("strategy", strategy, STRATEGIES)
        self.min_distance = check_distance(min_distance)
        self.base_estimator = check_estimator(base_estimator)
        self.background = bool(background)
        self._lock = threading.RLock()
        self._thread: RefitThread | None = None
        self._reset()

    def _reset(self) -> None:
        self._told: dict[int, History] = {}  # per trial, its finite-loss observation at each budget
        self._finished: set[int] = set()
        self._n_started = 0
        self._dirty = False
        self._proposal: Proposal | None = None
        self._used: set[int] = set()  # ranks of the newest batch already given to a trial
        self._n_refits = 0
        self._had_model = False  # a surrogate was published (or a history restored): a gap is a fallback
        self._last_refit: dict[str, Any] | None = None
        self._error: str | None = None
        self._reset_cost()

    # -- the Searcher interface ----------------------------------------------------------------
    def setup(self, space: Space, goal: Goal, concurrency: int = 1) -> None:
        super().setup(space, goal, concurrency)
        self.close()
        with self._lock:
            self._reset()
        if self.background:
            self._start_thread()

    def ask(self, trial_id: int) -> Start:
        assert self.space is not None, "call setup() first"
        with self._lock:
            self._check_switch()
            if not self.background and self._initial_done and self._wants_refit():
                self._refit_once()  # synchronous mode: the surrogate knows every result
            config, info = self._next_config(trial_id)
            self._n_started += 1
            if self.strategy != "none" or (self._proposal is None and self._model_wanted):
                self._touch()  # a new running point (lied about or believed), or the surrogate is needed soon
        return Start(config, info=info)

    def tell(self, obs: Observation) -> None:
        with self._lock:
            epoch = self._epoch
            self._learn(obs)
            self._refit_if_cost_changed(epoch)

    def _learn(self, obs: Observation) -> None:
        if obs.final:
            self._finished.add(obs.trial_id)
        trial = self.record(obs.trial_id)
        learn(self._told, obs, to_point(self.space, obs.config),
              worst_constraint(trial.constraints) if trial is not None else None)
        self._touch()
        self._check_switch()

    def restore(self, trials: Sequence[Trial], observations: Sequence[Observation]) -> None:
        """Re-learn the journal's history under the current cost and continue the clock.

        Random points need no replay (they are drawn per trial id), so this only rebuilds
        what was told and the elapsed time (which trials run, the ledger says); one refit follows.
        """
        with self._lock, self.restoring(trials):  # the ledger is not bound yet: constraints from the journal
            for obs in observations:
                self._learn(obs)
            self._n_started = max(self._n_started, len(trials))
            self._had_model = self._had_model or (len(self._told) >= 2 and bool(finite_losses(self._told, 1)))
            stamps = [s for t in trials for s in (t.created, t.started, t.ended) if s]
            self._elapsed_offset = (max(stamps) - min(stamps)) if stamps else 0.0
            self._check_switch()
            self._touch()
            if not self.background and self._initial_done and self._wants_refit():
                self._refit_once()

    def _start_thread(self) -> None:
        self._thread = RefitThread(self._refit_job, name=f"hpo-kit-bo-refit-{id(self):x}", warm_up=warm_up)

    def close(self) -> None:
        """Stop the refit thread (the searcher can still propose random points)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.close(timeout=60)

    # -- views (phase, cost and elapsed are TimeCost's) -----------------------------------------------------
    @property
    def n_min(self) -> int:
        """Points a budget needs before the surrogate is fitted on it alone (BOHB's rule)."""
        return len(self.space) + 2 if self.space is not None else 2

    @property
    def surrogate(self) -> Any:
        """The skopt ``Optimizer`` of the newest refit (its ``yi`` are the told costs), or ``None``."""
        with self._lock:
            return None if self._proposal is None else self._proposal.model

    def params(self) -> dict[str, Any]:
        return {"seed": self.seed, "b": self.b, "switch_after_trials": self.switch_after_trials,
                "switch_after_seconds": self.switch_after_seconds, "time_unit": self.time_unit,
                "n_initial_points": self.n_initial_points, "base_estimator": self.base_estimator,
                "acq_func": self.acq_func, "strategy": self.strategy, "min_distance": self.min_distance,
                "background": self.background}

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {"b": self.b, "phase": self.phase, "cost": self.cost, "time_unit": self.time_unit,
                    "switch_after_trials": self.switch_after_trials,
                    "switch_after_seconds": self.switch_after_seconds, "switched": self._switched,
                    "n_observations": self._n_observations, "n_trials_told": len(self._told),
                    "n_finished": len(self._finished), "n_pending": len(self.live_trials()), "refits": self._n_refits,
                    "last_refit": self._last_refit,
                    "error": self._error or (self._thread.error if self._thread else None)}

    # -- refits --------------------------------------------------------------------------------------
    @property
    def _n_initial(self) -> int:
        return max(self.n_initial_points, self.concurrency)

    @property
    def _batch(self) -> int:
        # Candidates per refit: the trials that may start before the next refit lands, plus as
        # many spares for candidates skipped as equal to a running trial (module docstring).
        return 2 * max(1, self.concurrency)

    def _on_new_cost(self) -> None:  # a point chosen under the old cost is not offered
        self._proposal, self._used = None, set()
        self._touch()

    def _touch(self) -> None:
        self._dirty = True
        if self._thread is not None and self._wants_refit():
            self._thread.wake()

    @property
    def _initial_done(self) -> bool:
        # Results told without asks (a restart, a warm start) count as initial points.
        return max(self._n_started, len(self._finished), len(self._told)) >= self._n_initial

    @property
    def _n_observations(self) -> int:
        return sum(len(h) for h in self._told.values())

    @property
    def _model_wanted(self) -> bool:
        # The surrogate is needed now, or within the next batch of asks: a background refit starts
        # that early, so the first ask after the initial points finds a model (module docstring).
        return self._initial_done or self._n_started + self._batch >= self._n_initial

    def _wants_refit(self) -> bool:
        return self._dirty and len(self._told) >= 2 and self._model_wanted and bool(finite_losses(self._told, 1))

    # -- pickling (the study saves its searcher beside the journal) ---------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_lock"], state["_thread"], state["_proposal"], state["_used"] = None, None, None, set()
        state["_dirty"] = bool(self._told)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()
        if self.background and self.space is not None:
            self._start_thread()
