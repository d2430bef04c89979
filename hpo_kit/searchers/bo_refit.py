"""The refit cycle of :class:`~hpo_kit.searchers.bo.TimeAwareBO`: snapshot under the lock, fit without it,
publish under it again, and hand the newest proposal's candidates to the asks (see that module's docstring for why a refit runs on a thread and how its
candidates are used). A mixin: the searcher's state (``_told``, ``_proposal``, ``_lock``, ...) is its own.
"""
from __future__ import annotations

import math
import traceback
import warnings
from typing import Any

import numpy as np

from .conditional import refit, to_point, unit_coordinates
from .cost import finite_losses, fit_costs, fit_set
from .pending import BELIEVER
from .surrogate import Proposal, Snapshot

#: Seed stream of the refits (stream 0 of :meth:`Policy.rng` gives the trials' random points).
_REFIT_STREAM = 1


class RefitCycle:
    """Snapshot, fit, publish (synchronously or on the refit thread); then the candidates, one per ask."""

    def _snapshot(self) -> Snapshot:
        fitted, budget = fit_set(self._told.values(), self.n_min)
        zs = fit_costs(fitted, self._b_now, self.time_unit, finite_losses(self._told))
        pending = ([to_point(self.space, t.config) for t in self.live_trials() if t.id not in self._told]
                   if self.strategy != "none" else [])  # a paused trial's result is told, not lied about
        n = self._n_observations
        seed = None if self.seed is None else int(np.random.SeedSequence([self.seed, _REFIT_STREAM, n])
                                                   .generate_state(1)[0] % (2**31 - 1))
        previous = self._proposal.model if self._proposal is not None else None
        constraints = [t.constraint for t in fitted]
        believe = self.strategy == BELIEVER
        return Snapshot([t.point for t in fitted], zs, pending, min(zs) if pending and not believe else None, n,
                        self._epoch, seed, previous, budget, self._batch, lazy=not self.background,
                        constraints=constraints if any(c is not None for c in constraints) else None, believe=believe)

    def _refit_once(self) -> bool:
        """Snapshot (locked), fit (unlocked), publish (locked); False when nothing was to do."""
        snap = self._begin_refit()
        if snap is None:
            return False
        try:
            proposal = refit(self.space, snap, self.base_estimator, self.acq_func)
        except Exception:  # noqa: BLE001 - the study goes on with random points
            with self._lock:
                self._error = traceback.format_exc()
            warnings.warn(f"TimeAwareBO: refit failed, proposing random points:\n{self._error}", RuntimeWarning)
            return False
        self._finish_refit(snap, proposal)
        return True

    def _begin_refit(self) -> Snapshot | None:
        """The snapshot a refit starts from (taken under the lock), or ``None`` when no refit is wanted."""
        with self._lock:
            if not self._wants_refit():
                return None
            snap = self._snapshot()
            self._dirty = False
            self._n_refits += 1
            return snap

    def _finish_refit(self, snap: Snapshot, proposal: Proposal) -> None:
        """Publish a refit's proposal, unless the cost changed while it ran."""
        with self._lock:
            if proposal.epoch == self._epoch:
                self._proposal, self._used, self._error, self._had_model = proposal, set(), None, True
                self._last_refit = {"seconds": round(proposal.seconds, 4), "at": round(self.elapsed, 3),
                                    "n_observations": proposal.n_observations, "n_fitted": len(snap.points),
                                    "budget": proposal.budget, "candidates": proposal.batch}

    def _refit_job(self) -> None:
        while self._thread is not None and self._refit_once():
            pass

    def _refit_if_cost_changed(self, epoch: int) -> None:
        # Synchronous mode re-tells at once (the background thread was woken by _new_cost).
        if self._epoch != epoch and not self.background and self._initial_done and self._wants_refit():
            self._refit_once()

    def _next_config(self, trial_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
        info: dict[str, Any] = {"phase": self.phase, "cost": self.cost}
        if not self._initial_done or len(self._told) < 2 or (self._proposal is None and not self._had_model):
            # a random start: the initial points, and any asked before the study's first model landed
            return self.space.sample(self.rng(trial_id)), {**info, "source": "initial"}
        p = self._proposal
        info["lacked"] = max(0, self._n_observations - (p.n_observations if p is not None else 0))
        source = "random"  # no model fitted yet (the first refit still runs, or refits fail)
        running = [t.config for t in self.live_trials()] if p is not None else []
        live = unit_coordinates(self.space, running) if running else None
        radius = self.min_distance * math.sqrt(len(self.space))  # every axis of the unit cube is at most 1 long
        while p is not None:
            for rank, config in enumerate(p.configs):
                if rank in self._used:
                    continue
                if live is not None and \
                        np.linalg.norm(live - unit_coordinates(self.space, [config])[0], axis=1).min() <= radius:
                    source = "duplicate"
                    continue
                self._used.add(rank)
                return dict(config), {**info, "source": "surrogate", "rank": rank, "budget": p.budget}
            # Every candidate was given out before the next refit landed: more from the same model
            # (a lazy batch is first completed as an eager refit would have; module docstring).
            grown = (p.complete(self.space) if len(p.configs) < p.batch
                     else p.extend(self.space, len(p.configs) + max(1, self.concurrency)))
            if len(grown.configs) <= len(p.configs):
                break  # the model's pool holds no further distinct configuration
            p = self._proposal = grown
        return self.space.sample(self.rng(trial_id)), {**info, "source": source}
