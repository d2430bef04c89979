"""The rung cut-off a worker applies alone: ASHA's promotion decision without a round trip.

A scheduler that promotes within a step (ASHA, Hyperband) hands each step a :class:`RungRule`:
for every rung the step may reach, the rank key a newcomer must beat to be in the rung's top
``1/eta`` *as the rung stood when the step was submitted*. At a rung the worker computes the
trial's rung loss (the study's score rule over its per-epoch losses, exactly as the scheduler
does: :func:`rung_loss`), compares, and goes on to the next rung or ends the step at once, the
way a pruner does; the report it sends says what it decided, and the scheduler records it.

The snapshot is refreshed while the step runs: the driver writes each in-flight step's current
cut-offs into the run's control record whenever a rung changes, and the step reads the record
at every epoch boundary anyway (:mod:`hpo_kit.engine.driver.control`). The driver still checks each
decision against the rung as it stands when it records it (:mod:`hpo_kit.engine.driver.promotion`), so a
decision made on a cut-off a few milliseconds old is refused rather than recorded. Measured in ``benchmarks/loop_peers.py`` W3: waiting for
the driver's answer cost a step 24 ms (median) on a 2-core machine, against 35 ms of work.

Pure values and functions (no Dask, no ledger), shared by the schedulers and the engine.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

Key = tuple[bool, float, int]


def rank_key(trial_id: int, loss: float) -> Key:
    """Sort key of a rung member, best first: finite before non-finite, lower loss, older trial.

    NaN sorts as inf: a NaN inside a sorted index would break every bisection.
    """
    finite = math.isfinite(loss)
    return (not finite, loss if finite else math.inf, trial_id)


def rung_loss(losses: Sequence[float], epoch: int, score: str, fallback: float | None = None) -> float:
    """A trial's loss at rung ``epoch`` from its per-epoch losses (index ``e - 1`` is epoch ``e``).

    ``score`` is the study's rule (``"best"`` or ``"last"``); ``fallback`` (the told loss)
    is used when the history is shorter than ``epoch``. Non-finite results become ``inf``
    (ranked last, never promoted).
    """
    if len(losses) >= epoch:
        seen = [v for v in losses[:epoch] if math.isfinite(v)]
        value = (min(seen) if seen else math.inf) if score == "best" else losses[epoch - 1]
    else:
        value = math.inf if fallback is None else fallback
    return float(value) if math.isfinite(value) else math.inf


@dataclass(frozen=True)
class RungRule:
    """What a step decides alone at its rungs.

    Attributes
    ----------
    cutoffs
        Rung epochs -> (the key to beat, or ``None`` when nobody can be promoted from the rung
        yet; the next rung's epochs).
    sign
        ``1`` for a metric to minimise, ``-1`` to maximise (loss = sign * value).
    score
        The study's score rule, ``"best"`` or ``"last"``.
    prior
        The trial's per-epoch losses before this step (the ledger's), which ``"best"`` needs.
    """

    cutoffs: Mapping[int, tuple[Key | None, int]]
    sign: float = 1.0
    score: str = "best"
    prior: tuple[float, ...] = field(default_factory=tuple)

    def decide(self, trial_id: int, epoch: int, values: Mapping[int, float],
               fresh: Mapping[int, tuple[Key | None, int]] | None = None) -> int | None:
        """The next budget if the trial goes on from rung ``epoch``, else ``None`` (it pauses).

        ``values`` holds this step's metric values by epoch; epochs the prior covers keep the
        prior's (a function-form trial retrains them, and the ledger keeps the first report).
        ``fresh``: newer cut-offs than the step's own snapshot (the run's control record), if any.
        """
        rung = (fresh or {}).get(epoch) or self.cutoffs.get(epoch)
        if rung is None or epoch not in self.cutoffs:
            return None
        cut, up = rung
        mine = rank_key(trial_id, self.loss_at(epoch, values))
        return up if cut is not None and not mine[0] and mine < cut else None

    def loss_at(self, epoch: int, values: Mapping[int, float]) -> float:
        """The trial's rung loss at ``epoch`` (see :meth:`decide` for ``values``)."""
        losses = list(self.prior[:epoch])
        for e in range(len(losses) + 1, epoch + 1):
            v = values.get(e)
            losses.append(math.nan if v is None else self.sign * float(v))
        return rung_loss(losses, epoch, self.score)
