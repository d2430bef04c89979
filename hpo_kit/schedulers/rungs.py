"""The rung records of successive halving and the pure decisions over them (ASHA, Hyperband, SHA).

After Optuna's ``SuccessiveHalvingPruner`` and Ray's ``_Bracket``: small functions over rung
records, tested without a cluster. The ledger-facing helpers (:class:`PausedEpochs`,
:func:`told_epochs`, :func:`forget_discarded`) read trial records, never change them.
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from ..engine.cutoff import Key, rank_key, rung_loss  # noqa: F401 - rung_loss is part of this module's API
from ..decisions import epoch_budget
from ..trial import Trial, TrialStatus


def rung_budgets(r_min: int, eta: int, r_max: int) -> list[int]:
    """Epochs of the rungs: ``r_min * eta**k`` below ``r_max``, then ``r_max``.

    >>> rung_budgets(1, 3, 27)
    [1, 3, 9, 27]
    """
    budgets, r = [], r_min
    while r < r_max:
        budgets.append(r)
        r *= eta
    return budgets + [r_max]


@dataclass
class Rung:
    """The records of one rung: each trial's loss at ``epochs``, and who was promoted from it.

    Change it through :meth:`add`, :meth:`promote`, :meth:`remove` and :meth:`clear`: they keep
    two sorted indexes (every member; members not yet promoted), so a trial's rank is a
    bisection and :func:`promotable` looks at the few unpromoted members inside the top
    ``1/eta`` instead of re-sorting the rung at every decision (ASHA's time per decision then
    stays flat as the study grows; ``benchmarks/scale.py sim``).
    """

    epochs: int
    next_epochs: int | None  # the budget of the rung above; None for the top rung
    losses: dict[int, float] = field(default_factory=dict)
    promoted: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._order = sorted(rank_key(t, v) for t, v in self.losses.items())
        self._waiting = [k for k in self._order if k[2] not in self.promoted]

    def add(self, trial_id: int, loss: float) -> None:
        """Enter a trial with its loss at this rung (a trial already in it keeps its first record)."""
        if trial_id in self.losses:
            return
        self.losses[trial_id] = loss
        key = rank_key(trial_id, loss)
        bisect.insort(self._order, key)
        if trial_id not in self.promoted:
            bisect.insort(self._waiting, key)

    def promote(self, trial_id: int) -> None:
        """Mark a trial promoted from this rung."""
        if trial_id in self.promoted:
            return
        self.promoted.add(trial_id)
        if trial_id in self.losses:
            _discard(self._waiting, rank_key(trial_id, self.losses[trial_id]))

    def remove(self, trial_id: int) -> None:
        """Drop a trial's record and promotion (a discarded trial counts nowhere)."""
        if trial_id in self.losses:
            key = rank_key(trial_id, self.losses.pop(trial_id))
            _discard(self._order, key)
            _discard(self._waiting, key)
        self.promoted.discard(trial_id)

    def clear(self) -> None:
        """Forget every record and promotion."""
        self.losses.clear()
        self.promoted.clear()
        self._order.clear()
        self._waiting.clear()

    def rank(self, trial_id: int) -> int:
        """0-based place of a member, best first (see :func:`ranked`)."""
        return bisect.bisect_left(self._order, rank_key(trial_id, self.losses[trial_id]))

    def cutoff(self, eta: int) -> Key | None:
        """The key a newcomer must beat (``<``) to enter the top ``1/eta`` with its own record;
        ``None`` when the rung, newcomer included, is too small to promote anyone."""
        k = (len(self.losses) + 1) // eta
        return self._order[k - 1] if k else None

    def unpromoted_in_top(self, k: int) -> Iterator[int]:
        """Members not yet promoted whose rank is below ``k``, best first."""
        for key in self._waiting:
            if bisect.bisect_left(self._order, key) >= k:
                return
            yield key[2]


def _discard(keys: list[Key], key: Key) -> None:
    i = bisect.bisect_left(keys, key)
    if i < len(keys) and keys[i] == key:
        del keys[i]


def ranked(losses: Mapping[int, float]) -> list[int]:
    """Trial ids best first (lowest loss; ties to the lower id; non-finite last)."""
    return sorted(losses, key=lambda tid: rank_key(tid, losses[tid]))


def promotable(rung: Rung, eta: int, waiting: Mapping[int, int]) -> list[int]:
    """Ids in the top ``floor(n/eta)`` of ``rung``, not yet promoted, PAUSED at this rung, best first.

    ``waiting`` maps a paused trial to the epoch it paused at; stopped or failed trials are
    not in it, so they are never promoted. Cost: the unpromoted members of the top (few, as
    ASHA promotes them as soon as they qualify), not the rung's size.
    """
    return [tid for tid in rung.unpromoted_in_top(len(rung.losses) // eta)
            if waiting.get(tid) == rung.epochs and math.isfinite(rung.losses[tid])]


def next_promotion(rungs: Iterable[Rung], eta: int, waiting: Mapping[int, int]) -> tuple[Rung, int] | None:
    """The seed's scan: rungs from the top budget down; the first promotable configuration.

    Rungs of equal budget (other brackets) keep their given order.
    """
    for rung in sorted((r for r in rungs if r.next_epochs is not None), key=lambda r: -r.epochs):
        ids = promotable(rung, eta, waiting)
        if ids:
            return rung, ids[0]
    return None


def record(rungs: Sequence[Rung], trial_id: int, losses: Sequence[float], epochs: int, score: str,
           fallback: float | None = None) -> None:
    """Enter a trial in every rung it reached (``epochs`` trained) and was not yet entered in."""
    for rung in rungs:
        if rung.epochs <= epochs and trial_id not in rung.losses:
            rung.add(trial_id, rung_loss(losses, rung.epochs, score, fallback))


def forget_discarded(rungs: Iterable[Rung], trials: Mapping[int, Trial]) -> None:
    """Drop rung records of trials the ledger marks ``discard`` (told a pause at a rung, then discarded).

    A restore skips such a trial entirely, so the live scheduler forgets it too; O(rung members).
    """
    for rung in rungs:
        gone = [tid for tid in rung.losses if (t := trials.get(tid)) is not None and t.discard]
        for tid in gone:
            rung.remove(tid)


class PausedEpochs(Mapping[int, int]):
    """Paused trial -> epochs it paused at, read from the ledger per lookup (no copy, no mirror).

    :func:`promotable` looks up only a rung's top members: O(rung size), not O(study).
    """

    def __init__(self, trials: Mapping[int, Trial]) -> None:
        self._trials = trials

    def __getitem__(self, trial_id: int) -> int:
        t = self._trials[trial_id]
        if t.status is not TrialStatus.PAUSED:
            raise KeyError(trial_id)
        return t.epochs

    def __iter__(self) -> Iterator[int]:
        return (tid for tid, t in self._trials.items() if t.status is TrialStatus.PAUSED)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def told_epochs(t: Trial, budgets: Sequence[int]) -> int:
    """Epochs of a trial's last *told* step, from the ledger: what its rung records were made from.

    A paused or ended trial was told all its epochs; one that runs or waits was told the
    rung it was resumed from (the largest budget below its current one), or nothing yet.
    """
    if t.status is TrialStatus.PAUSED or t.status.is_terminal:
        return t.epochs
    return min(t.epochs, max((r for r in budgets if r < (t.budget or 0)), default=0))


def hyperband_weights(n_rungs: int, eta: int, brackets: int) -> list[int]:
    """Hyperband's initial bracket sizes, bracket ``b`` starting at rung ``b`` (``s = K - b`` halvings)."""
    k_max = n_rungs - 1
    return [math.ceil((k_max + 1) / (k_max - b + 1) * eta ** (k_max - b)) for b in range(brackets)]


def study_rungs(policy: str, r_min: int, eta: int, r_max: int | None, max_epochs: int | None) -> list[int]:
    """Rung budgets up to the policy's ``r_max`` (default: the study's ``max_epochs``), checked."""
    top = epoch_budget(policy, "r_max", r_max, max_epochs)
    if r_min > top:
        raise ValueError(f"{policy}: r_min={r_min} exceeds r_max={top}")
    return rung_budgets(r_min, eta, top)
