"""Where a short-step study's worker time goes: loop_peers' W3, measured on the workers (issue 22).

A :class:`~hpo_kit.Study` of W3 (``loop_peers_table``: 200 trials of 5 epochs of duration/5,
50-300 ms per trial, 4 at a time under ``ASHA(r_min=1, eta=3, r_max=5)``, ``keep_paused=4``)
on the embedded LocalCluster of 4 single-threaded worker processes. Each epoch's sleep is
stamped on its worker (start, end, process), so every moment of every worker is one of:

- *useful*: an epoch's sleep;
- *in a trial*: between two epochs of one trial in one step (the report, the rung's decision);
- *between steps*: from one step's last epoch to the next step's first on that worker (the
  step's end and start in hpo_kit, Dask's hand-over to the next task);
- *lead* and *tail*: before the first epoch, after the last (the study's start and end,
  and ASHA's last promotions running while other workers have nothing left).

Then the floor: a bare ``distributed.as_completed`` loop runs the very steps the study ran
(each a task sleeping that step's epochs, in the order they started, as deep as hpo_kit's
queue), on a fresh cluster of the same kind. The difference is hpo_kit's share.

    python benchmarks/step_gaps.py            # 3 repetitions, alternating the two
    python benchmarks/step_gaps.py --reps 1 --n 24   # the smoke test's size
"""
from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from typing import Any

from distributed import Client, as_completed

from hpo_kit import ASHA, Integer, Study
from hpo_kit.engine.cluster import local_cluster
from loop_peers_table import DUR_SEED, LOSS_SEED, tables

N, C, STEPS, DEPTH = 200, 4, 5, 8
DUR, XS = tables(N, True)
assert DUR_SEED and LOSS_SEED  # the same trials as loop_peers' W3


def objective(config: dict, reporter: Any) -> None:
    i = reporter.trial_id
    for epoch in range(1, (reporter.max_epochs or STEPS) + 1):
        t0 = time.time()
        time.sleep(DUR[i] / STEPS)
        reporter.report(epoch=epoch, loss=XS[i] + 1.0 / epoch, t0=t0, t1=time.time(), pid=os.getpid())


def nap(seconds: float) -> tuple[float, float, float, int]:
    """A bare step: sleep; (slept, start, end, process)."""
    a, t = time.time(), time.perf_counter()
    time.sleep(seconds)
    return time.perf_counter() - t, a, time.time(), os.getpid()


def _split(naps: dict[int, list[tuple]], t0: float, t1: float) -> tuple[dict[str, float], list[float]]:
    """Worker seconds by kind, and the steps (each a run of consecutive epochs of one trial on one worker)."""
    out = dict.fromkeys(("useful", "in a trial", "between steps", "lead", "tail"), 0.0)
    steps: list[tuple[float, float]] = []
    for v in naps.values():
        v.sort()
        out["lead"] += v[0][0] - t0
        out["tail"] += t1 - v[-1][1]
        start, run = v[0][0], 0.0
        for (a0, a1, ta, ea), (b0, _, tb, eb) in zip(v, v[1:]):
            run += a1 - a0
            if ta == tb and eb == ea + 1:
                out["in a trial"] += b0 - a1
            else:
                out["between steps"] += b0 - a1
                steps.append((start, run))
                start, run = b0, 0.0
        steps.append((start, run + v[-1][1] - v[-1][0]))
        out["useful"] += sum(b - a for a, b, *_ in v)
    return out, [d for _, d in sorted(steps)]


def study_run(rep: int) -> tuple[dict[str, float], list[float], float]:
    with local_cluster(C) as cluster, Client(cluster) as client, tempfile.TemporaryDirectory() as tmp:
        client.wait_for_workers(C)
        client.run(lambda: __import__("hpo_kit.engine.worker.step"))
        study = Study(objective, {"x": Integer(0, 1)}, scheduler=ASHA(r_min=1, eta=3, r_max=STEPS, seed=rep),
                      max_epochs=STEPS, n_trials=N, concurrency=C, cluster=client, keep_paused=4, seed=0,
                      journal=os.path.join(tmp, "j.jsonl"))
        t0 = time.time()
        study.run(progress=False)
        t1 = time.time()
        naps: dict[int, list[tuple]] = {}
        for t in study.trials.values():
            for r in t.reports:
                m = r["metrics"]
                naps.setdefault(int(m["pid"]), []).append((m["t0"], m["t1"], t.id, r["epoch"]))
    split, steps = _split(naps, t0, t1)
    return split, steps, t1 - t0


def bare_run(steps: list[float]) -> tuple[dict[str, float], float]:
    with local_cluster(C) as cluster, Client(cluster) as client:
        client.wait_for_workers(C)
        client.run(lambda: __import__("hpo_kit.engine.worker.step"))
        todo = iter(steps)
        t0 = time.time()
        ac = as_completed([client.submit(nap, d, pure=False) for d in itertools.islice(todo, DEPTH)],
                          with_results=True)
        naps: dict[int, list[tuple]] = {}
        for k, (_, a, b, pid) in enumerate(r for _, r in ac):
            naps.setdefault(pid, []).append((a, b, k, 1))
            d = next(todo, None)
            if d is not None:
                ac.add(client.submit(nap, d, pure=False))
        t1 = time.time()
    return _split(naps, t0, t1)[0], t1 - t0


def main(argv: list[str] | None = None) -> int:
    global N
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--n", type=int, default=N, help="trials (W3: 200)")
    args = ap.parse_args(argv)
    N = args.n
    DUR[:], XS[:] = tables(N, True)
    rows: dict[str, list[dict[str, float]]] = {"hpo_kit": [], "bare, same steps": []}
    for rep in range(args.reps):
        split, steps, wall = study_run(rep)
        rows["hpo_kit"].append({**split, "wall": wall, "steps": len(steps)})
        bsplit, bwall = bare_run(steps)
        rows["bare, same steps"].append({**bsplit, "wall": bwall, "steps": len(steps)})
        print(f"rep {rep + 1}/{args.reps}: hpo_kit {split['useful'] / (C * wall):.1%}, "
              f"bare {bsplit['useful'] / (C * bwall):.1%} ({len(steps)} steps, load {os.getloadavg()[0]:.1f})")
    kinds = ("useful", "in a trial", "between steps", "lead", "tail")
    print(f"\nW3 ({N} trials, {C} workers), medians of {args.reps}; worker seconds (share of {C} x wall):\n")
    print("| system | steps | wall s | " + " | ".join(kinds) + " |")
    print("|---|---|---|" + "---|" * len(kinds))
    for name, reps in rows.items():
        med = {k: statistics.median(r[k] for r in reps) for k in (*kinds, "wall", "steps")}
        cells = " | ".join(f"{med[k]:.2f} ({med[k] / (C * med['wall']):.1%})" for k in kinds)
        print(f"| {name} | {med['steps']:.0f} | {med['wall']:.2f} | {cells} |")
    print(f"\nload average (1/5/15 min): {'/'.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
