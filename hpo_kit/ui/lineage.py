"""Which trial's weights seeded which: the lineage of a Hypersearch (or any study whose trials have parents).

A trial created from another trial's checkpoint carries that trial as its ``parent``
(``trial_create`` record, :attr:`hpo_kit.trial.Trial.parent`). :func:`lineage` lays the
trials out as a forest: one column per trial (its id on x), one row per generation (a
trial with no parent is generation 0, its children 1, ...), and one edge from each
parent to each child. Pure, like :mod:`hpo_kit.ui.data`; :mod:`hpo_kit.ui.figures` draws it.
"""
from __future__ import annotations

from .data import Columns, Records, category, fold_trials, goal_of


def has_lineage(records: Records) -> bool:
    """True once a trial was created from another one's weights."""
    return any(r.get("event") == "trial_create" and r.get("parent") is not None for r in records)


def lineage(records: Records) -> tuple[Columns, Columns]:
    """Nodes (one per trial) and edges (parent -> child) of the trials' family tree.

    Returns
    -------
    (nodes, edges)
        ``nodes``: ``trial``, ``generation``, ``parent`` (-1 for none), ``score``, ``status``,
        ``category``, ``label`` (the id as text); ``edges``: ``x0``, ``y0`` (the parent),
        ``x1``, ``y1`` (the child), ``child``.
    """
    trials = fold_trials(records)
    goal = goal_of(records)
    depth: dict[int, int] = {}

    def generation(tid: int) -> int:
        seen: list[int] = []
        while tid not in depth:
            parent = trials[tid].parent
            if parent is None or parent not in trials or parent in seen:  # a root (or a damaged, cyclic journal)
                depth[tid] = 0
                break
            seen.append(tid)
            tid = parent
        for child in reversed(seen):  # walk back down, each one generation below its parent
            depth[child] = depth[trials[child].parent] + 1
        return depth[seen[0]] if seen else depth[tid]

    nodes: Columns = {"trial": [], "generation": [], "parent": [], "score": [], "status": [], "category": [],
                      "label": []}
    edges: Columns = {"x0": [], "y0": [], "x1": [], "y1": [], "child": []}
    for t in sorted(trials.values(), key=lambda t: t.id):
        g = generation(t.id)
        score = t.score(goal)
        for name, value in (("trial", t.id), ("generation", g), ("parent", -1 if t.parent is None else t.parent),
                            ("score", float("nan") if score is None else float(score)),
                            ("status", t.status.value), ("category", category(t)), ("label", str(t.id))):
            nodes[name].append(value)
        if t.parent is not None and t.parent in trials:
            for name, value in (("x0", t.parent), ("y0", depth[t.parent]), ("x1", t.id), ("y1", g),
                                ("child", t.id)):
                edges[name].append(value)
    return nodes, edges
