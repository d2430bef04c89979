"""The policies' decision rate on the simulator: part (b) of ``benchmarks/scale.py`` (see its docstring).

Run it through ``python benchmarks/scale.py sim``; also the table helpers both parts share.
"""
from __future__ import annotations

import cProfile
import inspect
import io
import math
import os
import pstats
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from hpo_kit import Goal, Real, Space

RATE_GOAL = 1000.0  # decisions per second, random and ASHA, 500 workers, 10,000 trials
FLAT_GOAL = 1.5  # time per decision at 10k trials over that at 1k
SIM_SPACE = Space({"q": Real(0.0, 1.0), "a": Real(0.1, 2.0), "secs": Real(0.5, 2.0, log=True)})
GOAL = Goal("loss", "min")


def load_text() -> str:
    la = os.getloadavg()
    return f"{os.cpu_count()} cores, load average (1/5/15 min) {la[0]:.2f}/{la[1]:.2f}/{la[2]:.2f}"


def sim_curve(config: dict[str, Any], epoch: int) -> float:
    return config["q"] + config["a"] / math.sqrt(epoch)


def sim_epoch_time(config: dict[str, Any]) -> float:
    return config["secs"]


def make(policy: str, seed: int) -> Any:
    from hpo_kit.optimizers import ASHA, FIFO, Hyperband, RandomSearch

    if policy == "random":
        return FIFO(RandomSearch(seed=seed))
    if policy == "asha":
        return ASHA(r_min=1, eta=3, seed=seed)
    if policy == "hyperband":
        return Hyperband(r_min=1, eta=3, seed=seed)
    if policy == "bo-asha":
        from hpo_kit.searchers.bo import TimeAwareBO

        return ASHA(r_min=1, eta=3, searcher=TimeAwareBO(seed=seed, background=True))
    raise ValueError(f"policy {policy!r}: choose from {POLICIES}")


POLICIES = ("random", "asha", "hyperband", "bo-asha")
#: Study sizes whose decisions are compared: while it grows (after its last trial, a
#: FIFO suggest returns None at once, which would flatter the last window).
WINDOWS = ((1000, 2000), (5000, 6000), (9000, 10_000))


class Timed:
    """Times a policy's suggest / on_report / on_result, attributing each to the study's size at the call.

    ``seconds`` is the calling thread's CPU time (steadier than wall time on a shared machine;
    a background refit thread's work is not the loop's); ``wall`` is wall time.
    """

    def __init__(self, policy: Any, bucket: int = 100) -> None:
        self.policy, self.bucket = policy, bucket
        self.seconds: dict[int, float] = {}
        self.decisions: dict[int, int] = {}
        self.wall = 0.0
        for name in ("suggest", "on_report", "on_result"):
            setattr(policy, name, self._wrap(getattr(policy, name), name == "suggest"))

    def _wrap(self, fn: Callable, is_decision: bool) -> Callable:
        cpu, clock, seconds, decisions, bucket, policy = (time.thread_time, time.perf_counter, self.seconds,
                                                          self.decisions, self.bucket, self.policy)

        def timed(*args: Any) -> Any:
            t0, w0 = cpu(), clock()
            try:
                return fn(*args)
            finally:
                spent, k = cpu() - t0, len(policy.trials) // bucket
                self.wall += clock() - w0
                seconds[k] = seconds.get(k, 0.0) + spent
                if is_decision:
                    decisions[k] = decisions.get(k, 0) + 1

        return timed

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    @property
    def total_decisions(self) -> int:
        return sum(self.decisions.values())

    def per_decision(self, lo: int, hi: int) -> float | None:
        """Policy seconds per decision while the study held ``lo <= trials < hi``.

        The median over the window's buckets of each bucket's mean: one garbage collection or a
        burst from a neighbour on a shared machine moves one bucket, a cost that grows with the
        study moves them all.
        """
        per = [self.seconds.get(k, 0.0) / n for k, n in self.decisions.items() if lo <= k * self.bucket < hi and n]
        return statistics.median(per) if per else None


def sim_one(policy_name: str, workers: int, trials: int, max_epochs: int, seed: int) -> dict[str, Any]:
    from hpo_kit.engine.simulator import simulate

    policy = make(policy_name, seed)
    timed = Timed(policy)
    kwargs: dict[str, Any] = {}
    if "decision_time" in inspect.signature(simulate).parameters:
        kwargs["decision_time"] = True
    t0 = time.perf_counter()
    try:
        res = simulate(policy, SIM_SPACE, GOAL, sim_curve, sim_epoch_time, n_workers=workers, n_trials=trials,
                       max_epochs=max_epochs, **kwargs)
    finally:
        wall = time.perf_counter() - t0
        policy.close()
    d, s = timed.total_decisions, timed.total_seconds
    per = {lo: timed.per_decision(lo, hi) for lo, hi in WINDOWS}
    first, last = per[WINDOWS[0][0]], per[WINDOWS[-1][0]]
    return {"policy": policy_name, "workers": workers, "trials": len(res.trials), "decisions": d,
            "rate": d / s if s else math.inf, "rate_wall": d / timed.wall if timed.wall else math.inf,
            "e2e": d / wall if wall else math.inf, "wall_s": wall,
            "per": per, "growth": (last / first) if first and last else None, "util": res.utilisation,
            "decision_seconds": getattr(res, "decision_seconds", None), "decision_time": bool(kwargs),
            "sim_decisions": getattr(res, "decisions", None)}


def _median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from repetitions of the same (deterministic) study: medians of the timings."""
    r = dict(runs[0], reps=len(runs))
    for key in ("rate", "rate_wall", "e2e", "wall_s"):
        r[key] = statistics.median(x[key] for x in runs)
    r["per"] = {lo: statistics.median(v) if (v := [x["per"][lo] for x in runs if x["per"][lo]]) else None
                for lo, _ in WINDOWS}
    first, last = r["per"][WINDOWS[0][0]], r["per"][WINDOWS[-1][0]]
    r["growth"] = last / first if first and last else None
    each = [x["growth"] for x in runs if x["growth"] is not None]
    r["growth_range"] = f"{min(each):.2f}-{max(each):.2f}" if each else "-"
    return r


def sim(policies: Sequence[str], widths: Sequence[int], trials: int, max_epochs: int, seed: int,
        log: Callable[[str], None], reps: int = 3) -> str:
    load0 = load_text()
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for rep in range(reps):  # interleaved: a burst of load on a shared machine hits one repetition of a setting
        for p in policies:
            for w in widths:
                r = sim_one(p, w, trials, max_epochs, seed)
                runs.setdefault((p, w), []).append(r)
                log(f"  rep {rep + 1}/{reps} {p:9} {w:4} workers: {r['rate']:9.0f} decisions/s CPU, "
                    f"{r['rate_wall']:9.0f} wall (end to end {r['e2e']:7.0f}/s) "
                    f"growth {_f(r['growth'], '.2f')}x, {r['wall_s']:.1f} s")
    rows = [_median_of(v) for v in runs.values()]
    dt = any(r["decision_time"] for r in rows)
    head = ["policy", "workers", "trials", "decisions", "decisions/s CPU", "wall", "end to end /s",
            "us/decision 1k", "5k", "10k",
            "growth 10k/1k", "(each rep)", "sim util"] + (["decision s (sim)"] if dt else []) + ["run s"]
    table = []
    for r in rows:
        line = [r["policy"], str(r["workers"]), str(r["trials"]), str(r["decisions"]), f"{r['rate']:.0f}",
                f"{r['rate_wall']:.0f}", f"{r['e2e']:.0f}", *(_f(r["per"][lo] and 1e6 * r["per"][lo], ".0f") for lo, _ in WINDOWS),
                _f(r["growth"], ".2f"), r["growth_range"], f"{r['util']:.1%}"]
        if dt:
            line.append(_f(r["decision_seconds"], ".2f"))
        line.append(f"{r['wall_s']:.1f}")
        table.append(line)
    out = [f"policies on the simulator: {trials} trials, max_epochs {max_epochs}, eta 3; medians of {reps} "
           f"interleaved repetitions of the same seeded study; policy time = suggest + "
           f"on_report + on_result, a decision = one suggest"
           + ("; decision_time=True (policy CPU on the virtual clock)" if dt else "; simulator without decision_time"),
           _grid(head, table), "", f"before: {load0}; after: {load_text()}", "goals (the widest setting):"]
    widest = max(widths)
    for r in rows:
        if r["policy"] in ("random", "asha") and r["workers"] == widest:
            ok_rate = r["rate"] >= RATE_GOAL
            ok_flat = r["growth"] is not None and r["growth"] <= FLAT_GOAL
            out.append(f"  [{'PASS' if ok_rate else 'FAIL'}] {r['policy']} {widest} workers >= {RATE_GOAL:.0f} "
                       f"decisions/s: {r['rate']:.0f}")
            out.append(f"  [{'PASS' if ok_flat else 'FAIL' if r['growth'] is not None else 'n/a'}] {r['policy']} time "
                       f"per decision flat from 1k to 10k trials (<= {FLAT_GOAL}x): {_f(r['growth'], '.2f')}x")
    return "\n".join(out)


def profile(policy_name: str, workers: int, trials: int, max_epochs: int, seed: int, top: int = 15) -> str:
    from hpo_kit.engine.simulator import simulate

    policy = make(policy_name, seed)
    prof = cProfile.Profile()
    prof.enable()
    try:
        simulate(policy, SIM_SPACE, GOAL, sim_curve, sim_epoch_time, n_workers=workers, n_trials=trials,
                 max_epochs=max_epochs)
    finally:
        prof.disable()
        policy.close()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    text = buf.getvalue()
    start = text.find("   ncalls")
    return (f"cProfile of {policy_name}, {workers} workers, {trials} trials (top {top} by own time):\n"
            + (text[start:] if start >= 0 else text))


def _f(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _grid(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths)), *(fmt.format(*r) for r in rows)])
