"""Part (a) of ``benchmarks/diagnosis.py``: the Watcher's cost on the authors' small CIFAR CNN.

Epoch time with no statistics, with naive per-layer reductions every batch (kept on the device,
and with an ``.item()`` each), and with the Watcher every batch and at its default period, on
synthetic CIFAR-shaped data. Goal: the default costs <= 5% of epoch time. Run it through
``python benchmarks/diagnosis.py --part overhead [--device cuda]``.
"""
from __future__ import annotations

import statistics
import time
from typing import Any

from hpo_kit import Watcher
from hpo_kit.diagnosis.watcher import DEFAULT_EVERY, DEFAULT_MIN_SAMPLES


def table(title: str, headers: list[str], rows: list[list[Any]]) -> None:
    cells = [[f"{c:.3g}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))



# -- (a) overhead -------------------------------------------------------------------------------
def cifar10cnn() -> Any:
    """The authors' cases/cifar10cnn model (default parameters, ReLU, batch norm, dropout 0.5)."""
    import torch.nn as nn

    def block(cin: int, cout: int, pool: bool) -> list:
        return [nn.Conv2d(cin, cout, 2), nn.ReLU(), *([nn.MaxPool2d(2)] if pool else []), nn.BatchNorm2d(cout)]

    return nn.Sequential(*block(3, 8, False), *block(8, 32, True), *block(32, 64, False), *block(64, 64, True),
                         nn.Flatten(), nn.Linear(64 * 6 * 6, 200), nn.ReLU(), nn.Linear(200, 200), nn.ReLU(),
                         nn.Dropout(0.5), nn.Linear(200, 10))


def _naive(model: Any, item: bool) -> Any:
    """Per-layer reductions after every backward pass, as the authors' monitor does (on the device)."""
    import torch.nn as nn

    params = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    acc: list = []

    def after_backward() -> None:
        for p in params:
            stats = (p.grad.abs().mean(), (p.grad == 0).float().mean())
            acc.extend(s.item() for s in stats) if item else acc.extend(stats)
        if len(acc) > 4096:
            acc.clear()
    return after_backward


class TimedWatcher(Watcher):
    """A Watcher that also clocks the time spent in its own hooks (exact on CPU, launch time on GPU)."""

    spent = 0.0

    def _on_grad(self, param: Any) -> None:
        t0 = time.perf_counter()
        super()._on_grad(param)
        TimedWatcher.spent += time.perf_counter() - t0

    def _measure(self) -> None:
        t0 = time.perf_counter()
        super()._measure()
        TimedWatcher.spent += time.perf_counter() - t0

    def collect(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        out = super().collect()
        TimedWatcher.spent += time.perf_counter() - t0
        return out


def _epoch(variant: str, device: str, x: Any, y: Any, batch: int) -> tuple[float, float]:
    """Seconds of the second epoch of ``variant`` (steady state: the Watcher measures its first
    epoch in full and then samples), and the seconds spent inside the Watcher."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    model = cifar10cnn().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    watcher = TimedWatcher(model, every=int(variant.split("=")[1])) if variant.startswith("every=") else None
    after = _naive(model, variant == "naive+item") if variant.startswith("naive") else None
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    n = len(x) // batch
    for _ in range(2):
        sync()
        TimedWatcher.spent = 0.0
        t0 = time.perf_counter()
        total = torch.zeros((), device=device)
        for i in range(n):
            xb, yb = x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            if after is not None:
                after()
            opt.step()
            total += loss.detach()
        if watcher is not None:
            watcher.collect()
        float(total)  # one sync per epoch, as a careful training loop does
        sync()
    return time.perf_counter() - t0, TimedWatcher.spent


def overhead(device: str, batches: int, repeats: int, everys: list[int]) -> None:
    import torch

    torch.manual_seed(0)
    batch = 128
    x = torch.randn(batches * batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batches * batch,), device=device)
    variants = ["none", "naive+item", "naive", *(f"every={k}" for k in everys)]
    _epoch("none", device, x, y, batch)  # first-use costs (allocator, kernels, thread pool)
    times: dict[str, list[float]] = {v: [] for v in variants}
    inside: dict[str, list[float]] = {v: [] for v in variants}
    for rep in range(repeats):  # interleaved, rotating order: drift and neighbours hit every variant alike
        for v in variants[rep % len(variants):] + variants[:rep % len(variants)]:
            wall, spent = _epoch(v, device, x, y, batch)
            times[v].append(wall)
            inside[v].append(spent / wall)
    rows = []
    for v in variants:
        # Paired: each repeat's epoch against the same repeat's plain epoch, so drift cancels.
        ratios = sorted(t / b - 1 for t, b in zip(times[v], times["none"]))
        label = v + (f" (default: period {min(DEFAULT_EVERY, max(1, batches // DEFAULT_MIN_SAMPLES))})"
                     if v == f"every={DEFAULT_EVERY}" else "")
        rows.append([label, f"{1000 * statistics.median(times[v]) / batches:.2f}",
                     f"{100 * statistics.median(ratios):+.1f}%", f"[{100 * ratios[0]:+.1f}%, {100 * ratios[-1]:+.1f}%]",
                     f"{100 * statistics.median(inside[v]):.2f}%" if v.startswith("every=") else ""])
    name = torch.cuda.get_device_name() if device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    table(f"(a) Watcher overhead: cifar10cnn, batch {batch}, {batches} batches/epoch, {repeats} repeats, {name}",
          ["statistics", "ms/batch (median)", "overhead (median)", "overhead [min, max]", "time in Watcher"], rows)
    print("overhead: epoch time against the plain epoch of the same repeat (median and range over repeats).\n"
          "time in Watcher: share of the epoch spent inside its hooks and collect(): the whole cost on a CPU, where it\n"
          "  is immune to neighbours' load; on a GPU only launch time (kernels run asynchronously): read overhead there.")
