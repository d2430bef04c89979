"""Restart: rebuild a study from its journal in a new process and carry on.

Split from :mod:`hpo_kit.controller` so that the loop's handlers read in one sitting.
Policy for trials that were running when the driver died: ``on_interrupted="resume"``
re-queues them (a Trainable continues from its last checkpoint, a function trial
restarts, and reports already journalled are not journalled again), ``"fail"`` ends them
FAILED. Live parameter changes and policy switches found in the journal are re-applied
before the history is re-told, so the policy continues under the cost it had.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import cloudpickle

from .engine.replay import Replay, replay
from .trial import TrialStatus, observe

if TYPE_CHECKING:
    from .study import Study


class ResumeMixin:
    """``Study.resume(path)`` and what ``_open`` does with a replayed journal."""

    @classmethod
    def _resume_from(cls, path: str | os.PathLike, objective: Any = None, *, data: Any = None,
                     optimizer: Any = None, monitor: Any = None, **kwargs: Any) -> "Study":
        """Reload a study from its journal in a new process and continue it.

        The objective, data loader and optimizer saved beside the journal are used unless
        given. Every finished result is kept; trials that were running when the driver died
        are resumed from their checkpoint (or restarted) or failed, per ``on_interrupted``.
        """
        path = os.fspath(path)
        rep = replay(path)
        saved: dict[str, Any] = {}
        if os.path.exists(path + ".pkl"):
            with open(path + ".pkl", "rb") as f:
                saved = cloudpickle.load(f)
        objective = objective or saved.get("objective")
        if objective is None:
            raise ValueError(f"resume: {path}.pkl is missing; pass objective=")
        settings = dict(rep.start.get("settings", {}))
        settings.pop("checkpoints", None)
        settings.update(kwargs)
        from .goal import Goal
        from .space import Space

        study = cls(objective, Space.from_dict(rep.start["space"]), goal=Goal(**rep.start["goal"]),
                    optimizer=optimizer or saved.get("optimizer") or rep.start["optimizer"]["name"],
                    data=data or saved.get("data"), monitor=monitor or saved.get("monitor"), journal=path,
                    name=rep.start.get("name"), checkpoints=rep.start.get("settings", {}).get("checkpoints"),
                    **settings)
        study._resumed = rep
        return study

    def _restore(self: "Study", rep: Replay) -> None:
        self.trials = rep.trials
        for rec in rep.controls:
            if rec["action"] == "tune":
                self.optimizer.update(**rec["value"])
            elif rec["action"] == "switch" and hasattr(self.optimizer, "switch"):
                self.optimizer.switch(reason=(rec.get("value") or {}).get("reason", "replayed"))
        obs = []
        for tid in rep.end_order:
            t = self.trials[tid]
            o = observe(t, self.goal, self._worst)
            if o.loss is not None and not o.failed:
                self._worst = o.loss if self._worst is None else max(self._worst, o.loss)
            obs.append(o)
        interrupted = [t for t in self.trials.values() if t.status in (TrialStatus.RUNNING, TrialStatus.PENDING)]
        self.optimizer.restore(sorted(self.trials.values(), key=lambda t: t.id), obs)
        self.optimizer.drain_events()  # replayed, already in the journal
        self._log("study_resume", interrupted=[t.id for t in interrupted], policy=self.on_interrupted,
                  n_trials=len(self.trials))
        for t in interrupted:
            if self.on_interrupted == "resume":
                t.attempt += 1
                t.status = TrialStatus.PENDING
                self._requeue.append(t.id)
            else:
                self._finish_step(t, TrialStatus.FAILED, error="Interrupted: the driver stopped while it ran")
