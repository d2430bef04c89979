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
layers are computed together once the backward pass has finished (one fused
``_foreach_norm`` for |grad| sums and one for non-zero counts, one stack, one in-place
accumulate), stay on the device, and are read back with a single transfer per epoch in
:meth:`collect`. By default only every ``every``-th backward pass of an epoch is measured
(the first one always); ``benchmarks/diagnosis.py`` measures the overhead and
``tests/test_watcher.py`` checks that this default gives the same verdicts as
``every=1`` on healthy and broken training runs. Non-finite gradients need no extra
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

#: Default sampling period: measure backward passes 0, k, 2k, ... of each epoch.
DEFAULT_EVERY = 8


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
        Measure every ``every``-th backward pass of an epoch (the first always); 1 measures
        every batch.
    activations
        Also record the zero-output fraction of ``nn.ReLU`` modules (``act_zero``).

    Raises
    ------
    ValueError
        If ``every`` < 1 or the model has no trainable layer of the watched types.
    """

    def __init__(self, model: "torch.nn.Module", layers: tuple[type, ...] | None = None,
                 every: int = DEFAULT_EVERY, activations: bool = False) -> None:
        import torch
        from torch import nn

        if not isinstance(every, int) or every < 1:
            raise ValueError(f"Watcher: every={every!r} must be a positive integer")
        layers = layers or (nn.Conv1d, nn.Conv2d, nn.Linear, nn.LSTM)
        self.every = every
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
        numel = torch.tensor([float(p.numel()) for p in self._params], device=device)
        self._inv_numel = (1.0 / numel).repeat(2).view(2, n)  # rows: |grad| sums, non-zero counts
        self._sum = torch.zeros(2, n, device=device)
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
        sampled = self._batch % self.every == 0
        self._batch += 1
        engine = torch.autograd.Variable._execution_engine
        engine.queue_callback(self._measure if sampled else self._skip)

    def _skip(self) -> None:
        self._queued = False

    def _measure(self) -> None:
        """End of a sampled backward pass: fold every layer's statistics in, on the device."""
        import torch

        self._queued = False
        present = [i for i, p in enumerate(self._params) if p.grad is not None]
        if not present:
            return
        grads = [self._params[i].grad for i in present]
        stats = torch.stack(_norms(grads, 1) + _norms(grads, 0)).view(2, len(grads))
        if len(present) == len(self._params):
            self._sum.addcmul_(stats, self._inv_numel)
        else:  # some layer got no gradient this pass (unused branch): fold in the others only
            cols = torch.tensor(present, device=self._sum.device)
            self._sum.index_add_(1, cols, stats * self._inv_numel[:, present])
        for i in present:
            self._count[i] += 1
        self._sampled += 1

    def _activation_hook(self, i: int) -> Any:
        def hook(module: Any, _inputs: Any, output: "torch.Tensor") -> None:
            import torch

            # Only training forwards that a sampled backward pass will follow.
            if module.training and torch.is_grad_enabled() and self._batch % self.every == 0:
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
            ``sampled_batches``; ``act_layers`` and ``act_zero`` with ``activations=True``.
            Only ``batches``/``sampled_batches``/``nonfinite_weight`` when nothing was sampled.
        """
        import torch

        weights = torch.stack(_norms([p.detach() for p in self._model_params], 1)).to(self._sum.device)
        host = torch.cat([self._sum.flatten(), self._act_nonzero, weights]).tolist()  # the one sync
        n, n_act = len(self._params), len(self._act_numel)
        sums, nonzero = host[:n], host[n:2 * n]
        act, weight_norms = host[2 * n:2 * n + n_act], host[2 * n + n_act:]
        out: dict[str, Any] = {"batches": self._batch, "sampled_batches": self._sampled,
                               "nonfinite_weight": sum(1 for w in weight_norms if not math.isfinite(w))}
        keep = [i for i in range(n) if self._count[i] > 0]
        if keep:
            g = [sums[i] / self._count[i] for i in keep]
            out.update(layers=[self.names[i] for i in keep], grad_abs=g,
                       grad_zero=[1.0 - nonzero[i] / self._count[i] for i in keep], grad_ratio=ratios(g),
                       nonfinite_grad=sum(1 for v in g if not math.isfinite(v)))
        if n_act:
            seen = [i for i in range(n_act) if self._act_numel[i] > 0]
            out.update(act_layers=[self.act_names[i] for i in seen],
                       act_zero=[1.0 - act[i] / self._act_numel[i] for i in seen])
        self._reset()
        return out

    def _reset(self) -> None:
        self._sum.zero_()
        self._act_nonzero.zero_()
        self._count = [0] * len(self._params)
        self._act_numel = [0] * len(self._act_numel)
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
        return f"Watcher({len(self.names)} layers, every={self.every}, hooks={len(self._handles)})"
