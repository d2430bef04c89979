"""The benchmarks still run: each new one at its tiniest setting prints its table header (CI catches a broken one).

Numbers are not checked here (a shared CI machine cannot time anything); the benchmarks
print their goals themselves.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args: str, timeout: float = 120) -> str:
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", args[0]), *args[1:]], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_loop_peers_smoke() -> None:
    out = run("loop_peers.py", "--smoke", "--workloads", "W3", "--systems", "hpo_kit")
    assert "loop_peers: medians of 1 interleaved repetitions" in out
    assert "overhead ms/trial" in out and "startup s" in out and "retrained" in out
    assert "goals (issue 11):" in out
    assert "W3        hpo_kit" in out, out  # the measurement came back (no error line instead)


@pytest.mark.slow
def test_scale_smoke() -> None:
    out = run("scale.py", "--smoke")
    assert "real Dask at width" in out and "driver CPU ms/trial" in out
    assert "policies on the simulator" in out and "decisions/s CPU" in out and "growth 10k/1k" in out


@pytest.mark.slow
def test_asha_vs_sha_smoke() -> None:
    out = run("asha_vs_sha.py", "--seeds", "1")
    assert "ASHA vs synchronous SHA on the simulator" in out and "ASHA by T, then drain" in out


@pytest.mark.slow
def test_idle_workers_smoke() -> None:
    out = run("idle_workers.py", "--workers", "1", "--seconds", "0.5")
    assert "Dask defaults: workers+nannies" in out and "| 1 |" in out


@pytest.mark.slow
def test_step_cost_smoke() -> None:
    out = run("step_cost.py", "--n", "5", "--reps", "2")
    assert "ms per step" in out


@pytest.mark.slow
def test_step_gaps_smoke() -> None:
    out = run("step_gaps.py", "--reps", "1", "--n", "24")
    assert "| hpo_kit | " in out and "| bare, same steps | " in out, out
    assert "between steps" in out and "tail" in out
