"""Which hyperparameters matter: parallel coordinates, slices and a fANOVA-style importance, from records.

:func:`parallel_coordinates` puts every scored trial on one line across an axis per
hyperparameter (scaled to 0..1 over the space's range, log-scaled where the space is)
and a last axis for its score, best at the top. :func:`slices` is Optuna Dashboard's
slice view: the score of every finished trial against each hyperparameter's value
(one small plot per hyperparameter, drawn by :func:`hpo_kit.ui.figures.slices`). Both
are cheap pure functions, called on the view's own thread (never the study's loop).

:func:`importance` fits a random forest (scikit-learn) to score ~ configuration and
splits the variance of its predictions the way fANOVA does for main effects: the
marginal prediction of one hyperparameter, averaged over the observed configurations
for all the others, varies by ``V_i`` over that hyperparameter's range; ``V_i / V``
(``V`` the variance of the forest's predictions) is its importance. A forest fit takes
a few hundred milliseconds, so live views call it through :class:`ImportanceCache`,
which computes on its own thread and only when new scores arrived.
"""
from __future__ import annotations

import concurrent.futures
import math
import threading
from typing import Any

from ..trial import TrialStatus
from .data import Columns, Records, category, fold_trials, goal_of, robust_range
from .trials import fmt_value, param_specs


def _scale(value: Any, spec: dict[str, Any], seen: list[Any]) -> float:
    """One hyperparameter value on 0..1 (choices evenly spaced; NaN when it cannot be placed)."""
    if spec.get("type") == "categorical" or isinstance(value, (str, bool)):
        choices = list(spec.get("choices") or sorted({str(v) for v in seen}))
        keys = [str(c) for c in choices]
        if str(value) not in keys:
            return math.nan
        return 0.5 if len(keys) == 1 else keys.index(str(value)) / (len(keys) - 1)
    try:
        v = float(value)
    except (TypeError, ValueError):
        return math.nan
    nums = [float(x) for x in seen if isinstance(x, (int, float)) and not isinstance(x, bool)]
    lo, hi = spec.get("low", min(nums, default=v)), spec.get("high", max(nums, default=v))
    if spec.get("log") and lo > 0 and v > 0:
        v, lo, hi = math.log10(v), math.log10(lo), math.log10(hi)
    return 0.5 if hi <= lo else min(1.0, max(0.0, (v - lo) / (hi - lo)))


def _scored(records: Records) -> list[tuple[Any, float]]:
    goal = goal_of(records)
    out = []
    for t in fold_trials(records).values():
        score = t.score(goal)
        if score is not None and math.isfinite(score):
            out.append((t, float(score)))
    return out


def parallel_coordinates(records: Records, specs: dict[str, dict[str, Any]] | None = None) -> tuple[Columns, Columns]:
    """Every scored trial as a line over the hyperparameter axes and a score axis (best on top).

    Returns
    -------
    (lines, axes)
        ``lines``: ``trial``, ``xs`` (axis positions), ``ys`` (0..1), ``score``, ``rank``
        (0 worst .. 1 best, for colour), ``category``, ``config`` (text); ``axes``: ``x``,
        ``name``, ``low``, ``high`` (axis end labels).
    """
    specs = param_specs(records) if specs is None else specs
    goal = goal_of(records)
    scored = _scored(records)
    names = list(specs) or sorted({k for t, _ in scored for k in t.config})
    seen = {n: [t.config.get(n) for t, _ in scored] for n in names}
    scores = [s for _, s in scored]
    rng = robust_range(scores, pad=0.0) or (0.0, 1.0)
    lo, hi = rng
    lines: Columns = {"trial": [], "xs": [], "ys": [], "score": [], "rank": [], "category": [], "config": []}
    for t, score in scored:
        frac = 0.5 if hi <= lo else min(1.0, max(0.0, (score - lo) / (hi - lo)))
        best_up = 1.0 - frac if goal.mode == "min" else frac
        ys = [_scale(t.config.get(n), specs.get(n, {}), seen[n]) for n in names] + [best_up]
        for key, value in (("trial", t.id), ("xs", list(range(len(names) + 1))), ("ys", ys), ("score", score),
                           ("rank", best_up), ("category", category(t)),
                           ("config", ", ".join(f"{n}={fmt_value(t.config.get(n))}" for n in names))):
            lines[key].append(value)
    axes: Columns = {"x": list(range(len(names) + 1)), "name": names + [goal.metric],
                     "low": [], "high": []}
    for n in names:
        spec = specs.get(n, {})
        if spec.get("type") == "categorical":
            choices = [str(c) for c in spec.get("choices", [])]
            axes["low"].append(choices[0] if choices else "")
            axes["high"].append(choices[-1] if choices else "")
        else:
            nums = [v for v in seen[n] if isinstance(v, (int, float))]
            axes["low"].append(fmt_value(spec.get("low", min(nums, default=None))))
            axes["high"].append(fmt_value(spec.get("high", max(nums, default=None))))
    worst, best = (hi, lo) if goal.mode == "min" else (lo, hi)
    axes["low"].append(fmt_value(worst) if scored else "")
    axes["high"].append(fmt_value(best) if scored else "")
    return lines, axes


def slices(records: Records, specs: dict[str, dict[str, Any]] | None = None) -> Columns:
    """Every finished trial's score and configuration, one row per trial, for the slice plots.

    A trial is finished once a step of it ended (a terminal status, or PAUSED at a rung)
    with a finite score; running and pending trials are left out.

    Returns
    -------
    dict
        ``trial``, ``score``, ``status``, ``category``, ``config`` (text), and
        ``config.<name>`` per hyperparameter: a float (NaN when missing), or the choice as
        text (``""`` when missing) for a categorical one.
    """
    specs = param_specs(records) if specs is None else specs
    out: Columns = {"trial": [], "score": [], "status": [], "category": [], "config": []}
    out.update({f"config.{n}": [] for n in specs})
    for t, score in _scored(records):
        if not (t.status.is_terminal or t.status is TrialStatus.PAUSED):
            continue
        for key, value in (("trial", t.id), ("score", score), ("status", t.status.value), ("category", category(t)),
                           ("config", ", ".join(f"{n}={fmt_value(t.config.get(n))}" for n in specs))):
            out[key].append(value)
        for n, spec in specs.items():
            out[f"config.{n}"].append(_slice_value(t.config.get(n), spec))
    return out


def _slice_value(value: Any, spec: dict[str, Any]) -> Any:
    if spec.get("type") == "categorical":
        return "" if value is None else str(value)
    try:
        return math.nan if value is None or isinstance(value, (str, bool)) else float(value)
    except (TypeError, ValueError):
        return math.nan


def encode(configs: list[dict[str, Any]], specs: dict[str, dict[str, Any]]) -> tuple[Any, list[str]]:
    """Configurations as a numeric matrix: log10 for log-scaled dimensions, the index for choices."""
    import numpy as np

    names = list(specs) or sorted({k for c in configs for k in c})
    cols = []
    for n in names:
        spec = specs.get(n, {})
        values = [c.get(n) for c in configs]
        if spec.get("type") == "categorical" or any(isinstance(v, (str, bool)) for v in values):
            keys = [str(c) for c in spec.get("choices", [])] or sorted({str(v) for v in values})
            cols.append([float(keys.index(str(v))) if str(v) in keys else -1.0 for v in values])
        else:
            log = bool(spec.get("log"))
            col = [math.log10(v) if log and v and v > 0 else float(v if v is not None else math.nan) for v in values]
            cols.append(_inactive_below(col, values) if spec.get("when") else col)
    return np.array(cols, dtype=float).T.reshape(len(configs), len(names)), names


def _inactive_below(col: list[float], values: list[Any]) -> list[float]:
    """A conditional dimension's column with "inactive" (absent) as its own level, half a range below the
    active values, so those trials stay in the forest and active-or-not counts in the importance."""
    active = [x for x, v in zip(col, values) if v is not None and math.isfinite(x)]
    lo, hi = min(active, default=0.0), max(active, default=1.0)
    return [lo - 0.5 * ((hi - lo) or 1.0) if v is None else x for x, v in zip(col, values)]


def importance(records: Records, specs: dict[str, dict[str, Any]] | None = None, min_trials: int = 5,
               n_trees: int = 32, grid: int = 12, seed: int = 0) -> Columns:
    """fANOVA-style main-effect importance of each hyperparameter for the score (see the module docstring).

    Returns
    -------
    dict
        ``param``, ``importance`` (share of the forest's prediction variance, 0..1), most
        important first; ``n`` (trials used) repeated per row. Empty below ``min_trials``
        scored trials or when every score is equal.
    """
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor

    specs = param_specs(records) if specs is None else specs
    scored = _scored(records)
    out: Columns = {"param": [], "importance": [], "n": []}
    if len(scored) < min_trials:
        return out
    X, names = encode([t.config for t, _ in scored], specs)
    y = np.array([s for _, s in scored])
    keep = np.isfinite(X).all(axis=1)
    X, y = X[keep], y[keep]
    if len(y) < min_trials or np.ptp(y) == 0 or not names:
        return out
    forest = RandomForestRegressor(n_estimators=n_trees, min_samples_leaf=2, random_state=seed, n_jobs=1).fit(X, y)
    background = X[np.random.default_rng(seed).permutation(len(X))[:256]]
    total = float(np.var(forest.predict(background)))
    if total <= 0:
        return out
    shares = []
    for j in range(X.shape[1]):
        values = np.unique(X[:, j])
        if len(values) > grid:
            values = np.linspace(values.min(), values.max(), grid)
        stacked = np.repeat(background[None, :, :], len(values), axis=0)
        stacked[:, :, j] = values[:, None]
        marginal = forest.predict(stacked.reshape(-1, X.shape[1])).reshape(len(values), -1).mean(axis=1)
        shares.append(min(1.0, float(np.var(marginal)) / total))
    for j in sorted(range(len(names)), key=lambda j: -shares[j]):
        out["param"].append(names[j])
        out["importance"].append(round(shares[j], 4))
        out["n"].append(int(len(y)))
    return out


class ImportanceCache:
    """:func:`importance`, computed on a thread of its own and only when the number of scores changed.

    :meth:`get` returns at once: the latest result (empty until the first one is ready).
    """

    def __init__(self, compute: Any = importance) -> None:
        # Import here, in the caller's thread: a first import of pandas on the cache's thread, while
        # another thread imports it too, can leave that thread a half-initialised module for good.
        from ..imports import heavy

        heavy("pandas", "sklearn.ensemble")  # nor beside BO's warm-up importing scikit-optimize

        self.compute = compute
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="hpo-kit-importance")
        self._lock = threading.Lock()
        self._key: Any = None
        self._result: Columns = {"param": [], "importance": [], "n": []}
        self._running: concurrent.futures.Future | None = None

    def get(self, records: Records, specs: dict[str, dict[str, Any]] | None = None, block: bool = False) -> Columns:
        """The latest result; starts a new computation if scores arrived. ``block``: wait for it (final redraw)."""
        key = sum(1 for r in records if r.get("event") in ("trial_end", "trial_pause"))
        if block and self._running is not None:  # an older computation first, then ours
            concurrent.futures.wait([self._running], 60)
        here = False
        with self._lock:
            if key != self._key and (self._running is None or self._running.done()):
                self._key = key
                try:
                    self._running = self._pool.submit(self._run, list(records), specs)
                except RuntimeError:  # closed: compute here, once
                    self._running, here = None, True
            running = self._running
        if here:
            self._run(list(records), specs)
        elif block and running is not None:
            concurrent.futures.wait([running], 60)
        return self._result

    def _run(self, records: list[dict[str, Any]], specs: Any) -> None:
        try:
            result = self.compute(records, specs)
        except Exception:  # noqa: BLE001 - a view, never the study's business
            return
        with self._lock:
            self._result = result

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
