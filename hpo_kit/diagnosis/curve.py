"""Learning-curve extrapolation: stop a trial whose final score is unlikely to beat the k-th best.

Diagnosis (:class:`~hpo_kit.diagnosis.Diagnosis`) finds trials whose training is *broken*; a
curve model finds healthy trials that will not *win* (Domhan et al. 2015, about 2x faster HPO
by extrapolating learning curves). :class:`LearningCurve` is a study
:class:`~hpo_kit.monitor.Monitor` like ``Diagnosis``, so it composes with any searcher and
scheduler, and runs in shadow mode (``on_flag="flag"``: findings journalled, nothing stopped);
:class:`~hpo_kit.diagnosis.combine.AnyOf` combines the two.

The rule, after each report of a trial that has at least ``min_epochs`` finite values of
``metric``:

1. ``threshold``: the ``k``-th best score among the *other* trials (each one's best value so far;
   at least ``min_peers`` of them, else no decision), and ``noise``: the study's epoch-to-epoch
   noise of ``metric`` (median over the peers of ``std(diff) / sqrt(2)`` over the second half of
   each curve).
2. If the trial's own best so far already reaches ``threshold``, it goes on (no fit is made).
3. Before ``flat_patience x T`` epochs (``T``: ``max_epochs``, the study's or the trial's budget)
   two curves are not judged, since their shape says nothing yet: one still on its initial
   plateau (within ``2 noise`` of its first value; a curve that sits at chance for a few epochs
   and then takes off looks the same as one that never will - Diagnosis' PLC judges those from
   the training loss), and one still accelerating (its last rise exceeds the one before by
   ``2 noise``; the saturating families below would underestimate it). A curve that left a
   plateau is fitted from the plateau's last epoch on, and needs ``min_epochs`` values there.
4. Fit a small ensemble of parametric curves to its values ``y_1..y_t`` (oriented so that larger
   is better) and extrapolate each to epoch ``T``:

   * ``pow3``  ``c - a x^-alpha`` (a >= 0)  - power-law saturation, the most common fit in Domhan's study;
   * ``exp3``  ``c - a exp(-b x)`` (a >= 0) - exponential saturation (fast plateaus);
   * ``log2``  ``a + b log x`` (b >= 0)      - never saturates: the optimistic member.

   Each family has one rate parameter (``alpha``, ``b``; none for ``log2``) and linear ones:
   the linear ones are solved in closed form for every rate of a fixed log-spaced grid at once
   and the rate with the least squared error wins (variable projection; exact up to the grid,
   never fails to converge, about 0.1 ms per check, where ``scipy.optimize.curve_fit`` took
   7 ms and occasionally did not converge). Each member's prediction is floored at the trial's
   best so far (the study scores a trial by its best report, which cannot get worse), and gets a
   normal predictive spread ``sigma = max(rmse * sqrt(t / (t - p)), noise) * sqrt(T / t)``: its
   residual error corrected for its ``p`` parameters, or the study's noise when larger (3 points
   fit a 3-parameter curve exactly), widened with the distance extrapolated, and never below
   ``min_sigma`` times the scale of the trial's values.
5. ``P(final >= threshold)`` is the mean over the members of
   ``1 - Phi((threshold - prediction) / sigma)``. Below ``p_min``, the finding ``LCE`` (learning-curve
   extrapolation) carries the threshold, the probability, the noise and each member's prediction.

A finding is made once per trial (shadow mode keeps a flagged trial running; it is not flagged again).

Why no maintained package
-------------------------
LC-PFN (``lcpfn`` on PyPI, 0.1.3, 2024) is the field's best curve model, but it downloads its
trained weights from its authors' web server at first use (this project's machines reach only
package registries), and its release pins torch 1.11. Domhan's own ``pylrpredictor`` is
unmaintained Python-2-era code whose MCMC over 11 curve families costs seconds per check, and
a check runs after every report on the driver. So this is a least-squares ensemble of three
of Domhan's families (NumPy only, see 4.), whose every constant is a parameter; the benchmark
(``benchmarks/replay.py --part curve``) measures it against the random-flag control on recorded
tables (``docs/diagnosis.md`` has the figures).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Callable

import numpy as np

from ..monitor import Finding, Monitor
from ..trial import Trial

#: The indicator name of a learning-curve finding.
LCE = "LCE"


#: Rate parameters tried for the saturating families (their other parameters are solved exactly).
ALPHAS = np.logspace(-2, math.log10(5.0), 128)  # pow3: c - a x^-alpha
RATES = np.logspace(-3, math.log10(5.0), 128)  # exp3: c - a exp(-b x)


def _saturating(basis: Callable[[np.ndarray], np.ndarray], x: np.ndarray, y: np.ndarray,
                horizon: float) -> tuple[float, np.ndarray]:
    """Least squares of ``y ~ c - a g(x)`` (a >= 0) over the rows of ``g`` (one per rate on the grid).

    ``c`` and ``a`` are linear given the rate, so they are solved in closed form for every rate
    at once (variable projection); the rate with the least squared error wins. Returns the
    prediction at ``horizon`` and the fitted values.
    """
    g = basis(x)  # (rates, t)
    gh = basis(np.asarray([horizon], dtype=float))[:, 0]
    gm = g - g.mean(axis=1, keepdims=True)
    ym = y - y.mean()
    den = np.einsum("ij,ij->i", gm, gm)
    a = np.where(den > 0, -(gm @ ym) / np.where(den > 0, den, 1.0), 0.0)
    a = np.maximum(a, 0.0)  # saturating from below: the curve rises
    c = y.mean() + a * g.mean(axis=1)
    fitted = c[:, None] - a[:, None] * g
    i = int(np.argmin(((y - fitted) ** 2).sum(axis=1)))
    return float(c[i] - a[i] * gh[i]), fitted[i]


def _pow3(x: np.ndarray, y: np.ndarray, horizon: float) -> tuple[float, np.ndarray, int]:
    pred, fitted = _saturating(lambda z: np.power(z[None, :], -ALPHAS[:, None]), x, y, horizon)
    return pred, fitted, 3


def _exp3(x: np.ndarray, y: np.ndarray, horizon: float) -> tuple[float, np.ndarray, int]:
    pred, fitted = _saturating(lambda z: np.exp(-RATES[:, None] * z[None, :]), x, y, horizon)
    return pred, fitted, 3


def _log2(x: np.ndarray, y: np.ndarray, horizon: float) -> tuple[float, np.ndarray, int]:
    lx = np.log(x)
    lm = lx - lx.mean()
    den = float(lm @ lm)
    b = max(float(lm @ (y - y.mean())) / den, 0.0) if den > 0 else 0.0
    a = float(y.mean()) - b * float(lx.mean())
    return a + b * math.log(horizon), a + b * lx, 2


#: Curve families: name -> fit(x, y, horizon) -> (prediction at horizon, fitted values, parameters).
MODELS: dict[str, Callable[[np.ndarray, np.ndarray, float], tuple[float, np.ndarray, int]]] = {
    "pow3": _pow3, "exp3": _exp3, "log2": _log2}


def extrapolate(y: Sequence[float], horizon: int, models: Sequence[str] = tuple(MODELS),
                min_sigma: float = 0.01, noise: float = 0.0) -> list[tuple[str, float, float]]:
    """Fit each family to ``y`` (``y[i]`` at epoch ``i + 1``, larger is better) and predict epoch ``horizon``.

    Returns
    -------
    list of (name, prediction, sigma)
        For each family whose fit is finite: its prediction floored at ``max(y)`` and its
        predictive spread (see the module docstring), at least ``noise``. Empty when none is.
    """
    ys = np.asarray(y, dtype=float)
    xs = np.arange(1, len(ys) + 1, dtype=float)
    t = len(ys)
    scale = max(float(np.ptp(ys)), 1e-3 * max(1.0, float(np.abs(ys).mean())))
    best = float(ys.max())
    out = []
    with np.errstate(all="ignore"):
        for name in models:
            pred, fitted, p = MODELS[name](xs, ys, float(horizon))
            if not (np.all(np.isfinite(fitted)) and math.isfinite(pred)):
                continue
            rmse = math.sqrt(float(np.mean((ys - fitted) ** 2)) * t / max(t - p, 1))
            sigma = max(rmse, noise, min_sigma * scale) * math.sqrt(max(horizon, t) / t)
            out.append((name, max(pred, best), sigma))
    return out


class LearningCurve(Monitor):
    """A monitor that stops a trial whose extrapolated final score is unlikely to beat the k-th best.

    Parameters
    ----------
    metric, mode
        The score to extrapolate and its direction (``"max"`` or ``"min"``), as the study's goal.
    k
        Beat the ``k``-th best of the other trials (each one's best so far). Default 20 with
        ``p_min=0.01`` (until 2026-12: 10 and 0.05): chosen on the three recorded tables for issue 27's
        goal, at most 5% of the trials that end in the top half stopped; k=10, p_min=0.05 stopped
        20% of them on MNIST-5k for its extra time saving (``docs/diagnosis.md``).
    p_min
        Stop when the probability of reaching that score by ``max_epochs`` is below this.
    min_epochs
        Values needed before the first decision (at least 3: the families have up to 3 parameters).
    min_peers
        Other trials with a value needed before any decision (default ``k``).
    max_epochs
        The epoch to extrapolate to; default: the study's ``max_epochs``, else the trial's budget.
    models
        Curve families to use, any of :data:`MODELS`.
    min_sigma
        Floor of a member's spread, as a fraction of the scale of the trial's values.
    flat_patience
        A curve on its initial plateau, or still accelerating, is not judged before this fraction
        of ``max_epochs`` (see the module docstring, 3.).

    Raises
    ------
    ValueError
        For a bad ``mode``, ``k``, ``p_min``, ``min_epochs``, ``flat_patience`` or an unknown model.
    """

    def __init__(self, metric: str, mode: str = "min", *, k: int = 20, p_min: float = 0.01, min_epochs: int = 3,
                 min_peers: int | None = None, max_epochs: int | None = None,
                 models: Sequence[str] = tuple(MODELS), min_sigma: float = 0.01,
                 flat_patience: float = 0.5) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"LearningCurve: mode={mode!r} must be 'min' or 'max'")
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"LearningCurve: k={k!r} must be a positive integer")
        if not 0.0 < p_min < 1.0:
            raise ValueError(f"LearningCurve: p_min={p_min!r} must be in (0, 1)")
        if not isinstance(min_epochs, int) or min_epochs < 3:
            raise ValueError(f"LearningCurve: min_epochs={min_epochs!r} must be an integer >= 3")
        if not 0.0 <= flat_patience <= 1.0:
            raise ValueError(f"LearningCurve: flat_patience={flat_patience!r} must be in [0, 1]")
        unknown = sorted(set(models) - set(MODELS))
        if unknown or not models:
            raise ValueError(f"LearningCurve: models={list(models)!r}: unknown {unknown}; choose from {list(MODELS)}")
        self.metric, self.mode, self.k, self.p_min, self.min_epochs = metric, mode, k, p_min, min_epochs
        self.min_peers = k if min_peers is None else min_peers
        self.max_epochs, self.models, self.min_sigma = max_epochs, tuple(models), min_sigma
        self.flat_patience = flat_patience
        self._peers: dict[int, tuple[int, float | None, float | None]] = {}  # id -> (reports seen, best, noise)

    def _sign(self) -> float:
        return 1.0 if self.mode == "max" else -1.0

    def _values(self, trial: Trial) -> list[float]:
        return [float(r["metrics"][self.metric]) for r in trial.reports if self.metric in r["metrics"]]

    def _peer(self, t: Trial) -> tuple[float | None, float | None]:
        """A peer's best value so far (oriented) and its noise (None: unknown), cached per report count."""
        n = len(t.reports)
        seen = self._peers.get(t.id)
        if seen is not None and seen[0] == n:
            return seen[1], seen[2]
        sign = self._sign()
        ys = [sign * v for v in self._values(t) if math.isfinite(v)]
        best = max(ys) if ys else None
        tail = np.diff(ys[len(ys) // 2:])
        noise = float(np.std(tail)) / math.sqrt(2.0) if len(tail) >= 2 else None
        self._peers[t.id] = (n, best, noise)
        return best, noise

    def context(self, trial: Trial, trials: Mapping[int, Trial]) -> tuple[float, float] | None:
        """The ``k``-th best of the other trials' best values (oriented: larger is better) and the
        study's epoch-to-epoch noise of ``metric`` (median over the peers, each from the second half
        of its curve: ``std(diff) / sqrt(2)``); ``None`` with fewer than ``min_peers`` peers."""
        bests, noises = [], []
        for t in trials.values():
            if t.id == trial.id or not t.reports:
                continue
            best, noise = self._peer(t)
            if best is not None:
                bests.append(best)
            if noise is not None:
                noises.append(noise)
        if len(bests) < max(self.min_peers, self.k):
            return None
        kth = float(np.partition(np.asarray(bests), len(bests) - self.k)[len(bests) - self.k])
        return kth, float(np.median(noises)) if noises else 0.0

    def check(self, trial: Trial, trials: Mapping[int, Trial], max_epochs: int | None) -> Finding | None:
        """Return an ``LCE`` finding when ``trial`` is unlikely to reach the ``k``-th best (once per trial)."""
        if not trial.reports or any(f.get("indicator") == LCE for f in trial.flags):
            return None
        values = self._values(trial)
        if len(values) < self.min_epochs or not all(math.isfinite(v) for v in values):
            return None  # a non-finite loss is Diagnosis' AGV
        horizon = self.max_epochs or max_epochs or trial.budget
        epoch = int(trial.reports[-1]["epoch"])
        if horizon is None or epoch >= horizon:
            return None
        sign = self._sign()
        y = [sign * v for v in values]
        found = self.context(trial, trials)
        if found is None or max(y) >= found[0]:
            return None
        thr, noise = found
        start = _takeoff(y, noise)
        if epoch < self.flat_patience * horizon:
            if len(y) - start < self.min_epochs:
                return None  # flat so far, or just left its plateau: its shape says nothing yet
            if y[-1] - y[-2] > y[-2] - y[-3] + 2.0 * noise:
                return None  # still accelerating: the saturating families would underestimate it
        members = extrapolate(y[start:], horizon - start, self.models, self.min_sigma, noise)
        if not members:
            return None
        p = float(np.mean([_survival((thr - pred) / s) for _, pred, s in members]))
        if p >= self.p_min:
            return None
        values_out = {"threshold": sign * thr, "p": p, "k": self.k, "max_epochs": horizon, "noise": noise,
                      **{f"{name}": sign * pred for name, pred, _ in members}}
        message = (f"{LCE} (learning-curve extrapolation) at epoch {epoch}: P({self.metric} at epoch {horizon} "
                   f"reaches the {_ordinal(self.k)} best, {sign * thr:.4g}) = {p:.3f} < {self.p_min}")
        return Finding(LCE, epoch, values_out, message)

    def __repr__(self) -> str:
        return (f"LearningCurve({self.metric!r}, {self.mode!r}, k={self.k}, p_min={self.p_min}, "
                f"min_epochs={self.min_epochs})")


def _takeoff(y: Sequence[float], noise: float) -> int:
    """Index of the last value of the curve's initial plateau (values within ``2 * noise`` of the
    first), where its learning starts: 0 when it rose at once."""
    i = 0
    while i + 1 < len(y) and y[i + 1] - y[0] <= 2.0 * noise:
        i += 1
    return i


def _survival(z: float) -> float:
    """``1 - Phi(z)`` for the standard normal."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"
