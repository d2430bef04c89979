"""Time-aware asynchronous Bayesian optimisation (seed: time-constrained-parallel-bo.md).

The cost told to the surrogate is ``Z = L + b*T`` until a switch point and ``Z = L`` after
it, so that early trials favour cheap configurations and later ones recover accuracy.

Units. ``L`` is the trial's told loss (minimisation orientation, the engine's one rule).
``T`` depends on ``time_unit``:

* ``"median"`` (default): ``T = duration / median duration of the told trials``. Then
  ``b = 0.1`` means "a trial of median length costs 0.1 of loss", whatever the hardware,
  so a value of ``b`` carries over between machines and models. The median is taken
  over the whole history at every refit, so all trials are always on the same scale.
* ``"seconds"``: ``T`` is the duration in seconds (``b`` is loss per second).

``duration`` is the time the trial trained (its busy seconds): a stopped trial counts the
time it ran before it was stopped; a trial without a usable duration counts as median.

Asynchronous parallel BO *without prediction* (the seed): every worker starts on its own
random configuration (``max(n_initial_points, concurrency)`` random starts); afterwards
each free worker gets the point the surrogate proposes from all results told so far.
``strategy="constant_liar"`` instead tells running trials a lie (the lowest cost so far,
skopt's ``cl_min``) before asking, for comparison.

Latency. A skopt refit takes seconds at a few hundred observations, so in the default
``background=True`` mode the policy refits on a daemon thread: :meth:`suggest` returns the
newest unused proposed point at once (a random point while none is ready) and journals in
``Start.info`` how many results that surrogate lacked. One proposal serves one suggestion:
a second free worker gets a random point rather than a copy of the first one's. With
``background=False`` every refit happens inside the calls, so seeded runs (tests, the
simulator benchmarks) are reproducible.

Journal. Each ``Start.info`` holds ``phase``, ``cost``, ``lacked`` (results the surrogate had
not seen) and ``source``: ``"initial"`` (a random start), ``"surrogate"``, ``"random"`` (no
unused proposal was ready) or ``"duplicate"`` (the proposal was a running trial's
configuration, so a random point was sent instead).

Switching. The switch (by finished trials, by elapsed seconds since :meth:`setup`, or by
:meth:`switch`) is one-way. Any change of the cost (the switch, a new ``b``) refits the
surrogate on the whole history under the new cost; proposals made under the old cost are
dropped. In a running study call ``study.tune(b=...)`` or
``study.tune(switch_after_trials=0)`` (an immediate, journalled switch); a direct
``optimizer.switch()`` takes effect but is not journalled, so a restart would not replay it.
"""
from __future__ import annotations

import math
import statistics
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..goal import Goal
from ..space import Space
from ..trial import Observation, Trial
from .base import Optimizer, Start
from .surrogate import ACQ_FUNCS, Proposal, RefitThread, Snapshot, check_estimator, refit, to_point, warm_up

STRATEGIES = ("none", "constant_liar")
TIME_UNITS = ("median", "seconds")


@dataclass(frozen=True)
class _Told:
    point: list[Any]  # the skopt point, mapped once: snapshots are taken under the lock
    loss: float
    duration: float


class TimeAwareBO(Optimizer):
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
        ``"none"`` (the seed: no prediction of running trials) or ``"constant_liar"``.
    seed
        Seed of the random points and of every refit; ``None`` for fresh entropy.
    background
        Refit on a daemon thread (``True``, for studies) or inside the calls (``False``,
        reproducible; for tests and simulations).
    clock
        Seconds for ``switch_after_seconds`` (default ``time.monotonic``; a simulator may
        pass its virtual clock).
    """

    name = "bo"
    live_params = ("b", "switch_after_trials", "switch_after_seconds")

    def __init__(self, b: float = 0.0, *, switch_after_trials: int | None = None,
                 switch_after_seconds: float | None = None, time_unit: str = "median", n_initial_points: int = 10,
                 base_estimator: str = "GP", acq_func: str = "EI", strategy: str = "none", seed: int | None = 0,
                 background: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(seed)
        self.b = _check_b(b)
        self.switch_after_trials = _check_trials(switch_after_trials)
        self.switch_after_seconds = _check_seconds(switch_after_seconds)
        if time_unit not in TIME_UNITS:
            raise ValueError(f"time_unit={time_unit!r}: choose one of {list(TIME_UNITS)}")
        if not isinstance(n_initial_points, int) or n_initial_points < 1:
            raise ValueError(f"n_initial_points={n_initial_points!r} must be a positive integer")
        if acq_func not in ACQ_FUNCS:
            raise ValueError(f"acq_func={acq_func!r}: choose one of {list(ACQ_FUNCS)}")
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy={strategy!r}: choose one of {list(STRATEGIES)}")
        self.time_unit, self.n_initial_points, self.strategy = time_unit, n_initial_points, strategy
        self.base_estimator, self.acq_func = check_estimator(base_estimator), acq_func
        self.background, self.clock = bool(background), clock
        self._lock = threading.RLock()
        self._thread: RefitThread | None = None
        self._reset()

    def _reset(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self._told: dict[int, _Told] = {}
        self._pending: dict[int, dict[str, Any]] = {}
        self._finished: set[int] = set()
        self._n_started = 0
        self._epoch = 0  # bumped at every change of the cost
        self._dirty = False
        self._switched: dict[str, Any] | None = None
        self._proposal: Proposal | None = None
        self._proposal_used = True
        self._n_refits = 0
        self._last_refit: dict[str, float] | None = None
        self._error: str | None = None
        self._t0 = self.clock()
        self._elapsed_offset = 0.0

    # -- the Optimizer interface --------------------------------------------------------------
    def setup(self, space: Space, goal: Goal, max_epochs: int | None = None, concurrency: int = 1) -> None:
        super().setup(space, goal, max_epochs, concurrency)
        self.close()
        with self._lock:
            self._reset()
        if self.background:
            self._start_thread()

    def suggest(self, trial_id: int) -> Start | None:
        assert self.space is not None, "call setup() first"
        if not self.may_start:
            return None  # BO never resumes; a Start would be dropped
        with self._lock:
            self._check_switch()
            if not self.background and self._wants_refit():
                self._refit_once()  # synchronous mode: the surrogate knows every result
            config, info = self._next_config()
            self._pending[trial_id] = config
            self._n_started += 1
            if self.strategy == "constant_liar" or self._n_started == self._n_initial:
                self._touch()  # a new running point (liar), or the surrogate is needed from now on
        return Start(config, info=info)

    def on_result(self, obs: Observation) -> None:
        with self._lock:
            epoch = self._epoch
            if obs.final:
                self._pending.pop(obs.trial_id, None)
                self._finished.add(obs.trial_id)
            if obs.loss is not None and math.isfinite(obs.loss):
                self._told[obs.trial_id] = _Told(to_point(self.space, obs.config), float(obs.loss),
                                                 float(obs.duration))
            else:  # tell nothing (a discard, or no loss scale known yet)
                self._told.pop(obs.trial_id, None)
            self._touch()
            self._check_switch()
            self._refit_if_cost_changed(epoch)

    def restore(self, trials: Sequence[Trial], observations: Sequence[Observation]) -> None:
        """Re-tell the journal's history under the current cost and continue the clock."""
        with self._lock:
            for obs in observations:
                self.on_result(obs)
            self._n_started = max(self._n_started, len(trials))
            for t in trials:
                if not t.status.is_terminal and t.id not in self._pending:
                    self._pending[t.id] = dict(t.config)
            stamps = [s for t in trials for s in (t.created, t.started, t.ended) if s]
            self._elapsed_offset = (max(stamps) - min(stamps)) if stamps else 0.0
            self._check_switch()
            self._touch()
            if not self.background and self._wants_refit():
                self._refit_once()

    def update(self, **params: Any) -> None:
        """Change ``b`` / the switch points; a change of the cost refits on the whole history."""
        self.check_update(**params)
        checks = {"b": _check_b, "switch_after_trials": _check_trials, "switch_after_seconds": _check_seconds}
        values = {name: checks[name](value) for name, value in params.items()}
        with self._lock:
            epoch = self._epoch
            if "b" in values and values["b"] != self.b and self._switched is None:
                self._new_cost()
            for name, value in values.items():
                setattr(self, name, value)
            self._check_switch()
            self._refit_if_cost_changed(epoch)

    def switch(self, reason: str = "by hand") -> None:
        """Switch to ``Z = L`` now (one-way) and refit on the whole history."""
        with self._lock:
            epoch = self._epoch
            self._do_switch(reason)
            self._refit_if_cost_changed(epoch)

    def _start_thread(self) -> None:
        self._thread = RefitThread(self._refit_job, name=f"hpo-kit-bo-refit-{id(self):x}", warm_up=warm_up)

    def close(self) -> None:
        """Stop the refit thread (the policy can still suggest random points)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.close(timeout=60)

    # -- views ------------------------------------------------------------------------------------
    @property
    def phase(self) -> str:
        """``"time-aware"`` (``Z = L + b*T``), ``"standard"`` (``b = 0``) or ``"switched"`` (``Z = L``)."""
        if self._switched is not None:
            return "switched"
        return "time-aware" if self.b > 0 else "standard"

    @property
    def cost(self) -> str:
        """The current cost as a formula, with its units."""
        if self.phase != "time-aware":
            return "L"
        return f"L + {self.b:g}*T[{'median trials' if self.time_unit == 'median' else 's'}]"

    @property
    def elapsed(self) -> float:
        """Seconds since :meth:`setup` (plus the restored history's span after a restart)."""
        return self.clock() - self._t0 + self._elapsed_offset

    @property
    def surrogate(self) -> Any:
        """The skopt ``Optimizer`` of the newest refit (its ``yi`` are the told costs), or ``None``."""
        with self._lock:
            return None if self._proposal is None else self._proposal.model

    def params(self) -> dict[str, Any]:
        return {"seed": self.seed, "b": self.b, "switch_after_trials": self.switch_after_trials,
                "switch_after_seconds": self.switch_after_seconds, "time_unit": self.time_unit,
                "n_initial_points": self.n_initial_points, "base_estimator": self.base_estimator,
                "acq_func": self.acq_func, "strategy": self.strategy, "background": self.background}

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {"b": self.b, "phase": self.phase, "cost": self.cost, "time_unit": self.time_unit,
                    "switch_after_trials": self.switch_after_trials,
                    "switch_after_seconds": self.switch_after_seconds, "switched": self._switched,
                    "n_observations": len(self._told), "n_finished": len(self._finished),
                    "n_pending": len(self._pending), "refits": self._n_refits, "last_refit": self._last_refit,
                    "error": self._error or (self._thread.error if self._thread else None)}

    # -- cost and switch ---------------------------------------------------------------------------
    def _check_switch(self) -> None:
        if self._switched is not None:
            return
        if self.switch_after_trials is not None and len(self._finished) >= self.switch_after_trials:
            self._do_switch(f"after {self.switch_after_trials} finished trials")
        elif self.switch_after_seconds is not None and self.elapsed >= self.switch_after_seconds:
            self._do_switch(f"after {self.switch_after_seconds:g} s")

    def _do_switch(self, reason: str) -> None:
        if self._switched is not None:
            return
        if self.b > 0:
            self._new_cost()
        self._switched = {"reason": reason, "n_finished": len(self._finished), "elapsed": round(self.elapsed, 3)}
        self.emit("switch", **self._switched)  # journalled by the study, replayed by Study.resume

    def _new_cost(self) -> None:
        self._epoch += 1
        self._proposal, self._proposal_used = None, True  # a point chosen under the old cost is not offered
        self._touch()

    def _costs(self, told: list[_Told]) -> list[float]:
        if self.phase != "time-aware":
            return [t.loss for t in told]
        valid = [t.duration for t in told if math.isfinite(t.duration) and t.duration > 0]
        median = statistics.median(valid) if valid else 0.0
        unit = median if self.time_unit == "median" and median > 0 else 1.0
        seconds = [t.duration if math.isfinite(t.duration) and t.duration > 0 else median for t in told]
        return [t.loss + self.b * s / unit for t, s in zip(told, seconds)]

    # -- refits --------------------------------------------------------------------------------------
    @property
    def _n_initial(self) -> int:
        return max(self.n_initial_points, self.concurrency)

    def _touch(self) -> None:
        self._dirty = True
        if self._thread is not None and self._wants_refit():
            self._thread.wake()

    @property
    def _initial_done(self) -> bool:
        # Results told without suggestions (a restart, a warm start) count as initial points.
        return max(self._n_started, len(self._finished)) >= self._n_initial

    def _wants_refit(self) -> bool:
        return self._dirty and len(self._told) >= 2 and self._initial_done

    def _snapshot(self) -> Snapshot:
        told = list(self._told.values())
        costs = self._costs(told)
        pending = [to_point(self.space, c) for c in self._pending.values()] if self.strategy != "none" else []
        seed = None if self.seed is None else int(np.random.SeedSequence([self.seed, self._n_refits])
                                                   .generate_state(1)[0] % (2**31 - 1))
        previous = self._proposal.model if self._proposal is not None else None
        return Snapshot([t.point for t in told], costs, pending,
                        min(costs) if pending else None, len(told), self._epoch, seed, previous)

    def _refit_once(self) -> bool:
        """Snapshot (locked), fit (unlocked), publish (locked); False when nothing was to do."""
        with self._lock:
            if not self._wants_refit():
                return False
            snap = self._snapshot()
            self._dirty = False
            self._n_refits += 1
        try:
            proposal = refit(self.space, snap, self.base_estimator, self.acq_func)
        except Exception:  # noqa: BLE001 - the study goes on with random points
            with self._lock:
                self._error = traceback.format_exc()
            warnings.warn(f"TimeAwareBO: refit failed, suggesting random points:\n{self._error}", RuntimeWarning)
            return False
        with self._lock:
            if proposal.epoch == self._epoch:
                self._proposal, self._proposal_used, self._error = proposal, False, None
                self._last_refit = {"seconds": round(proposal.seconds, 4), "at": round(self.elapsed, 3),
                                    "n_observations": proposal.n_observations}
        return True

    def _refit_job(self) -> None:
        while self._thread is not None and self._refit_once():
            pass

    def _refit_if_cost_changed(self, epoch: int) -> None:
        # Synchronous mode re-tells at once, so the surrogate never shows a stale cost;
        # the background thread was already woken by _new_cost.
        if self._epoch != epoch and not self.background and self._wants_refit():
            self._refit_once()

    def _next_config(self) -> tuple[dict[str, Any], dict[str, Any]]:
        info: dict[str, Any] = {"phase": self.phase, "cost": self.cost}
        if not self._initial_done:
            return self.space.sample(self._rng), {**info, "source": "initial"}
        p = self._proposal
        info["lacked"] = max(0, len(self._told) - (p.n_observations if p is not None else 0))
        if p is None or self._proposal_used:  # not ready yet, or already given to another worker
            return self.space.sample(self._rng), {**info, "source": "random"}
        self._proposal_used = True
        if p.config in self._pending.values():  # no prediction: a running point may come back
            return self.space.sample(self._rng), {**info, "source": "duplicate"}
        return dict(p.config), {**info, "source": "surrogate"}

    # -- pickling (the study saves its optimizer beside the journal) -------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_lock"], state["_thread"], state["_proposal"], state["_proposal_used"] = None, None, None, True
        state["_dirty"] = bool(self._told)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()
        if self.background and self.space is not None:
            self._start_thread()


def _check_b(b: Any) -> float:
    if isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b) or b < 0:
        raise ValueError(f"b={b!r} must be a finite number >= 0")
    return float(b)


def _check_trials(n: Any) -> int | None:
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        raise ValueError(f"switch_after_trials={n!r} must be None or an integer >= 0")
    return n


def _check_seconds(s: Any) -> float | None:
    if s is not None and (isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or s < 0):
        raise ValueError(f"switch_after_seconds={s!r} must be None or a number >= 0")
    return None if s is None else float(s)
