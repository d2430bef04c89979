"""The driver's side of a study's plans: enqueued configurations and stop rules.

Mixed into :class:`~hpo_kit.engine.driver.handler.Driver`; runs on the loop thread only.

* An enqueue posted by ``study.enqueue`` (already checked against the space in the caller) is
  journalled and joins the study's :class:`~hpo_kit.known.KnownConfigs`; the scheduler takes
  it at its next new trial (:meth:`hpo_kit.schedulers.Scheduler.new_trial`), and the trial
  created from it marks it taken (:meth:`Plans._took`).
* Stop rules (:mod:`hpo_kit.stopping_rules`) are checked before each fill, so after every
  batch of ended trials and on every idle tick, before anything new starts. The ledger's end
  log is folded into the rules' :class:`~hpo_kit.stopping_rules.Record` from where the last
  check left off: a cache of a pure function of the ledger, rebuilt from the start by a resume.
  A firing rule stops the study as a policy does (trials end STOPPED) and its reason becomes
  the ``study_end`` record's ``reason``.
"""
from __future__ import annotations

import time
from typing import Any

from ...stopping_rules import Record, StopRule, first_reason, fold
from ...trial import Trial


class Plans:
    """Enqueues and stop rules on the loop thread (see the module docstring)."""

    ledger: Any
    study: Any
    goal: Any
    paused: bool
    stopping: bool
    exhausted: bool
    stop_reason: str | None

    _record: Record
    _folded: int  # entries of ledger.ends folded into _record

    def _init_plans(self) -> None:
        self._record, self._folded = Record(), 0
        self.stop_reason = None

    # -- enqueued configurations ----------------------------------------------------------------
    def enqueue(self, config: dict[str, Any], reason: str, source: str) -> int:
        """Journal a checked configuration and let the next new trial take it; returns its ``k``."""
        k = self.study.known.add(config, journalled=True)
        self.ledger.control("enqueue", source, reason, value={"id": k, "config": config})
        self.exhausted = False  # a searcher with nothing more to offer may start this one
        return k

    def journal_enqueues(self) -> None:
        """Journal the enqueues made before the study's journal was open (at its start)."""
        for k, config in self.study.known.drain_unjournalled():
            self.ledger.control("enqueue", "user", "enqueued before the run", value={"id": k, "config": config})

    def _took(self, t: Trial) -> None:
        k = t.info.get("enqueued")
        if isinstance(k, int) and not isinstance(k, bool):
            self.study.known.take(k)

    def _known_waiting(self) -> bool:
        return len(self.study.known) > 0

    # -- stop rules ----------------------------------------------------------------------------------
    def set_stop_rules(self, rules: tuple[StopRule, ...], reason: str, source: str) -> None:
        """Replace the study's stop rules (checked by the caller); journalled as a ``stop_rules`` control."""
        self.study.stop_rules = rules
        self.ledger.control("stop_rules", source, reason, value=[r.to_record() for r in rules])

    def _check_rules(self) -> None:
        """Fold the ends since the last check, then stop the study if a rule fires."""
        rules = self.study.stop_rules
        if not rules or self.stopping or self.paused:
            return
        ends = self.ledger.ends
        record = self._record
        for tid, status, _epochs, _busy in ends[self._folded:]:
            t = self.ledger[tid]
            if status.is_terminal and not t.discard:
                record = fold(record, t.score(self.goal), t.ended or time.time(), self.goal)
        self._record, self._folded = record, len(ends)
        reason = first_reason(rules, record, self.goal, time.time(), self.study._t0 or time.time())
        if reason is not None:
            self.stop(reason, "policy")  # like the time budget: a policy's stop, trials end STOPPED

    @property
    def rule_record(self) -> Record:
        """The record the rules last saw (panels, tests)."""
        return self._record
