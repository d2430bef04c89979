"""The loss-training-time front: which trials no other trial beats on both loss and training time.

Data for the panel's ``front`` figure, from the journal alone (as every view): each told
result's loss ``L`` and busy seconds, the Pareto front of the two (:mod:`hpo_kit.pareto`), and
the front's point that the time-aware cost ``Z = L + b*T`` prefers at the policy's *current*
``b`` (``T`` in the policy's unit, as :func:`hpo_kit.ui.data.bo_cost` computes it; after the
switch ``Z = L``). Moving ``b`` in the panel moves that mark along the front: the time-aware
idea made visible.
"""
from __future__ import annotations

import statistics
from typing import Any

from ..pareto import nondominated
from .data import Columns, Records, bo_cost, policy_params


def loss_time_front(records: Records, state: dict[str, Any] | None = None) -> tuple[Columns, Columns, Columns]:
    """``(points, line, pick)``: every told result, the front as a step line, and b's point on it.

    ``points``: ``trial``, ``seconds``, ``loss``, ``front`` (True on the front); ``line``: ``x``,
    ``y`` (the front's staircase, by training time); ``pick``: one row (``trial``, ``seconds``,
    ``loss``, ``b``, ``label``) when the policy has a ``b``, else empty.
    """
    state = state or {}
    told, _ = bo_cost(records, state)
    pts = list(zip(told["seconds"], told["loss"]))
    on = set(nondominated(pts))
    points: Columns = {"trial": list(told["trial"]), "seconds": list(told["seconds"]), "loss": list(told["loss"]),
                       "front": [i in on for i in range(len(pts))]}
    ordered = sorted(on, key=lambda i: pts[i])
    line: Columns = {"x": [], "y": []}
    for k, i in enumerate(ordered):  # a staircase: each front point holds until the next is faster-to-better
        line["x"].append(pts[i][0])
        line["y"].append(pts[i][1])
        if k + 1 < len(ordered):
            line["x"].append(pts[ordered[k + 1]][0])
            line["y"].append(pts[i][1])
    pick: Columns = {"trial": [], "seconds": [], "loss": [], "b": [], "label": []}
    has_b = "b" in state or any(b for b in told["b"])
    if ordered and has_b:
        b = float(state.get("b", told["b"][-1] if told["b"] else 0.0))
        if state.get("switched"):
            b = 0.0
        per_median = state.get("time_unit", policy_params(records).get("time_unit", "median")) == "median"
        scale = statistics.median(told["seconds"]) if per_median else 1.0
        scale = scale if scale > 0 else 1.0
        best = min(ordered, key=lambda i: (pts[i][1] + b * pts[i][0] / scale, pts[i][0]))
        for col, v in (("trial", told["trial"][best]), ("seconds", pts[best][0]), ("loss", pts[best][1]), ("b", b),
                       ("label", f"b={b:g}: trial {told['trial'][best]}")):
            pick[col].append(v)
    return points, line, pick
