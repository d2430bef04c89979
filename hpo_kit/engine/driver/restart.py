"""A scheduler that came back empty: the client reconnected to a new scheduler at the same address.

Dask's client reconnects by itself to whatever scheduler answers at its address
(``distributed.Client._reconnect``), and cancels every future it held as it does (reason
``"scheduler-connection-lost"``). A scheduler restarted on the same port is a new one: no
workers (``dask worker`` processes exit with their scheduler), no tasks, no ``Variable``, no
topic subscription, no worker plugin. The study requeued its lost steps onto it and then waited
for a worker forever, without a word.

:class:`SchedulerWatch` runs at the driver's ticks. It sees a reconnect cheaply (the client's
scheduler stream object was replaced) and then:

* makes again what a scheduler keeps per client (:meth:`Runner.reconnected`): the run's event
  subscription, its worker plugin, its control record. The steps that were in flight come back
  as cancelled futures and are requeued as new attempts without using a retry (Recovery);
* if the scheduler's id changed (a restart, not a network blip), journals ``scheduler_restart``
  and waits up to :data:`~hpo_kit.errors.REJOIN_WAIT` s for a worker that can run the study's
  steps: one that joins lets the study carry on (journalled ``workers_rejoined``), none fails it
  with :class:`~hpo_kit.errors.SchedulerRestarted`. Every result received was journalled as it
  arrived, so ``Study.resume(journal)`` continues it, trials that ended never run again.

Told apart by the scheduler's id (``Scheduler.identity()["id"]``, one uuid per scheduler
process) rather than by the lost futures alone: a reconnect to the same scheduler loses them too,
and then the workers are still there.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ..deaths import exits_reported
from ...errors import REJOIN_WAIT, SchedulerRestarted

log = logging.getLogger(__name__)

LOOK_EVERY = 1.0  # seconds between two looks for workers on a restarted scheduler (a round trip each)


def scheduler_id(client: Any) -> str | None:
    """The id of the scheduler the client is connected to now (a round trip); ``None`` if it does not answer."""
    try:
        ident = client.scheduler_info(n_workers=0).get("id")
    except Exception:  # noqa: BLE001 - a scheduler going away: the next tick looks again
        return None
    return str(ident) if ident else None


def can_run(workers: dict[str, Any], resources: dict[str, float] | None) -> int:
    """How many of the scheduler's ``workers`` (its identity's) have threads and every requested resource."""
    return sum(1 for w in workers.values() if w.get("nthreads", 0) > 0
               and all(w.get("resources", {}).get(k, 0) >= v for k, v in (resources or {}).items()))


class SchedulerWatch:
    """Tells a reconnect to a restarted scheduler apart, and fails the study if no worker rejoins.

    Parameters
    ----------
    runner
        The run's :class:`~hpo_kit.engine.driver.runner.Runner` (its client, its per-scheduler set-up).
    log_event
        Journals one record (the ledger's ``log``).
    resources
        The study's per-trial ``resources``: a worker that rejoins must have them.
    """

    def __init__(self, runner: Any, log_event: Callable[..., Any], resources: dict[str, float] | None) -> None:
        self.runner, self.log_event, self.resources = runner, log_event, resources
        client = runner.client
        self._stream = getattr(client, "scheduler_comm", None)
        self.scheduler_id = scheduler_id(client) if self._stream is not None else None
        self.address = getattr(getattr(client, "scheduler", None), "address", None)
        self._since: float | None = None  # a restart was seen then, and no worker has joined since
        self._unchecked = False  # reconnected, the scheduler's id not compared yet
        self._look_at = 0.0

    def check(self) -> None:
        """At a tick of a running client: repair after a reconnect; past the wait, raise.

        Raises
        ------
        SchedulerRestarted
            No worker joined the restarted scheduler within ``REJOIN_WAIT`` s.
        """
        client = self.runner.client
        if self._stream is None or getattr(client, "status", "running") != "running":
            return
        stream = getattr(client, "scheduler_comm", None)
        if stream is not None and stream is not self._stream:
            self._stream, self._unchecked = stream, True
            self.runner.reconnected()
        if self._unchecked:
            self._compare_ids()
        if self._since is not None:
            self._look_for_workers()

    def _compare_ids(self) -> None:
        new = scheduler_id(self.runner.client)
        if new is None:
            return  # no answer now: asked again at the next tick
        self._unchecked = False
        if self.scheduler_id is None:  # never known (no answer at start): nothing to compare with
            self.scheduler_id = new
            return
        if new == self.scheduler_id:
            log.info("the study's client reconnected to the same scheduler %s", self.address)
            return
        old, self.scheduler_id = self.scheduler_id, new
        if self._since is None:
            self._since = time.monotonic()
        self._look_at = 0.0
        self.log_event("scheduler_restart", address=self.address, old=old, new=new)

    def _look_for_workers(self) -> None:
        now = time.monotonic()
        if now < self._look_at:
            return
        self._look_at = now + LOOK_EVERY
        client = self.runner.client
        try:
            workers = client.scheduler_info(n_workers=-1).get("workers", {})
        except Exception:  # noqa: BLE001 - gone again: SchedulerLost's own check counts that
            workers = {}
        usable = can_run(workers, self.resources)
        if usable:
            self.log_event("workers_rejoined", address=self.address, workers=usable,
                           waited=round(now - (self._since or now), 1))
            self._since = None
            self.runner.exits_reported = exits_reported(client)  # the new workers' nannies may say why they die
            return
        if now - (self._since or now) > REJOIN_WAIT:
            raise SchedulerRestarted(
                f"the Dask scheduler at {self.address} was restarted (a new scheduler, id {self.scheduler_id}, "
                f"answers there): the study's workers and its queued and running steps went with the old one, "
                f"and no worker joined the new one within {REJOIN_WAIT:g} s; every result received was "
                f"journalled: start workers, then continue with Study.resume(journal)")
