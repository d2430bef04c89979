"""Fail fast: a study whose first trials all fail with one error stops early with that error (issue 26 item 8).

An error that every trial hits (an objective that returns its score instead of reporting it,
a module missing on the workers, a bad path) used to spend the whole trial budget before the
all-failed warning said so. With ``Study(fail_fast=k)`` (default :data:`DEFAULT_FAIL_FAST`)
the driver looks at the first ``k`` trials *to end in this run*: if all of them FAILED and
their errors are one group (:func:`hpo_kit.error_groups.error_key`: the type and the message
with values, addresses, paths and ids masked), the study stops as ``stop()`` would (the
trials in flight end STOPPED, by the policy) and ends ``state="failed"`` with a
:class:`~hpo_kit.errors.RepeatedTrialError` as ``study.error`` (``run()`` and ``wait()``
raise it; the journal's ``study_end`` holds it and ``reason="fail_fast"``).

What counts, in the order trials end: a FAILED trial counts with its error; any other end
(COMPLETED, PAUSED at a rung, STOPPED by a scheduler or a monitor) shows that the objective
can run, and turns the rule off for the run; a user's kill or a discarded trial says
nothing about the objective and is skipped. The rule decides once, at the ``k``-th counted
end (or earlier, at the first end that rules it out), so a later run of failures never stops
a study that once worked. Trials of an earlier run (``Study.resume``; the interrupted ones
that ``on_interrupted="fail"`` ends) are not counted: the resumed run may have its fix.

Why ``k = 5`` by default: an error that every trial hits shows up in the first trials, and
failing ones are quick, so confirming it five times costs little. An error that depends on
the configuration (a learning rate that overflows, a batch too large for the GPU) must not
stop a study: it fills five random first trials with one error only when it covers most
of the space (a region holding half of it: 1 in 32; with ``k = 3``, 1 in 8). ``None`` or
``0`` turns the rule off.

Mixed into :class:`~hpo_kit.engine.driver.handler.Driver` (it reads the ledger and calls ``stop``).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...error_groups import error_key, first_line
from ...errors import RepeatedTrialError
from ...trial import Trial, TrialStatus

DEFAULT_FAIL_FAST = 5
TRACEBACK_SHOWN = 4000  # characters of the first failed trial's traceback carried in the error


def counted(status: TrialStatus, discard: bool) -> bool:
    """Whether an end says anything about the objective (a user's kill or a discard does not)."""
    return not discard and status is not TrialStatus.KILLED


def verdict(ended: Sequence[tuple[TrialStatus, str | None]], limit: int) -> bool | None:
    """The rule over ``(status, error)`` of the counted ends in their order: True (stop), False (never),
    None (not decided yet). Pure: ``ended`` holds each trial once, at its first counted end in the run."""
    head = list(ended[:limit])
    if any(status is not TrialStatus.FAILED for status, _ in head):
        return False
    if len({error_key(error) for _, error in head}) > 1:
        return False
    return True if len(head) >= limit else None


def repeated_error(trials: Sequence[Trial], limit: int) -> RepeatedTrialError:
    """The error a study fails fast with: the first trial's error line, the trials, its traceback."""
    first = trials[0]
    error = first_line(first.error)
    ids = ", ".join(str(i) for i in sorted(t.id for t in trials))
    tb = (first.traceback or "").strip()
    if len(tb) > TRACEBACK_SHOWN:
        tb = "...\n" + tb[-TRACEBACK_SHOWN:]
    message = (f"the first {limit} trials to end all FAILED with one error, so the study stopped early "
               f"(fail_fast={limit}): {error} (trials {ids}). Fix it and start a new Study, or pass "
               f"fail_fast=None to run every trial regardless."
               + (f" Trial {first.id}'s traceback:\n{tb}" if tb else ""))
    return RepeatedTrialError(message, error, sorted(t.id for t in trials), first.traceback)


class FailFast:
    """The driver's fail-fast rule (see the module docstring)."""

    ledger: Any
    study: Any
    stopping: bool
    stop: Any  # Stopping.stop(reason, source)
    failure: RepeatedTrialError | None = None
    _fail_fast_from: int | None = None  # ledger.ends index where this run's ends start; None: not armed
    _fail_fast_done = False

    def arm_fail_fast(self) -> None:
        """Count the trial ends from now on (called once the run's restored history is in the ledger)."""
        limit = self.study.fail_fast
        self._fail_fast_done = not limit
        self._fail_fast_from = len(self.ledger.ends)

    def _check_fail_fast(self) -> None:
        """After each trial end: decide once the run's first ``fail_fast`` counted ends are in."""
        if self._fail_fast_from is None or self._fail_fast_done or self.stopping:
            return
        limit = self.study.fail_fast
        seen: set[int] = set()
        ended: list[tuple[TrialStatus, Trial]] = []
        for tid, status, *_ in self.ledger.ends[self._fail_fast_from:]:
            t = self.ledger[tid]
            if tid not in seen and counted(status, t.discard):
                ended.append((status, t))
            seen.add(tid)
            if len(ended) >= limit:
                break
        decided = verdict([(status, t.error) for status, t in ended], limit)
        if decided is None:
            return
        self._fail_fast_done = True
        if decided:
            self.failure = repeated_error([t for _, t in ended], limit)
            self.stop(f"fail_fast: the first {limit} trials FAILED with one error: {self.failure.error}",
                      "policy")
