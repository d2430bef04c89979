"""The Watcher: per-epoch gradient statistics of a torch model, gathered by hooks on the worker.

Adding it to a function-form objective takes two lines::

    w = Watcher(model)
    reporter.add_probe(w.collect)   # every report then carries w's statistics under "diag"

and a :class:`~hpo_kit.Trainable` only needs ``def diagnostics(self): return self.watcher.collect()``.

What it records (BTTackler's signals, see ``METHODS.md`` §4), per epoch, for the first
weight parameter of every Conv1d/Conv2d/Linear/LSTM layer, in registration order (the
forward order of an ``nn.Sequential`` and of most models):

* ``grad_abs``  G_l: mean |grad|, averaged over the epoch's sampled backward passes;
* ``grad_zero`` Z_l: fraction of exactly-zero gradient entries, averaged likewise;
* ``grad_ratio`` q_l = G_l / G_{l+1};
* ``nonfinite_grad``: layers whose gradient held NaN/Inf in a sampled batch;
  ``nonfinite_weight``: parameter tensors of the model holding NaN/Inf at the epoch's end;
* ``act_zero`` (``activations=True``): fraction of zero outputs of each ``nn.ReLU`` module
  (a module applied at several places pools them); measures dying units directly.

Cost
----
Reading statistics with a ``.item()`` per batch syncs the GPU every batch; even kept on
the device, a handful of small reductions per layer per batch costs a launch-bound small
CNN about a fifth of its epoch time (the issue's H200 numbers). So: the statistics of all
layers are computed together once the backward pass has finished, in four kernel launches
whatever the number of layers (``_foreach_sign``; one fused ``_foreach_norm`` giving the
|grad| sums and the non-zero counts; one fused ``_foreach_add_`` into 0-d accumulators),
stay on the device, and are read back with a single transfer per epoch in
:meth:`collect`. By default only every ``every``-th backward pass of an epoch is measured
(passes 0, k, 2k, ...), but never fewer than ``min_samples`` per epoch: the period is
chosen from the previous epoch's length, and the first epoch, whose length is unknown and
where most broken trials show (initial transients, explosions), is measured in full. So
long epochs are cheap and short ones exact. ``benchmarks/diagnosis.py`` measures the
overhead, and it and ``tests/test_watcher.py`` check that the default flags the same trials
as ``every=1`` on healthy and broken training runs. Non-finite gradients need no extra
reduction: a NaN/Inf entry makes that layer's |grad| sum non-finite, and it stays so
in the epoch's accumulator.

Hooks: a post-accumulate-grad hook on each watched weight notices the first gradient of a
backward pass and queues one callback at the end of that pass (the autograd engine's
``queue_callback``, as DistributedDataParallel uses), where the fused statistics are taken.
Gradient accumulation over several backward passes is measured per pass, as accumulated
so far. torch is imported inside methods so that ``import hpo_kit`` stays light on
drivers and workers that never train.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .indicators import ratios

if TYPE_CHECKING:
    import torch

#: Default longest sampling period: measure backward passes 0, k, 2k, ... of an epoch.
DEFAULT_EVERY = 8
#: Default fewest measured passes per epoch (shorter periods on short epochs).
DEFAULT_MIN_SAMPLES = 16


def _first_weight(module: Any) -> Any:
    for name, p in module.named_parameters(recurse=False):
        if "weight" in name:
            return p
    return None


def _norms(tensors: Sequence["torch.Tensor"], order: float) -> list["torch.Tensor"]:
    """Per-tensor vector norms, fused into one kernel launch where torch can (float32 results)."""
    import torch

    try:
        return list(torch._foreach_norm(tensors, order, dtype=torch.float32))
    except (RuntimeError, TypeError):  # mixed devices/dtypes, or an older signature
        return [torch.linalg.vector_norm(t.float(), order) for t in tensors]


class Watcher:
    """Record per-epoch gradient statistics of ``model`` for BTTackler-style diagnosis.

    Parameters
    ----------
    model
        A ``torch.nn.Module``; its parameters may live on any one device (CPU, CUDA, MPS).
    layers
        Module types to watch (default ``(Conv1d, Conv2d, Linear, LSTM)``); each watched
        module contributes its first parameter whose name contains ``"weight"``.
    every
        Measure at most every ``every``-th backward pass of an epoch (passes 0, k, 2k, ...);
        1 measures every batch.
    min_samples
        Measure at least this many passes per epoch: the period is
        ``min(every, batches of the previous epoch // min_samples)`` (at least 1), and the
        first epoch is measured in full.
    activations
        Also record the zero-output fraction of ``nn.ReLU`` modules (``act_zero``).

    Raises
    ------
    ValueError
        If ``every`` or ``min_samples`` < 1, or the model has no trainable layer of the
        watched types.
    """

    def __init__(self, model: "torch.nn.Module", layers: tuple[type, ...] | None = None,
                 every: int = DEFAULT_EVERY, min_samples: int = DEFAULT_MIN_SAMPLES,
                 activations: bool = False) -> None:
        import torch
        from torch import nn

        for name, value in (("every", every), ("min_samples", min_samples)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Watcher: {name}={value!r} must be a positive integer")
        layers = layers or (nn.Conv1d, nn.Conv2d, nn.Linear, nn.LSTM)
        self.every, self.min_samples = every, min_samples
        self.period = 1  # this epoch's sampling period; the first epoch is measured in full
        self.names: list[str] = []
        self._params: list[torch.Tensor] = []
        for name, module in model.named_modules():
            p = _first_weight(module) if isinstance(module, layers) else None
            if p is not None and p.requires_grad:
                self.names.append(name or type(module).__name__)
                self._params.append(p)
        if not self._params:
            raise ValueError(f"Watcher: the model has no trainable layer of types {[t.__name__ for t in layers]}")
        self._model_params = list(model.parameters())
        device = self._params[0].device
        n = len(self._params)
        self._numel = [float(p.numel()) for p in self._params]
        # 0-d accumulators, |grad| sums then non-zero counts, so one fused _foreach_add_ updates all.
        self._acc = [torch.zeros((), device=device) for _ in range(2 * n)]
        self._count = [0] * n  # sampled passes in which each layer had a gradient (host ints)
        self._batch = 0  # backward passes this epoch
        self._sampled = 0
        self._queued = False
        self._handles = [p.register_post_accumulate_grad_hook(self._on_grad) for p in self._params]
        self.act_names: list[str] = []
        self._act_nonzero = torch.zeros(0, device=device)
        self._act_numel: list[int] = []
        if activations:
            relus = [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
            self.act_names = [name or "relu" for name, _ in relus]
            self._act_nonzero = torch.zeros(len(relus), device=device)
            self._act_numel = [0] * len(relus)
            self._handles += [m.register_forward_hook(self._activation_hook(i)) for i, (_, m) in enumerate(relus)]

    # -- hooks ------------------------------------------------------------------------------
    def _on_grad(self, _param: "torch.Tensor") -> None:
        if self._queued:  # not the first watched gradient of this backward pass
            return
        import torch

        self._queued = True
        sampled = self._batch % self.period == 0
        self._batch += 1
        engine = torch.autograd.Variable._execution_engine
        engine.queue_callback(self._measure if sampled else self._skip)

    def _skip(self) -> None:
        self._queued = False

    def _measure(self) -> None:
        """End of a sampled backward pass: fold every layer's statistics in, on the device.

        Four kernel launches whatever the number of layers: sign (non-zero indicator), one
        fused L1 norm over the gradients and their signs (|grad| sums, non-zero counts), one
        fused in-place add into the accumulators.
        """
        import torch

        self._queued = False
        n = len(self._params)
        present = [i for i, p in enumerate(self._params) if p.grad is not None]
        if not present:
            return
        grads = [self._params[i].grad for i in present]
        try:
            signs = list(torch._foreach_sign(grads))
        except (RuntimeError, TypeError, AttributeError):  # mixed devices or an older torch
            signs = [g.sign() for g in grads]
        acc = [self._acc[i] for i in present] + [self._acc[n + i] for i in present]
        norms = _norms(grads + signs, 1)
        try:
            torch._foreach_add_(acc, norms)
        except (RuntimeError, TypeError):
            for a, v in zip(acc, norms):
                a.add_(v.to(a.device))
        for i in present:
            self._count[i] += 1
        self._sampled += 1

    def _activation_hook(self, i: int) -> Any:
        def hook(module: Any, _inputs: Any, output: "torch.Tensor") -> None:
            import torch

            # Only training forwards that a sampled backward pass will follow.
            if module.training and torch.is_grad_enabled() and self._batch % self.period == 0:
                self._act_nonzero[i:i + 1].add_(torch.count_nonzero(output))
                self._act_numel[i] += output.numel()
        return hook

    # -- reading ----------------------------------------------------------------------------
    def collect(self) -> dict[str, Any]:
        """Return this epoch's statistics (one device-to-host transfer) and start a new epoch.

        Returns
        -------
        dict
            ``layers``, ``grad_abs``, ``grad_zero``, ``grad_ratio`` (layers that had a gradient
            in a sampled pass), ``nonfinite_grad``, ``nonfinite_weight``, ``batches``,
            ``sampled_batches``, ``period``; ``act_layers`` and ``act_zero`` with
            ``activations=True``. Without a sampled pass only ``batches``, ``sampled_batches``,
            ``period`` and ``nonfinite_weight``.
        """
        import torch

        device = self._acc[0].device
        weights = _norms([p.detach() for p in self._model_params], 1)
        host = torch.stack([*self._acc, *self._act_nonzero, *(w.to(device) for w in weights)]).tolist()  # one sync
        n, n_act = len(self._params), len(self._act_numel)
        sums, nonzero = host[:n], host[n:2 * n]
        act, weight_norms = host[2 * n:2 * n + n_act], host[2 * n + n_act:]
        out: dict[str, Any] = {"batches": self._batch, "sampled_batches": self._sampled, "period": self.period,
                               "nonfinite_weight": sum(1 for w in weight_norms if not math.isfinite(w))}
        keep = [i for i in range(n) if self._count[i] > 0]
        if keep:
            g = [sums[i] / (self._count[i] * self._numel[i]) for i in keep]
            out.update(layers=[self.names[i] for i in keep], grad_abs=g,
                       grad_zero=[1.0 - nonzero[i] / (self._count[i] * self._numel[i]) for i in keep],
                       grad_ratio=ratios(g), nonfinite_grad=sum(1 for v in g if not math.isfinite(v)))
        if n_act:
            seen = [i for i in range(n_act) if self._act_numel[i] > 0]
            out.update(act_layers=[self.act_names[i] for i in seen],
                       act_zero=[1.0 - act[i] / self._act_numel[i] for i in seen])
        self._reset()
        return out

    def _reset(self) -> None:
        import torch

        torch._foreach_zero_(self._acc)
        self._act_nonzero.zero_()
        self._count = [0] * len(self._params)
        self._act_numel = [0] * len(self._act_numel)
        if self._batch:  # an epoch without backward passes (evaluation only) keeps the period
            self.period = max(1, min(self.every, self._batch // self.min_samples))
        self._batch = self._sampled = 0
        self._queued = False  # a backward pass that raised midway must not block the next epoch

    def remove(self) -> None:
        """Remove every hook; the model trains as if never watched."""
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self) -> "Watcher":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()

    def __repr__(self) -> str:
        return (f"Watcher({len(self.names)} layers, every={self.every}, min_samples={self.min_samples}, "
                f"hooks={len(self._handles)})")
