"""Does ``trial_timeout`` count a worker's warm-up? Ten Trainable trials, two of which hang.

    python benchmarks/warmup_timeout.py [--timeout 4]

A fresh embedded cluster of 2 workers (so each worker's first step pays ``import torch`` and the
study's set-up), a grid over 10 configurations of :class:`hpo_kit.testing.CountingTrainable`, 3 epochs
each; trials ``x = 3`` and ``x = 7`` sleep for an hour in their first epoch. Printed: each end state
with its count (with the error's first words), the journalled warm-ups, and the wall time. With
``trial_timeout`` counted from the end of the warm-up only the two hung trials time out.
"""
from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time

from hpo_kit import Categorical, Study
from hpo_kit.testing import CountingTrainable


class Hangs(CountingTrainable):
    def train_epoch(self, epoch):
        if self.config["x"] in (3, 7):
            time.sleep(3600)
        return super().train_epoch(epoch)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timeout", type=float, default=4.0, help="trial_timeout in seconds")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.time()
        study = Study(Hangs, {"x": Categorical(list(range(10)))}, optimizer="grid", n_trials=10, max_epochs=3,
                      trial_timeout=args.timeout, n_workers=2, journal=f"{d}/s.jsonl", fail_fast=None)
        study.run(progress=False)
        wall = time.time() - t0
    ends = collections.Counter((t.status.value, (t.error or "").split(":")[0]) for t in study.trials.values())
    print(f"trial_timeout={args.timeout:g} s, 10 trials (2 hang), 2 workers")
    print("| end | error | trials |\n|---|---|---|")
    for (status, error), n in sorted(ends.items()):
        print(f"| {status} | {error or '-'} | {n} |")
    print("warm-ups (s):", sorted(round(t.warmup, 1) for t in study.trials.values() if t.warmup))
    print(f"wall {wall:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
