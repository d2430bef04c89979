"""The Watcher on real torch models: exact statistics, hooks, sampling, devices."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hpo_kit import Trial
from hpo_kit.diagnosis import Diagnosis, Watcher
from hpo_kit.diagnosis.cases import EXPECTED, train_case
from hpo_kit.diagnosis.watcher import DEFAULT_EVERY

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def two_linear(device: str = "cpu") -> nn.Sequential:
    """out = W2 (W1 x) with W1 = I, W2 = [3, 0]: gradients known by hand."""
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 1, bias=False)).to(device)
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2))
        model[1].weight.copy_(torch.tensor([[3.0, 0.0]]))
    return model


def backward(model: nn.Module, *rows: list[float]) -> None:
    """One backward pass per row, loss = sum of outputs, gradients cleared in between."""
    for row in rows:
        model.zero_grad()
        x = torch.tensor([row], device=next(model.parameters()).device)
        model(x).sum().backward()


@pytest.mark.parametrize("device", DEVICES)
def test_statistics_match_hand_computed_gradients(device):
    # x = [1, 2]: dW2 = h = [1, 2] (G=1.5, Z=0); dW1 = W2^T x^T = [[3, 6], [0, 0]] (G=2.25, Z=0.5).
    # x = [0, 2]: dW2 = [0, 2] (G=1, Z=0.5);     dW1 = [[0, 6], [0, 0]] (G=1.5, Z=0.75).
    model = two_linear(device)
    w = Watcher(model, every=1)
    backward(model, [1.0, 2.0], [0.0, 2.0])
    s = w.collect()
    assert s["layers"] == ["0", "1"] and s["batches"] == 2 and s["sampled_batches"] == 2
    assert s["grad_abs"] == pytest.approx([1.875, 1.25])
    assert s["grad_zero"] == pytest.approx([0.625, 0.25])
    assert s["grad_ratio"] == pytest.approx([1.875 / 1.25])
    assert s["nonfinite_grad"] == 0 and s["nonfinite_weight"] == 0


def test_every_k_measures_batches_0_k_2k_after_a_full_first_epoch():
    model = two_linear()
    w = Watcher(model, every=2, min_samples=1)
    backward(model, [1.0, 2.0], [0.0, 2.0], [1.0, 2.0])  # the first epoch: every pass
    assert w.collect()["sampled_batches"] == 3
    backward(model, [1.0, 2.0], [0.0, 2.0], [1.0, 2.0])  # then passes 0 and 2
    s = w.collect()
    assert s["batches"] == 3 and s["sampled_batches"] == 2 and s["period"] == 2
    assert s["grad_abs"] == pytest.approx([2.25, 1.5])
    backward(model, [0.0, 2.0])  # a new epoch starts at pass 0 again
    s = w.collect()
    assert s["sampled_batches"] == 1 and s["grad_abs"] == pytest.approx([1.5, 1.0])


def test_short_epochs_are_sampled_more_densely():
    model = two_linear()
    w = Watcher(model, every=8, min_samples=4)
    for batches, period in ((40, 1), (40, 8), (20, 8), (12, 5), (3, 3)):  # (this epoch's passes, its period)
        backward(model, *[[1.0, 2.0]] * batches)
        s = w.collect()
        assert s["period"] == period and s["sampled_batches"] == -(-batches // period)
    w.collect()  # an epoch without training keeps the period
    assert w.period == 1


def test_collect_starts_a_new_epoch_and_reports_when_nothing_was_measured():
    model = two_linear()
    w = Watcher(model, every=1)
    backward(model, [1.0, 2.0])
    w.collect()
    s = w.collect()
    assert s == {"batches": 0, "sampled_batches": 0, "period": 1, "nonfinite_weight": 0}


def test_hooks_are_removable():
    model = two_linear()
    w = Watcher(model, every=1, activations=True)
    assert all(p._post_accumulate_grad_hooks for p in model.parameters())
    w.remove()
    assert not any(p._post_accumulate_grad_hooks for p in model.parameters())
    backward(model, [1.0, 2.0])
    assert w.collect()["batches"] == 0
    with Watcher(model, every=1) as w2:
        backward(model, [1.0, 2.0])
        assert w2.collect()["batches"] == 1
    assert not any(p._post_accumulate_grad_hooks for p in model.parameters())


def test_dead_relu_units_give_zero_gradient_and_zero_activation_ratios():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    with torch.no_grad():
        model[0].weight.fill_(0.1)
        model[0].bias.copy_(torch.tensor([-10.0, -10.0, 10.0, 10.0]))  # units 0 and 1 never fire
    w = Watcher(model, every=1, activations=True)
    for _ in range(3):
        model.zero_grad()
        model(torch.rand(8, 3) + 0.1).sum().backward()
    s = w.collect()
    assert s["grad_zero"] == pytest.approx([0.5, 0.5])  # rows of W1, columns of W2 of the dead units
    assert s["act_layers"] == ["1"] and s["act_zero"] == pytest.approx([0.5])


def test_activation_ratio_ignores_evaluation_forwards():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    w = Watcher(model, every=1, activations=True)
    with torch.no_grad():
        model(torch.randn(5, 3))
    model.eval()
    model(torch.randn(5, 3))
    assert w.collect()["act_zero"] == []


def test_nonfinite_gradients_and_weights_are_counted():
    model = two_linear()
    w = Watcher(model, every=1)
    model.zero_grad()
    model(torch.tensor([[math.nan, 1.0]])).sum().backward()
    s = w.collect()
    assert s["nonfinite_grad"] >= 1 and any(math.isnan(g) for g in s["grad_abs"])
    with torch.no_grad():
        model[1].weight[0, 0] = math.inf
    assert w.collect()["nonfinite_weight"] == 1


def test_watches_conv_linear_and_lstm_first_weights_and_skips_layers_without_gradient():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.lstm = nn.LSTM(8, 4, batch_first=True)
            self.unused = nn.Linear(4, 4)
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            h = self.conv(x).flatten(2)  # (batch, 2 channels as time steps, 8 features)
            out, _ = self.lstm(h[..., :8])
            return self.head(out[:, -1])

    model = Net()
    w = Watcher(model, every=1)
    assert w.names == ["conv", "lstm", "unused", "head"]
    assert w._params[1] is model.lstm.weight_ih_l0
    model(torch.randn(3, 1, 4, 6)).sum().backward()
    s = w.collect()
    assert s["layers"] == ["conv", "lstm", "head"] and len(s["grad_ratio"]) == 2


def test_rejects_models_without_watched_layers_and_bad_periods():
    with pytest.raises(ValueError, match="no trainable layer"):
        Watcher(nn.Sequential(nn.ReLU()))
    with pytest.raises(ValueError, match="every"):
        Watcher(two_linear(), every=0)


def _first_finding(reports: list[dict], key: str) -> tuple[str, int] | None:
    trial, diagnosis = Trial(id=0, config={}, budget=20), Diagnosis()
    for r in reports:
        trial.reports.append({"epoch": r["epoch"], "metrics": r["metrics"], "diag": r[key]})
        finding = diagnosis.check(trial, {0: trial}, 20)
        if finding is not None:
            return finding.indicator, finding.epoch
    return None


@pytest.mark.parametrize("case, seed, epochs", [("huge_lr", 0, 2), ("vanishing", 0, 2), ("dying", 0, 6),
                                                ("zero_lr", 0, 4), ("healthy", 0, 20), ("healthy", 1, 20)])
def test_default_sampling_gives_the_same_verdict_as_every_batch(case, seed, epochs):
    """Two Watchers on one training run: every batch, and the default sampling (period 2 on these
    42-batch epochs after the first; long epochs are sampled more sparsely, see the benchmark)."""
    reports = train_case(case, seed, epochs, (lambda m: Watcher(m, every=1).collect, lambda m: Watcher(m).collect))
    assert reports[1]["diag1"]["sampled_batches"] < reports[1]["diag0"]["sampled_batches"]  # it does sample
    full, sampled = _first_finding(reports, "diag0"), _first_finding(reports, "diag1")
    assert sampled == full == EXPECTED[case]
    assert DEFAULT_EVERY > 1
