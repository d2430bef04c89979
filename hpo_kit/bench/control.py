"""The random-flag control: the same number of stops, at the same epochs, on randomly chosen trials.

A monitor that stops trials frees workers, and freed workers alone shorten the time to a
good score whether or not the stopped trials were the bad ones. A 2023 study found random
baselines comparable to DNN-repair tools (``METHODS.md`` §5), so every figure of a monitor is
printed beside this control's:

* **In a replayed search** (:func:`hpo_kit.bench.quality.paired` with ``control=True``):
  :meth:`RandomFlags.like` reads the monitored arm's flag-stopped trials (how many, and at which
  epochs) and draws, with its own seed, which trial ids of the control arm are stopped and which
  of those epochs each one gets (a random permutation). Under random search a trial id is the
  same configuration in every arm (counter-based seeding), so "random ids" are random
  configurations of the same search. The control arm stops a trial when it reaches its epoch; a
  trial the control arm never starts, or that ends first (budget, ASHA), is not stopped, so the
  realised number of stops is printed beside the monitor's.
* **On ground truth** (:func:`random_flags`): the same epochs dealt to randomly chosen rows of
  the table, so the control's good-flagged share is what chance alone gives at that many flags.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..monitor import Finding
from ..trial import Trial

#: The indicator name of the control's findings.
RANDOM = "RANDOM"


class RandomFlags:
    """A monitor that flags trial ``i`` when it reaches epoch ``schedule[i]``, whatever it reports.

    Parameters
    ----------
    schedule
        Trial id -> the epoch at which to flag it; other trials are never flagged.
    """

    def __init__(self, schedule: Mapping[int, int]) -> None:
        self.schedule = {int(k): int(v) for k, v in schedule.items()}

    @classmethod
    def like(cls, trials: Mapping[int, Trial], seed: int, ids: Iterable[int] | None = None) -> "RandomFlags":
        """A control with as many stops as ``trials`` has flag-stopped trials, at their epochs.

        Parameters
        ----------
        trials
            The monitored arm's trials; a trial counts when it was stopped by a finding (it is
            STOPPED and has a flag); its epoch is its first flag's epoch.
        seed
            Seed of the draw of trial ids and of the epochs' permutation.
        ids
            The trial ids to choose among (default: the ids of ``trials``).
        """
        from ..trial import TrialStatus

        epochs = [int(t.flags[0]["epoch"]) for t in trials.values() if t.status is TrialStatus.STOPPED and t.flags]
        pool = sorted(trials if ids is None else ids)
        rng = np.random.default_rng([seed, 0x5EED])
        n = min(len(epochs), len(pool))
        chosen = rng.choice(pool, size=n, replace=False) if n else []
        dealt = rng.permutation(epochs)[:n] if n else []
        return cls({int(i): int(e) for i, e in zip(chosen, dealt)})

    def check(self, trial: Trial, trials: Mapping[int, Trial], max_epochs: int | None) -> Finding | None:
        """Flag ``trial`` once, at the first report at or after its scheduled epoch."""
        planned = self.schedule.get(trial.id)
        if planned is None or not trial.reports or trial.flags:
            return None
        epoch = int(trial.reports[-1]["epoch"])
        if epoch < planned:
            return None
        return Finding(RANDOM, epoch, {"planned": planned}, f"{RANDOM} (random-flag control) at epoch {epoch}")

    def __repr__(self) -> str:
        return f"RandomFlags({len(self.schedule)} stops)"


def random_flags(flags: Mapping[int, dict[str, Any] | None], seed: int) -> dict[int, dict[str, Any] | None]:
    """The ground-truth control of ``flags`` (row id -> first finding or ``None``): the same epochs,
    dealt to as many rows drawn at random (without replacement) from the same rows."""
    epochs = [int(f["epoch"]) for f in flags.values() if f is not None]
    rows = sorted(flags)
    rng = np.random.default_rng([seed, 0xF1A6])
    chosen = rng.choice(rows, size=len(epochs), replace=False) if epochs else []
    out: dict[int, dict[str, Any] | None] = {rid: None for rid in rows}
    for rid, e in zip(chosen, rng.permutation(epochs) if epochs else []):
        out[int(rid)] = {"indicator": RANDOM, "epoch": int(e), "values": {}, "message": ""}
    return out
