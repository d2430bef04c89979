"""Diagnosis: BTTackler's indicators combined into a study :class:`~hpo_kit.monitor.Monitor`.

``Study(..., monitor=Diagnosis(), on_flag="stop")`` checks every trial after each report
and stops (or, with ``on_flag="flag"``, flags) a trial whose training is broken, with any
search method. The study calls :meth:`Diagnosis.check` on the driver; the statistics come
from the trial's reports: its loss metrics, and under ``report["diag"]`` the gradient
statistics of a :class:`~hpo_kit.diagnosis.Watcher` on the worker. Without a Watcher only
the loss-based rules (AGV on the loss, PLC, ULC, NMG) can fire.

The indicators are evaluated in the order of :data:`~hpo_kit.diagnosis.indicators.INDICATORS`
(hard rules first); the first that fires, and has not already flagged this trial, becomes the
:class:`~hpo_kit.monitor.Finding`, carrying the numbers that fired it. Under ``on_flag="flag"``
a flagged trial goes on and may later be flagged by another indicator. Epoch windows are
relative to ``max_epochs`` (see :mod:`hpo_kit.diagnosis.indicators` for how epochs are
counted across resumes, promotions and weight copies).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ..monitor import Finding, Monitor
from ..trial import Trial
from . import indicators as ind

#: The paper's indicator names and what they mean, for messages and views.
DESCRIPTIONS = {
    "AGV": "abnormal gradient values (NaN/Inf)",
    "EAG": "exploding gradient",
    "ERG": "vanishing gradient",
    "LAR": "dying units (low activation ratio)",
    "PLC": "passive loss change (slow convergence)",
    "ULC": "unstable loss change (oscillation)",
    "NMG": "no more gain",
}


#: What :class:`Diagnosis` evaluates by default (defined, with why, in :mod:`.indicators`).
DEFAULT_INDICATORS = ind.DEFAULT_INDICATORS


@dataclass(frozen=True)
class Thresholds:
    """Every threshold of the indicators (see :mod:`.indicators` for where each comes from).

    Defaults are the authors' release (:meth:`authors`) except three, chosen on ground truth
    (``benchmarks/replay.py`` on the recorded ``tests/data/digits_mlp.jsonl.gz``, 256
    configurations trained to 20 epochs; trade-off tables in ``docs/diagnosis.md``):

    * ``max_zero=0.8`` (authors 0.5): the zero-*gradient* ratio of a healthy network is high
      wherever inputs are constant (the digits' blank border pixels give exactly-zero weight
      gradients) and when a ReLU network fits its batches; at 0.5 LAR alone flagged 6 of 112 good
      configurations, at 0.8 2, while the dying-ReLU case (median 0.83) still fires.
    * ``min_cv=1e-2`` (authors 1e-4): a loss that moved less than 1% (CV) over its first 3+
      epochs is stuck - at 1e-4 only near bit-exact plateaus fired; PLC's recall on configurations
      that end bad rises from 26% to 56%, still with 1 of 112 good configurations flagged.
    * ``slow_ratio=2`` (authors 1): see :mod:`.indicators` (steady exponential decay fires at 1).
    """

    max_grad: float = 1e4  # EAG, p_eg1
    max_ratio: float = 1e3  # EAG, p_eg2
    min_grad: float = 1e-5  # ERG, p_vg1
    min_ratio: float = 1e-4  # ERG, p_vg2
    max_zero: float = 0.8  # LAR (authors' p_dr1: 0.5)
    dying_epochs: int = 5  # LAR starts at this epoch
    min_cv: float = 1e-2  # PLC first half (authors' p_sc1: 1e-4)
    passive_epochs: int = 3  # PLC first half starts at this epoch
    slow_epochs: int = 6  # PLC second half starts at this many epochs (wd_nmg)
    slow_ratio: float = 2.0  # PLC second half: later CV > this x earlier CV (authors: 1; see indicators)
    unstable_window: int = 6  # ULC, wd_ho
    min_slope: float = 0.01  # ULC, p_ho1
    max_cv: float = 0.2  # ULC, p_ho2
    gain_window: int = 6  # NMG, wd_nmg
    protect_percent: float = 10.0  # cmp_percent
    protect_min_peers: int = 10  # min_cmp_num

    @classmethod
    def authors(cls, **overrides: Any) -> "Thresholds":
        """The authors' released thresholds (``bttackler/default_config.yaml``), e.g. for comparison."""
        return cls(**{**AUTHORS, **overrides})


#: The thresholds of the authors' release that the defaults change.
AUTHORS = {"max_zero": 0.5, "min_cv": 1e-4, "slow_ratio": 1.0}


class Diagnosis(Monitor):
    """A monitor that finds broken trials from their training signals.

    Parameters
    ----------
    thresholds
        A :class:`Thresholds`, or keyword overrides of its fields (``min_grad=1e-6``).
    indicators
        The indicators to evaluate, any of :data:`~hpo_kit.diagnosis.indicators.INDICATORS`
        (default :data:`DEFAULT_INDICATORS`: AGV, EAG, ERG, LAR, PLC; :meth:`authors`: all seven).
    loss
        Reported metric the loss rules and the protection rule read (default ``"train_loss"``).
    extra_losses
        Other reported metrics that fire AGV when non-finite (default ``("val_loss",)``).
    zero_ratio
        LAR's input: ``"grad"`` (the zero-gradient ratio Z_l, as the authors) or
        ``"activation"`` (the ReLU output zero ratio; needs ``Watcher(activations=True)``).
    max_epochs
        Budget that sets the epoch windows; default: the study's ``max_epochs`` (r_max under
        ASHA), else the trial's step budget, else 20 (the paper's budget).

    Raises
    ------
    ValueError
        For an unknown indicator, threshold name or ``zero_ratio``.
    """

    def __init__(self, thresholds: Thresholds | None = None, *, indicators: Iterable[str] = DEFAULT_INDICATORS,
                 loss: str = "train_loss", extra_losses: Iterable[str] = ("val_loss",), zero_ratio: str = "grad",
                 max_epochs: int | None = None, **overrides: Any) -> None:
        known = Thresholds.__dataclass_fields__
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ValueError(f"Diagnosis: unknown threshold(s) {unknown}; known: {sorted(known)}")
        self.thresholds = Thresholds(**{**asdict(thresholds or Thresholds()), **overrides})
        requested = set(indicators)
        bad = sorted(requested - set(ind.INDICATORS))
        if bad:
            raise ValueError(f"Diagnosis: unknown indicator(s) {bad}; choose from {list(ind.INDICATORS)}")
        self.indicators = tuple(i for i in ind.INDICATORS if i in requested)  # hard rules first, always
        if zero_ratio not in ("grad", "activation"):
            raise ValueError(f"Diagnosis: zero_ratio={zero_ratio!r} must be 'grad' or 'activation'")
        self.loss, self.extra_losses, self.zero_ratio = loss, tuple(extra_losses), zero_ratio
        self.max_epochs = max_epochs

    @classmethod
    def authors(cls, thresholds: Thresholds | None = None, **kwargs: Any) -> "Diagnosis":
        """The authors' released settings (thuml/BTTackler): all seven indicators, NMG and ULC included,
        and their thresholds (:meth:`Thresholds.authors`: ``max_zero=0.5``, ``min_cv=1e-4``,
        ``slow_ratio=1``); ``kwargs`` as for the constructor (``indicators=``, threshold overrides).

        Two deviations stay, being bug fixes: AGV really fires on NaN/Inf, and every CV divides by
        ``mean(|loss|)`` (see :mod:`.indicators`).
        """
        return cls(thresholds or Thresholds.authors(), **{"indicators": ind.INDICATORS, **kwargs})

    def check(self, trial: Trial, trials: Mapping[int, Trial], max_epochs: int | None) -> Finding | None:
        """Return the first indicator that fires on ``trial``'s latest report, or ``None``."""
        if not trial.reports:
            return None
        report = trial.reports[-1]
        epoch = int(report["epoch"])
        budget = self.max_epochs or max_epochs or trial.budget or 20
        done = {f["indicator"] for f in trial.flags}
        losses = [float(r["metrics"][self.loss]) for r in trial.reports if self.loss in r["metrics"]]
        current = report["metrics"].get(self.loss)
        shield: bool | None = None  # computed only if a protectable rule fires
        for name in self.indicators:
            if name in done:
                continue
            values = self._evaluate(name, report, epoch, budget, losses)
            if values is None:
                continue
            if name in ind.PROTECTED_FROM:
                if shield is None:
                    shield = ind.protected(current, _peers(trials, trial.id, epoch, self.loss),
                                           self.thresholds.protect_percent, self.thresholds.protect_min_peers)
                if shield:
                    continue
            return Finding(name, epoch, {"max_epochs": budget, **values}, _message(name, epoch, values))
        return None

    def _evaluate(self, name: str, report: dict[str, Any], epoch: int, budget: int,
                  losses: list[float]) -> dict[str, Any] | None:
        th, diag = self.thresholds, report.get("diag") or {}
        grad = diag.get("grad_abs") or []
        if name == "AGV":
            now = [report["metrics"].get(k) for k in (self.loss, *self.extra_losses)]
            return ind.nonfinite(now, grad, diag.get("nonfinite_grad", 0), diag.get("nonfinite_weight", 0))
        if name == "EAG":
            return ind.exploding(grad, th.max_grad, th.max_ratio)
        if name == "ERG":
            return ind.vanishing(grad, epoch, budget, th.min_grad, th.min_ratio)
        if name == "LAR":
            zero = diag.get("grad_zero" if self.zero_ratio == "grad" else "act_zero") or []
            return ind.dying(zero, epoch, th.max_zero, th.dying_epochs)
        if name == "PLC":
            return ind.passive(losses, epoch, budget, th.min_cv, th.passive_epochs, th.slow_epochs, th.slow_ratio)
        if name == "ULC":
            return ind.unstable(losses, epoch, budget, th.unstable_window, th.min_slope, th.max_cv)
        return ind.no_gain(losses, th.gain_window)

    def __repr__(self) -> str:
        return f"Diagnosis(indicators={list(self.indicators)}, loss={self.loss!r})"


def _peers(trials: Mapping[int, Trial], own: int, epoch: int, metric: str) -> list[float]:
    """The ``metric`` other trials reported at ``epoch`` (finite values only)."""
    out = []
    for t in trials.values():
        if t.id == own or len(t.reports) == 0:
            continue
        r = t.reports[epoch - 1] if len(t.reports) >= epoch else None
        if r is None or r["epoch"] != epoch:  # reports that do not start at epoch 1 (rare): search
            r = next((x for x in t.reports if x["epoch"] == epoch), None)
        value = r["metrics"].get(metric) if r is not None else None
        if value is not None and math.isfinite(value):
            out.append(float(value))
    return out


def _message(name: str, epoch: int, values: dict[str, Any]) -> str:
    numbers = ", ".join(f"{k}={_fmt(v)}" for k, v in values.items() if k != "rule")
    return f"{name} ({DESCRIPTIONS[name]}) at epoch {epoch}: {values.get('rule')}" + (f" ({numbers})" if numbers else "")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)
