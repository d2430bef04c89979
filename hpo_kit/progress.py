"""How far a study is, in one number that says what it counts, and the bar that shows it.

:func:`count` is the one rule, shared by the notebook panel (:mod:`hpo_kit.ui.status`) and
the terminal bar (:class:`Progress`):

* **trials ended** against the study's ``n_trials``, counted over *all* its trials, so a
  resumed study goes on from where it was (``4/8``, not ``0/4`` and then past its end);
* **epochs** against the study's epoch budget when the policy pauses trials at rungs
  (ASHA, SHA, Hyperband): there, trials end only when the study does (a paused trial may
  still be promoted), so counting ended trials sat at ``0/20`` and then jumped to
  ``20/20``. The budget is what the rungs cost when every promotion happens
  (:func:`rung_epoch_budget`); the count never passes it while the study runs.

Every form says which unit it counts (``"12/20 trials ended"``, ``"31/47 epochs"``).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .trial import Trial

#: The counts, ETA, rate and postfix come before the bar, so a narrow terminal (tqdm trims
#: a line from the right) or a notebook widget never loses them; with no total, tqdm
#: shows ``n/?`` and ``?`` for the ETA.
#: The unit (``trial`` or ``epoch``) says what the bar counts, in its rate (``trial/s``, ``epoch/s``).
BAR_FORMAT = "{desc}: {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}] {percentage:3.0f}%|{bar}|"
TRIALS, EPOCHS = "trials ended", "epochs"


@dataclass(frozen=True)
class Count:
    """``done`` of ``total`` (``None``: unknown) in ``unit`` (:data:`TRIALS` or :data:`EPOCHS`)."""

    done: int
    total: int | None
    unit: str

    @property
    def fraction(self) -> float | None:
        return None if not self.total else min(1.0, self.done / self.total)

    def text(self) -> str:
        """``"12/20 trials ended (60%)"``; ``"12/? trials ended"`` without a total."""
        pct = "" if self.fraction is None else f" ({100 * self.fraction:.0f}%)"
        return f"{self.done}/{self.total if self.total else '?'} {self.unit}{pct}"


def rung_epoch_budget(n_configs: int, r_min: int, eta: int, top: int) -> int:
    """Epochs a successive-halving study runs when every promotion happens.

    ``n_configs`` trials run ``r_min`` epochs; ``n // eta`` of them go on to ``r_min * eta``
    (the difference is what they add: a trial resumes from its epochs), and so on up to
    ``top``.
    """
    budgets, r = [], max(1, r_min)
    while r < top:
        budgets.append(r)
        r *= max(2, eta)
    budgets.append(top)
    total, n, before = 0, n_configs, 0
    for level in budgets:
        total += n * (level - before)
        before, n = level, max(1, n // max(2, eta))
    return total


def count(trials: Iterable[Trial], n_trials: int | None, epoch_budget: int | None = None,
          ended: bool = False) -> Count:
    """How far the study is (see the module docstring).

    Parameters
    ----------
    trials
        All the study's trials (resumed ones included).
    n_trials
        The study's ``n_trials`` (``None``: a time budget only).
    epoch_budget
        Count epochs against this (a policy that pauses trials at rungs); ``None``: count ended trials.
    ended
        The study ended: the count is complete (its epochs are the whole budget, whatever the estimate said).
    """
    trials = list(trials)
    if epoch_budget:
        done = sum(t.epochs for t in trials)
        return Count(done, done if ended else max(epoch_budget, done), EPOCHS)
    done = sum(t.status.is_terminal for t in trials)
    total = n_trials if n_trials is not None else (done if ended else None)
    return Count(done, max(total, done) if total is not None else None, TRIALS)


def epoch_budget_of(optimizer: Any, n_trials: int | None, max_epochs: int | None) -> int | None:
    """The epoch budget of a policy that pauses trials at rungs (``r_min``, ``eta`` and a top), else ``None``.

    Duck-typed on the journalled parameters (a dict) or the policy object: ``r_min``, ``eta``,
    ``r_max`` (default: the study's ``max_epochs``) and ``n_configs`` (default: ``n_trials``).
    """
    get = optimizer.get if isinstance(optimizer, dict) else (lambda k, d=None: getattr(optimizer, k, d))
    r_min, eta = get("r_min"), get("eta")
    top = get("r_max") or max_epochs
    n = get("n_configs") or n_trials
    if not all(isinstance(v, int) and v > 0 for v in (r_min, eta, top, n)):
        return None
    return rung_epoch_budget(n, r_min, eta, top)


class Progress:
    """The terminal (or notebook) bar of a running study: :func:`count`, elapsed time, ETA and the best score.

    Parameters
    ----------
    total
        Trials the study will run (``None``: unknown, e.g. a time budget only); what the
        engine passes today. :meth:`for_study` is the form that counts right after a
        resume and under rung policies.
    desc
        The label in front of the bar (the study's name).
    enabled
        ``False`` shows nothing.
    **options
        More tqdm arguments (``file``, ``ncols``, ``mininterval``, ...); they override the
        defaults here (a given ``ncols`` turns off following the terminal's width).
    """

    def __init__(self, total: int | None, desc: str, enabled: bool = True, **options: Any) -> None:
        from tqdm.auto import tqdm

        self.study: Any = options.pop("study", None)
        self.epoch_budget: int | None = options.pop("epoch_budget", None)
        kwargs: dict[str, Any] = {"unit": "epoch" if self.epoch_budget else "trial",
                                  "dynamic_ncols": "ncols" not in options, "bar_format": BAR_FORMAT,
                                  "disable": not enabled, **options}
        self._bar: Any = tqdm(total=total, desc=desc, **kwargs)
        if self.study is not None:
            self._sync()

    @classmethod
    def for_study(cls, study: Any, enabled: bool = True, **options: Any) -> "Progress":
        """A bar that counts ``study``'s trials as :func:`count` does (its ledger read at each update)."""
        budget = epoch_budget_of(study.optimizer, study.n_trials, study.max_epochs)
        return cls(study.n_trials if not budget else budget, study.name, enabled, study=study, epoch_budget=budget,
                   **options)

    def _sync(self) -> None:
        c = count(self.study.ledger.trials.values(), self.study.n_trials, self.epoch_budget)
        self._bar.total = c.total
        self._bar.n = c.done

    def trial_ended(self, best: float | None, running: int) -> None:
        """Count one ended trial (or, from :meth:`for_study`, read the count afresh).

        Parameters
        ----------
        best
            The best score so far (``None``: none yet).
        running
            Trials running now, as the caller counts them (the engine passes its RUNNING
            trials); shown as given.
        """
        # The postfix first, so the refresh that update() makes shows this trial's numbers.
        self._bar.set_postfix(best="-" if best is None else f"{best:.4g}", running=running, refresh=False)
        if self.study is not None:
            self._sync()
            self._bar.refresh()
        else:
            self._bar.update(1)

    step_ended = trial_ended  # under a rung policy the engine calls this at every step's end

    def close(self) -> None:
        """Draw the final state and release the bar."""
        if self.study is not None:
            c = count(self.study.ledger.trials.values(), self.study.n_trials, self.epoch_budget, ended=True)
            self._bar.total, self._bar.n = c.total, c.done
        self._bar.close()


__all__ = ["Count", "Progress", "count", "rung_epoch_budget", "epoch_budget_of", "TRIALS", "EPOCHS"]
