"""ASHA's promotion rule checked after the fact, from a journal: was every promotion in its rung's top?

ASHA promotes a trial from rung ``r`` only while it is in the top ``floor(n / eta)`` of the ``n``
results recorded at ``r``. :func:`promotion_audit` replays a journal's rung results
(``trial_pause`` records) and promotions (``trial_resume``) in order and counts the promotions
that were outside that top *when they were recorded*, in-step ones apart. Used by the tests and
``benchmarks/asha_exact.py``; one bracket (ASHA; Hyperband's brackets would need the bracket of
each trial).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class PromotionAudit:
    """Promotions counted in a journal; ``outside``: (trial, rung, rank, top size, in-step) of each one
    recorded while the trial was not in its rung's top."""

    promotions: int = 0
    in_step: int = 0
    halted: int = 0  # in-step promotions the driver refused (the step stopped at its next epoch)
    outside: list[tuple[int, int, int, int, bool]] = field(default_factory=list)


def promotion_audit(records: Iterable[dict[str, Any]], eta: int) -> PromotionAudit:
    """Count promotions and those outside their rung's top ``floor(n/eta)`` at the time of recording."""
    rungs: dict[int, dict[int, float]] = {}
    at: dict[int, int] = {}  # trial -> the rung it last paused at
    audit = PromotionAudit()
    for r in records:
        if r.get("event") == "trial_pause":
            told = r.get("told")
            loss = float(told) if isinstance(told, (int, float)) and math.isfinite(told) else math.inf
            rungs.setdefault(r["epochs"], {})[r["trial"]] = loss
            at[r["trial"]] = r["epochs"]
        elif r.get("event") == "trial_resume":
            info = r.get("info") or {}
            rung = info.get("from_rung", at.get(r["trial"]))
            members = rungs.get(rung, {})
            ranked = sorted(members, key=lambda tid: (members[tid], tid))
            top = len(members) // eta
            rank = ranked.index(r["trial"]) if r["trial"] in members else len(ranked)
            audit.promotions += 1
            audit.in_step += bool(info.get("in_step"))
            if rank >= top:
                audit.outside.append((r["trial"], rung, rank, top, bool(info.get("in_step"))))
        elif r.get("event") == "control" and r.get("action") == "halt":
            audit.halted += 1
    return audit
