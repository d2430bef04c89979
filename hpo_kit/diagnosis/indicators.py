"""BTTackler's quality indicators as pure functions of per-epoch training statistics.

Each indicator takes the numbers a :class:`~hpo_kit.diagnosis.watcher.Watcher` and the
trial's reports recorded, and returns ``None`` (healthy) or a dict of the numbers that
fired it (always with a ``"rule"`` key naming the sub-rule). No torch here: the rules are
tested on constructed histories, and they run on the driver, which never trains.

Where the defaults come from
----------------------------
The thresholds are those of the authors' released code (``bttackler/default_config.yaml``
and ``bridger/btassessor.py`` of thuml/BTTackler, 20-epoch budgets), as summarised in
``METHODS.md`` §4. Paper name (code name):

* ``AGV`` abnormal gradient values (their ``eg_rule0``): NaN/Inf in the loss, the
  gradients or the weights. Fires at once. Their check never fires (``type(x) is None`` is
  never true, and the monitor's NaN flag is and-ed onto ``False``); here it is ``isfinite``.
* ``EAG`` exploding gradient (``EG``): median G_l > ``p_eg1=1e4``, or a non-finite
  adjacent ratio q_l, or median q_l > ``p_eg2=1e3``. Skipped when some G_l == 0 (that is
  ERG's case, as in their code).
* ``ERG`` exponentially reduced gradient / vanishing (``VG``), first half of the
  budget: median G_l < ``p_vg1=1e-5``, or some G_l == 0, or a non-finite q_l, or median
  q_l < ``p_vg2=1e-4``.
* ``LAR`` low activation ratio / dying ReLU (``DR``), from ``min_epochs=5`` epochs on:
  median zero ratio > ``p_dr1=0.5`` (zero-gradient ratio Z_l by default).
* ``PLC`` passive loss change / slow convergence (``SC``): first half, >= 3 epochs,
  std/|mean| of the loss < ``p_sc1=1e-4``; second half, >= ``wd_nmg=6`` epochs, the
  coefficient of variation (CV) of the later half of the history exceeds the earlier
  half's. Deviation: here it must exceed it ``slow_ratio=2`` times (the authors: 1). A CV is
  scale-free, so a loss that decays exponentially - steady progress - has equal CVs in
  both halves, and with an odd history the later half is the longer one and has the larger
  CV: the authors' rule fires on it at epoch 11 of 20 (it stopped the best trial of a
  random search in ``benchmarks/diagnosis.py``). A late starter (flat, then falling: the digits MLP at
  lr=0.01) has a CV ratio of 5-15 and is still caught. ``slow_ratio=1`` restores the authors' rule.
* ``ULC`` unstable loss change / heavy oscillation (``HO``), second half (off by default, see
  :data:`DEFAULT_INDICATORS`): over the last
  ``wd_ho=6`` epochs, linear-fit slope >= ``p_ho1=0.01`` and std/|mean| > ``p_ho2=0.2``.
* Deviation in every CV (std/mean) above: the mean is taken of ``|loss|`` (:func:`_cv`), so
  a negative loss is judged like its mirror image; the authors divide by the signed mean.
* ``NMG`` no more gain: mean(loss[-6:-3]) < mean(loss[-3:]) (``wd_nmg=6``). Off by default
  in :class:`~hpo_kit.diagnosis.Diagnosis` (see :data:`DEFAULT_INDICATORS`).

Epoch windows
-------------
``epoch`` counts from 1 at the trial's own start and carries over when a trial is resumed
or promoted (ASHA), since its reports accumulate. A trial started from another trial's
weights (Hypersearch/PBT) starts its own history at epoch 1. "First half" is
``epoch <= max_epochs // 2`` where ``max_epochs`` is the study's epochs of a full trial
(r_max under ASHA): the authors' ``epoch_idx < max_epoch // 2`` with 0-based epochs.

The protection rule (:func:`protected`) exempts a trial whose loss at this epoch is within
the best ``percent`` % of the losses other trials recorded at the same epoch, once at
least ``min_peers`` are recorded, from ERG, LAR, PLC and NMG. The authors keep a trial
protected forever once it was; here protection is judged afresh at every epoch, as
``METHODS.md`` states it.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

Values = dict[str, Any]

#: Evaluation order; the hard rules (AGV, EAG) come first and ignore protection.
INDICATORS = ("AGV", "EAG", "ERG", "LAR", "PLC", "ULC", "NMG")
#: What :class:`~hpo_kit.diagnosis.Diagnosis` evaluates by default: AGV, EAG, ERG, LAR, PLC. Off by
#: default, opt in by name: ULC (on the recorded digits table it flagged 16 of 112 configurations that
#: end good and 4 of 90 that end bad, late: a near-zero training loss that wobbles has a large CV) and
#: NMG (the authors' own code calls it useless; 29 good of 112 flagged). See ``docs/diagnosis.md``.
DEFAULT_INDICATORS = ("AGV", "EAG", "ERG", "LAR", "PLC")
#: Rules a protected (top) trial is exempt from.
PROTECTED_FROM = frozenset({"ERG", "LAR", "PLC", "NMG"})


def ratios(grad_abs: Sequence[float]) -> list[float]:
    """Adjacent-layer gradient ratios q_l = G_l / G_{l+1} (layers input to output).

    A zero denominator gives ``inf`` (or ``nan`` for 0/0), which the rules read as
    non-finite, as the authors' numpy division does.
    """
    out = []
    for a, b in zip(grad_abs[:-1], grad_abs[1:]):
        if b == 0:
            out.append(math.nan if a == 0 or math.isnan(a) else math.inf)
        else:
            out.append(a / b)
    return out


def first_half(epoch: int, max_epochs: int) -> bool:
    """True while ``epoch`` (1-based) is in the first half of a ``max_epochs`` budget."""
    return epoch <= max_epochs // 2


def _finite(values: Sequence[float]) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def nonfinite(losses: Sequence[float], grad_abs: Sequence[float] = (), nonfinite_grad: int = 0,
              nonfinite_weight: int = 0) -> Values | None:
    """AGV: a NaN/Inf loss, gradient statistic or weight. Fires at once, no protection.

    Parameters
    ----------
    losses
        This epoch's loss values (e.g. train and validation loss); ``None`` entries are
        missing values, not faults.
    grad_abs
        This epoch's per-layer mean |grad|; a non-finite entry means a NaN/Inf gradient.
    nonfinite_grad, nonfinite_weight
        Layers whose gradients / weights held NaN or Inf (as counted by the Watcher).
    """
    bad_loss = [v for v in losses if v is not None and not math.isfinite(v)]
    bad_grad = sum(1 for g in grad_abs if not math.isfinite(g))
    if bad_loss:
        return {"rule": "loss", "loss": bad_loss[0]}
    if bad_grad or nonfinite_grad:
        return {"rule": "grad", "layers": max(bad_grad, nonfinite_grad)}
    if nonfinite_weight:
        return {"rule": "weight", "layers": nonfinite_weight}
    return None


def exploding(grad_abs: Sequence[float], max_grad: float = 1e4, max_ratio: float = 1e3) -> Values | None:
    """EAG: median G_l > ``max_grad``, a non-finite q_l, or median q_l > ``max_ratio``.

    Defaults: the authors' ``p_eg1`` and ``p_eg2``. Not judged when some G_l == 0 (ERG's
    case) or a G_l is non-finite (AGV's case).
    """
    if not grad_abs or not _finite(grad_abs) or 0 in grad_abs:
        return None
    median = float(np.median(grad_abs))
    if median > max_grad:
        return {"rule": "median_grad", "median_grad": median, "threshold": max_grad}
    q = ratios(grad_abs)
    if not q:
        return None
    if not _finite(q):
        return {"rule": "ratio_nonfinite", "ratios": q}
    median_q = float(np.median(q))
    if median_q > max_ratio:
        return {"rule": "median_ratio", "median_ratio": median_q, "threshold": max_ratio}
    return None


def vanishing(grad_abs: Sequence[float], epoch: int, max_epochs: int, min_grad: float = 1e-5,
              min_ratio: float = 1e-4) -> Values | None:
    """ERG (first half): median G_l < ``min_grad``, some G_l == 0, or median q_l < ``min_ratio``.

    Defaults: the authors' ``p_vg1`` and ``p_vg2``. A non-finite q_l (a zero G_{l+1})
    also fires, as in their ``vg_rule2``.
    """
    if not grad_abs or not first_half(epoch, max_epochs) or not _finite(grad_abs):
        return None
    median = float(np.median(grad_abs))
    if median < min_grad:
        return {"rule": "median_grad", "median_grad": median, "threshold": min_grad}
    zero = [i for i, g in enumerate(grad_abs) if g == 0]
    if zero:
        return {"rule": "zero_grad", "layers": zero}
    q = ratios(grad_abs)
    if not q:
        return None
    median_q = float(np.median(q))
    if median_q < min_ratio:
        return {"rule": "median_ratio", "median_ratio": median_q, "threshold": min_ratio}
    return None


def dying(zero_ratio: Sequence[float], epoch: int, max_zero: float = 0.5, min_epochs: int = 5) -> Values | None:
    """LAR (from ``min_epochs`` on): median per-layer zero ratio > ``max_zero``.

    ``zero_ratio`` is the zero-gradient ratio Z_l (the authors' ``rate0``) or the ReLU
    output zero ratio. Defaults: the authors' ``p_dr1=0.5`` and their 5-epoch minimum.
    """
    if not zero_ratio or epoch < min_epochs or not _finite(zero_ratio):
        return None
    median = float(np.median(zero_ratio))
    if median > max_zero:
        return {"rule": "median_zero", "median_zero": median, "threshold": max_zero}
    return None


def _cv(x: Sequence[float]) -> float:
    """Coefficient of variation ``std(x) / mean(|x|)``, sign-free.

    A loss may be negative (a negative log-likelihood, an ELBO); dividing by the signed mean
    made every such CV negative, so PLC read it as flat and ULC as calm. For a history of one
    sign ``mean(|x|) == |mean(x)|``, the usual CV; for one that crosses zero, where the mean
    may be ~0, it is the scale of the values, so the CV stays finite and meaningful. A history
    of zeros (scale 0) does not move at all: CV 0, i.e. flat.
    """
    scale = float(np.mean(np.abs(x)))
    return float(np.std(x)) / scale if scale > 0 else 0.0


def passive(losses: Sequence[float], epoch: int, max_epochs: int, min_cv: float = 1e-4, early_epochs: int = 3,
            late_epochs: int = 6, slow_ratio: float = 2.0) -> Values | None:
    """PLC: the loss barely moves, or only started to move late.

    First half, from ``early_epochs`` on: std/|mean| of the whole loss history < ``min_cv``
    (the authors' ``p_sc1``). Second half, from ``late_epochs`` on (their ``wd_nmg``): the
    coefficient of variation of the later half of the history exceeds ``slow_ratio`` times
    the earlier half's (the authors: 1; see the module docstring for why 2).
    """
    if len(losses) < 2 or not _finite(losses):
        return None
    if first_half(epoch, max_epochs):
        if len(losses) >= early_epochs:
            cv = _cv(losses)
            if cv < min_cv:
                return {"rule": "flat", "cv": cv, "threshold": min_cv}
        return None
    if len(losses) < late_epochs:
        return None
    mid = len(losses) // 2
    early, late = _cv(losses[:mid]), _cv(losses[mid:])
    if late > slow_ratio * early:
        return {"rule": "slowing", "cv_early": early, "cv_late": late, "slow_ratio": slow_ratio}
    return None


def unstable(losses: Sequence[float], epoch: int, max_epochs: int, window: int = 6, min_slope: float = 0.01,
             max_cv: float = 0.2) -> Values | None:
    """ULC (second half): over the last ``window`` epochs, slope >= ``min_slope`` and std/|mean| > ``max_cv``.

    Defaults: the authors' ``wd_ho``, ``p_ho1`` and ``p_ho2``. The slope is of a least-squares
    line through the window, in loss units per epoch.
    """
    if first_half(epoch, max_epochs) or len(losses) < window or not _finite(losses[-window:]):
        return None
    tail = np.asarray(losses[-window:], dtype=float)
    slope = float(np.polyfit(np.arange(window), tail, 1)[0])
    cv = _cv(tail)
    if slope >= min_slope and cv > max_cv:
        return {"rule": "oscillating", "slope": slope, "cv": cv, "min_slope": min_slope, "max_cv": max_cv}
    return None


def no_gain(losses: Sequence[float], window: int = 6) -> Values | None:
    """NMG: the mean of the last ``window // 2`` losses exceeds the mean of the ``window // 2`` before."""
    if len(losses) < window or not _finite(losses[-window:]):
        return None
    half = window // 2
    head, tail = float(np.mean(losses[-window:-half])), float(np.mean(losses[-half:]))
    if head < tail:
        return {"rule": "no_gain", "head_mean": head, "tail_mean": tail}
    return None


def protected(loss: float | None, peer_losses: Sequence[float], percent: float = 10.0,
              min_peers: int = 10) -> bool:
    """True when ``loss`` is within the best ``percent`` % of the peers' losses at this epoch.

    ``peer_losses`` are the finite losses other trials recorded at the same epoch; below
    ``min_peers`` of them nobody is protected. Defaults: the authors' ``cmp_percent=10``
    and ``min_cmp_num=10`` (``np.percentile``, ``loss <= threshold``).
    """
    peers = [p for p in peer_losses if p is not None and math.isfinite(p)]
    if loss is None or not math.isfinite(loss) or len(peers) < min_peers:
        return False
    return loss <= float(np.percentile(peers, percent))
