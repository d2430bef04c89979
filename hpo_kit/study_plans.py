"""A study's plans: configurations to run first, earlier results to start from, rules to stop by.

Mixed into :class:`~hpo_kit.study.Study`. Each call checks its input in the caller's thread
and raises ``ValueError`` naming the field before anything changes; while the study runs
the change is posted to the loop (:mod:`hpo_kit.engine.driver.plans`) and journalled there.
See :mod:`hpo_kit.known` (enqueue), :mod:`hpo_kit.warm_start` and :mod:`hpo_kit.stopping_rules`.
"""
from __future__ import annotations

import concurrent.futures
from collections.abc import Mapping
from typing import Any

from .known import KnownConfigs, check_config
from .stopping_rules import StopRule, check_rules
from .warm_start import load_warm_start


class StudyPlans:
    """``enqueue``, ``set_stop_rules`` and the constructor's ``warm_start``/``stop_when``/``enqueue``."""

    def _init_plans(self, warm_start: Any, stop_when: Any, enqueue: Any, max_epochs: int | None) -> None:
        self.stop_rules: tuple[StopRule, ...] = check_rules("Study", "stop_when", stop_when)
        if enqueue is not None and (isinstance(enqueue, Mapping) or not isinstance(enqueue, (list, tuple))):
            raise ValueError(f"Study: enqueue={enqueue!r:.80} must be a list of configurations")
        configs = [check_config("Study: enqueue", self.space, c) for c in enqueue or ()]
        self.warm = load_warm_start(warm_start, self.space, self.goal, max_epochs)
        self.known = KnownConfigs()
        for config in configs:
            self.known.add(config, journalled=False)

    def enqueue(self, config: Mapping[str, Any], reason: str = "") -> concurrent.futures.Future | None:
        """Run ``config`` next, ahead of the searcher (before or while the study runs); journalled.

        The configuration must be complete and inside the space. Its trial's ``source`` is
        ``"enqueued"``; its result is told to the searcher like any other. Returns the loop's
        future while the study runs (``None`` before it starts).

        Raises
        ------
        ValueError
            Naming the dimension that is missing, unknown or out of range.
        RuntimeError
            If the study has ended (continue it with ``Study.resume(path)``).
        """
        config = check_config("enqueue", self.space, config)
        if self.state == "created":
            self.known.add(config, journalled=False)  # journalled when the run opens its journal
            return None
        return self._post("enqueue", lambda: self._driver.enqueue(config, str(reason), "user"))

    @property
    def enqueued(self) -> list[dict[str, Any]]:
        """The enqueued configurations no trial has taken yet (copies)."""
        with self._lock:
            return self.known.waiting()

    def set_stop_rules(self, rules: Any, reason: str = "") -> concurrent.futures.Future | None:
        """Replace the study's stop rules (``[]``: none); journalled, kept by ``Study.resume``.

        Raises
        ------
        ValueError
            Naming ``rules`` if it is not a list of stop rules.
        """
        rules = check_rules("set_stop_rules", "rules", rules)
        if self.state == "created":
            self.stop_rules = rules  # journalled in the study_start settings
            return None
        return self._post("set_stop_rules", lambda: self._driver.set_stop_rules(rules, str(reason), "user"))
