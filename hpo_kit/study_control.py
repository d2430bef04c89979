"""A study's live controls: checked in the caller's thread, applied on the loop.

Each control (pause, kill, tune, ...) validates its arguments here, before anything changes,
then posts a closure to the runner's loop thread and returns a ``concurrent.futures.Future``
that says whether the loop applied it. Mixed into :class:`~hpo_kit.study.Study`.
"""
from __future__ import annotations

import concurrent.futures
import traceback
from collections.abc import Callable
from typing import Any

from .callbacks import in_callback
from .decisions import check_int

SOURCES = ("user", "policy", "monitor")


class StudyControls:
    """Live controls of a :class:`~hpo_kit.study.Study` (any thread)."""

    def stop(self, wait: bool = True, reason: str = "study stopped") -> None:
        """End the study: start nothing more, kill running trials at their next epoch boundary.

        From a callback (:mod:`hpo_kit.callbacks`) it returns at once: the loop that would be
        waited for is the one running the callback.
        """
        if self.state in ("created", "finished", "stopped", "failed"):
            return
        self._post("stop", lambda: self._driver.stop(reason))
        if wait and not in_callback():
            self.wait()

    def pause(self, reason: str = "", source: str = "user") -> concurrent.futures.Future:
        """Start no new trial or step; running steps finish. Raises ``RuntimeError`` unless running."""
        self._check_source(source)
        return self._post("pause", lambda: self._driver.set_paused(True, str(reason), source))

    def _unpause(self, reason: str = "", source: str = "user") -> concurrent.futures.Future:
        """Resume a paused study."""
        self._check_source(source)
        return self._post("resume", lambda: self._driver.set_paused(False, str(reason), source))

    def kill(self, trial_id: int, reason: str = "", discard: bool = False,
             source: str = "user") -> concurrent.futures.Future:
        """Stop one trial at its next epoch boundary; it ends KILLED (STOPPED for policy/monitor).

        ``discard=True`` tells no policy anything about it (as if never told).
        """
        self._check_source(source)
        if isinstance(trial_id, bool) or not isinstance(trial_id, int) or trial_id not in self.ledger:
            raise ValueError(f"kill: trial_id={trial_id!r} is no trial of study {self.name!r}")
        if not isinstance(discard, bool):
            raise ValueError(f"kill: discard={discard!r} must be True or False")
        return self._post("kill", lambda: self._driver.request_stop(trial_id, source,
                                                                      str(reason) or f"killed by {source}", discard))

    def kill_flagged(self, reason: str = "flagged by diagnosis") -> list[int]:
        """Kill every live trial that a monitor flagged; returns their ids."""
        with self._lock:
            ids = [t.id for t in self.ledger if t.flags and not t.status.is_terminal]
        for tid in ids:
            self.kill(tid, reason=reason)
        return ids

    def set_concurrency(self, n: int, reason: str = "") -> concurrent.futures.Future:
        """Change how many trials run at once (at most the cluster's threads)."""
        check_int("set_concurrency", "concurrency", n, 1, optional=False)
        slots = self._driver.slots if self._driver is not None else None
        if slots is not None and n > slots:
            raise ValueError(f"set_concurrency: concurrency={n} exceeds the cluster's {slots} worker threads")
        return self._post("set_concurrency", lambda: self._driver.set_concurrency(n, str(reason), "user"))

    def tune(self, reason: str = "", source: str = "user", **params: Any) -> concurrent.futures.Future:
        """Change live policy parameters while the study runs (e.g. ``b=0.2``); journalled.

        Raises
        ------
        ValueError
            For an unknown parameter or a bad value (checked at once, in the caller; nothing changes).
        """
        self._check_source(source)
        self.optimizer.check_update(**params)
        return self._post("tune", lambda: self._driver.tune(dict(params), str(reason), source))

    @staticmethod
    def _check_source(source: str) -> None:
        if source not in SOURCES:
            raise ValueError(f"source={source!r} must be one of {SOURCES}")

    def _post(self, what: str, fn: Callable[[], Any]) -> concurrent.futures.Future:
        if self.state not in ("running", "paused") or self._runner is None:
            raise RuntimeError(f"{what}: study {self.name!r} is {self.state}; controls need a running or "
                               f"paused study")
        done: concurrent.futures.Future = concurrent.futures.Future()

        def call() -> None:
            try:
                with self._lock:
                    done.set_result(fn())
            except Exception as exc:  # noqa: BLE001 - nothing a user sends may end the loop
                traceback.print_exc()
                done.set_exception(exc)

        def refuse() -> None:
            if not done.done():
                done.set_exception(RuntimeError(f"{what}: study {self.name!r} ended before it was applied"))

        self._runner.call_soon(call, refuse)
        return done

