"""Pure helpers of :class:`~hpo_kit.searchers.bo.TimeAwareBO`: what it was told, what it fits on, at what cost.

Kept apart from the searcher (which owns the lock, the thread and the journal facts) so
each rule is one small function that reads and tests alone:

* :class:`Told` / :data:`History` - what a trial was told, at each budget;
* :func:`fit_set` - BOHB's budget rule: which observations one refit is fitted on;
* :func:`costs` - ``Z = L + b*T`` (or ``Z = L``) for those observations;
* :class:`TimeCost` - the searcher's part that owns ``b`` and the one-way switch;
* the ``check_*`` validators of the constructor's and the live parameters (errors name
  the parameter, so ``study.tune(b=-1)`` fails in the caller's thread and says why).

Units of ``T``. ``T`` is an observation's ``duration``: the seconds the trial trained (its
busy time; a stopped trial counts the time it ran before it was stopped).

* ``time_unit="median"``: ``T = duration / median duration of the fitted observations``.
  Then ``b = 0.1`` means "a trial of median length costs 0.1 of loss", whatever the
  hardware, so a value of ``b`` carries over between machines and models. The median is
  taken at every refit over the observations being fitted (one budget's, below), so all
  the points of one fit are on one scale.
* ``time_unit="seconds"``: ``T`` is the duration in seconds (``b`` is loss per second).

A duration that is not finite and positive counts as the median.

Penalties (issue 26 item 5). The engine tells a failed or NaN trial the worst finite loss
*so far*: a value among the good ones when the losses are close, frozen when told. The
searcher therefore keeps a penalty as "no measurement" (``Told.loss`` NaN) and
:func:`fit_costs` prices every penalty at each refit: the worst finite cost of the fit plus
:data:`PENALTY_MARGIN` times the fit's range, so it is worse than every finite cost and
moves with the worst, the same for all penalties of one fit. Measured with NaN in half the
square (``benchmarks/bo_nan.py``, 24 trials, 2 workers, 20 seeds; model proposals in the NaN
region out of 280, median best finite loss): bowl centre inside the finite half, before 89
(0.0018), margin 0.2: 31 (0.00094), 0.5: 22 (0.00050); centre past the boundary (finite
optimum 0.0025 on it), before 73 (0.0168), 0.2: 32 (0.0156), 0.5: 20 (0.0199), 1.0: 12
(0.0269). A larger margin keeps farther from a NaN region, so an optimum on its edge is
approached more slowly; 0.5 cuts the NaN proposals by 3.5-4x at little cost there.

Which observations are fitted (BOHB, Falkner et al. 2018). Per trial the searcher keeps
its latest observation with a finite loss *at each budget* (``epochs``) it reached, so a
trial promoted from rung 1 to rung 3 still counts at rung 1 (BOHB's ``D_b``). The highest
budget measured by at least ``n_min`` trials is fitted alone: the most faithful budget that
has enough points for a model. A penalty marks a region where trials fail or report no
finite score (NaN, inf): it joins the chosen budget's set for a trial that failed without a
measurement there. While no budget has ``n_min`` measurements, every trial's latest
observation is fitted (mixed budgets). Under FIFO all observations are final at the full
budget, so this picks all of them, as before; a trial a monitor stopped early counts at
the epochs it reached.
"""
from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..trial import Observation, TrialStatus

STRATEGIES = ("none", "constant_liar", "kriging_believer")
TIME_UNITS = ("median", "seconds")


@dataclass(frozen=True)
class Told:
    """One told observation, as the surrogate sees it: a finite loss, or NaN for a penalty.

    ``point`` is the skopt point, mapped once when told (snapshots are taken under the
    searcher's lock, so they must be cheap); ``epochs`` is the budget the loss was
    measured at.
    """

    point: list[Any]
    loss: float
    duration: float
    epochs: int
    constraint: float | None = None  # the worst reported constraint value (<= 0: feasible), if any


#: A trial's told observations: one per budget (``epochs``) it was measured at, and under the key
#: ``None`` its failure's penalty; in the order told, so the last value is the trial's latest.
History = dict[int | None, Told]


def remember(history: History, obs_epochs: int, told: Told, failed: bool) -> None:
    """Record ``told`` in a trial's history (a re-tell at the same budget replaces and becomes the latest)."""
    key = None if failed else obs_epochs
    history.pop(key, None)
    history[key] = told


def learn(histories: dict[int, History], obs: Observation, point: list[Any], constraint: float | None = None) -> None:
    """Keep what ``obs`` tells in its trial's history: a finite loss at its budget, a penalty (a FAILED trial, or
    one with no finite score: kept with a NaN loss, priced at each refit), or nothing (a discard drops the trial)."""
    penalty = obs.penalty or (obs.status is TrialStatus.FAILED and obs.loss is not None)
    if not penalty and (obs.loss is None or not math.isfinite(obs.loss)):
        histories.pop(obs.trial_id, None)
        return
    told = Told(point, math.nan if penalty else float(obs.loss), float(obs.duration), int(obs.epochs), constraint)
    remember(histories.setdefault(obs.trial_id, {}), obs.epochs, told, penalty)


def fit_set(histories: Iterable[Mapping[int | None, Told]], n_min: int) -> tuple[list[Told], int | None]:
    """The observations one refit is fitted on, and their budget (BOHB's rule; module docstring).

    Parameters
    ----------
    histories
        Each told trial's :data:`History`.
    n_min
        Measurements a budget needs before a model is fitted on it alone (BOHB: ``dims + 1``,
        TimeAwareBO: ``len(space) + 2``).

    Returns
    -------
    The chosen budget's measurements plus the penalties of trials that failed without one
    at that budget; or, when no budget has ``n_min`` measurements, every trial's latest
    observation with ``None`` as the budget (mixed).
    """
    histories = [h for h in histories if h]
    counts = Counter(e for h in histories for e in h if e is not None)
    ready = [budget for budget, n in counts.items() if n >= n_min]
    if not ready:
        return [list(h.values())[-1] for h in histories], None
    budget = max(ready)
    fitted = [h[budget] if budget in h else h[None] for h in histories if budget in h or None in h]
    return fitted, budget


def costs(told: Sequence[Told], b: float, time_unit: str) -> list[float]:
    """``Z = L + b*T`` for each observation (``b == 0``: ``Z = L``; the caller passes 0 after the switch).

    ``T`` is ``duration`` in seconds (``time_unit="seconds"``) or in medians of the given
    observations' durations (``"median"``): the median is taken over the set being fitted,
    so every point of one refit is on one scale (one budget's trials, under BOHB's rule).
    A duration that is not finite and positive counts as the median.
    """
    if b == 0:
        return [t.loss for t in told]
    valid = [t.duration for t in told if math.isfinite(t.duration) and t.duration > 0]
    median = statistics.median(valid) if valid else 0.0
    unit = median if time_unit == "median" and median > 0 else 1.0
    seconds = [t.duration if math.isfinite(t.duration) and t.duration > 0 else median for t in told]
    return [t.loss + b * s / unit for t, s in zip(told, seconds)]


#: A penalty's distance above the worst finite cost, in units of the fitted costs' range (module docstring).
PENALTY_MARGIN = 0.5


def penalty_cost(finite: Sequence[float], margin: float = PENALTY_MARGIN) -> float:
    """The cost told for a penalty: ``worst + margin * (worst - best)`` of the finite costs ``finite``.

    A range of 0 (one finite cost, or equal ones) is replaced by ``|worst|`` (else 1), so the
    penalty is still strictly worse.
    """
    worst, best = max(finite), min(finite)
    return worst + margin * ((worst - best) or abs(worst) or 1.0)


def finite_losses(histories: Mapping[int, History], limit: int | None = None) -> list[float]:
    """The finite losses told, at any budget (the first ``limit`` of them: ``1`` asks "is there one?")."""
    out = []
    for h in histories.values():
        for t in h.values():
            if math.isfinite(t.loss):
                out.append(t.loss)
                if limit is not None and len(out) >= limit:
                    return out
    return out


def fit_costs(fitted: Sequence[Told], b: float, time_unit: str, reference: Sequence[float]) -> list[float]:
    """:func:`costs` of the fitted observations, each penalty (``loss`` NaN) priced by :func:`penalty_cost`.

    The penalty is scaled by the fit's finite costs; ``reference`` (the finite losses told at any
    budget) stands in when the fit has none. The searcher fits nothing while no finite loss exists.
    """
    zs = costs(fitted, b, time_unit)
    if all(math.isfinite(z) for z in zs):
        return zs
    p = penalty_cost([z for z in zs if math.isfinite(z)] or list(reference))
    return [z if math.isfinite(z) else p for z in zs]


def cost_formula(b: float, time_unit: str) -> str:
    """The cost as journalled in ``Start.info["cost"]`` (``b == 0``: ``"L"``)."""
    if b == 0:
        return "L"
    return f"L + {b:g}*T[{'median trials' if time_unit == 'median' else 's'}]"


# -- validators: each returns the value as stored, or raises ValueError naming the parameter ------------
def check_b(b: Any) -> float:
    if isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b) or b < 0:
        raise ValueError(f"TimeAwareBO: b={b!r} must be a finite number >= 0")
    return float(b)


def check_trials(n: Any) -> int | None:
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        raise ValueError(f"TimeAwareBO: switch_after_trials={n!r} must be None or an integer >= 0")
    return n


def check_seconds(s: Any) -> float | None:
    if s is not None and (isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or s < 0):
        raise ValueError(f"TimeAwareBO: switch_after_seconds={s!r} must be None or a number >= 0")
    return None if s is None else float(s)


#: The live parameters' validators (``TimeAwareBO.check_update`` runs them before anything changes).
LIVE_CHECKS = {"b": check_b, "switch_after_trials": check_trials, "switch_after_seconds": check_seconds}


def check_choice(label: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"TimeAwareBO: {label}={value!r}: choose one of {list(choices)}")
    return value


def check_distance(d: Any) -> float:
    if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0.0 <= d < 1.0:
        raise ValueError(f"min_distance={d!r} must be a number in [0, 1)")
    return float(d)


def check_initial(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"TimeAwareBO: n_initial_points={n!r} must be a positive integer")
    return n


class TimeCost:
    """The cost ``Z = L + b*T`` and its one-way switch to ``Z = L`` (a mixin of TimeAwareBO).

    The host provides ``_lock`` (an ``RLock``), ``_finished`` (ids of finished trials),
    ``emit`` (:class:`~hpo_kit.policy.Policy`), ``_on_new_cost()`` (drop what was chosen
    under the old cost) and ``_refit_if_cost_changed(epoch)``. ``_epoch`` counts changes of
    the cost, so a refit started under an older cost is recognised and not published.
    """

    live_params = ("b", "switch_after_trials", "switch_after_seconds")

    def _init_cost(self, b: Any, switch_after_trials: Any, switch_after_seconds: Any, time_unit: Any,
                   clock: Callable[[], float]) -> None:
        self.b = check_b(b)
        self.switch_after_trials = check_trials(switch_after_trials)
        self.switch_after_seconds = check_seconds(switch_after_seconds)
        self.time_unit = check_choice("time_unit", time_unit, TIME_UNITS)
        self.clock = clock
        self._reset_cost()

    def _reset_cost(self) -> None:
        self._epoch = 0
        self._switched: dict[str, Any] | None = None
        self._t0 = self.clock()
        self._elapsed_offset = 0.0

    @property
    def phase(self) -> str:
        """``"time-aware"`` (``Z = L + b*T``), ``"standard"`` (``b = 0``) or ``"switched"`` (``Z = L``)."""
        if self._switched is not None:
            return "switched"
        return "time-aware" if self.b > 0 else "standard"

    @property
    def cost(self) -> str:
        """The current cost as a formula, with its units."""
        return cost_formula(self._b_now, self.time_unit)

    @property
    def _b_now(self) -> float:
        return self.b if self.phase == "time-aware" else 0.0

    @property
    def elapsed(self) -> float:
        """Seconds since ``setup`` (plus the restored history's span after a restart)."""
        return self.clock() - self._t0 + self._elapsed_offset

    def check_update(self, **params: Any) -> None:
        """Raise ``ValueError`` for a parameter that cannot change live or a bad value; changes nothing.

        Runs in the caller's thread (``study.tune``), so ``b=-1`` fails there rather than
        in the study's loop thread.
        """
        super().check_update(**params)  # type: ignore[misc]  # the names (Policy)
        for name, value in params.items():
            LIVE_CHECKS[name](value)

    def update(self, **params: Any) -> None:
        """Change ``b`` / the switch points; a change of the cost refits on the whole history."""
        self.check_update(**params)
        values = {name: LIVE_CHECKS[name](value) for name, value in params.items()}
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
        self._on_new_cost()
