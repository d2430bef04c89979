"""Driver and worker memory of a long study: flat from 1,000 to 10,000 trials?

A study of many one-report trials (random search, the embedded LocalCluster of two single-threaded
worker processes; the scheduler runs in this process, so its task and event records count as the
driver's). RSS of this process and of each worker is read when 1,000 and when 10,000 trials have
ended, after a ``gc.collect()``; the table prints both and the growth. The goal: within +-10%.
What grows with the study by design is the ledger (one small record per trial) and the journal
on disk; event logs, the control record, step state and worker-side contexts are bounded.

    python benchmarks/memory.py                  # 10,000 trials
    python benchmarks/memory.py --trials 3000 --first 500
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time

import psutil
from hpo_kit import Real, Study
from hpo_kit.engine.cluster import connect
from hpo_kit.searchers import RandomSearch


def one_report(config, reporter):
    reporter.report(epoch=1, loss=config["x"])


def _worker_rss() -> int:
    gc.collect()
    return psutil.Process().memory_info().rss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--first", type=int, default=1_000)
    args = parser.parse_args(argv)
    marks = sorted({args.first, args.trials})
    seen: dict[int, tuple[float, float]] = {}
    client, owned = connect(n_workers=2)  # the embedded cluster and client a Study starts by default
    with client, owned[1], tempfile.TemporaryDirectory() as tmp:
        ended = [0]

        def listen(record: dict) -> None:  # on the loop thread, twice: the reads pause the study a moment
            if record.get("event") == "trial_end":
                ended[0] += 1
                if ended[0] in marks:
                    gc.collect()
                    seen[ended[0]] = (psutil.Process().memory_info().rss, max(client.run(_worker_rss).values()))

        study = Study(one_report, {"x": Real(0, 1)}, optimizer=RandomSearch(seed=0), n_trials=args.trials,
                      cluster=client, journal=os.path.join(tmp, "j.jsonl"), seed=0)
        study.listeners.append(listen)
        t0 = time.perf_counter()
        study.run(progress=False)
        wall = time.perf_counter() - t0
    (d0, w0), (d1, w1) = seen[marks[0]], seen[marks[-1]]
    mib = 2 ** 20
    print(f"{args.trials} one-report trials, 2 worker processes, {wall:.0f} s, load {os.getloadavg()[0]:.1f}")
    print(f"| RSS MiB | at {marks[0]} trials | at {marks[-1]} trials | growth |")
    print("|---|---|---|---|")
    print(f"| driver (+ scheduler) | {d0 / mib:.0f} | {d1 / mib:.0f} | {d1 / d0 - 1:+.1%} |")
    print(f"| worker (largest) | {w0 / mib:.0f} | {w1 / mib:.0f} | {w1 / w0 - 1:+.1%} |")
    ok = abs(d1 / d0 - 1) <= 0.10 and abs(w1 / w0 - 1) <= 0.10
    print(f"goal: within +-10%: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
