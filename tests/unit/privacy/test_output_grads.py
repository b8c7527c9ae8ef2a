"""The `outputs` grad-sample engine gives the per-sample gradients autograd gives one record
at a time, and the same ones as Opacus's hooks mode, for every model it accepts."""

from __future__ import annotations

import pytest
import torch
from opacus import GradSampleModule
from torch import nn

from fedhealth.models import registry
from fedhealth.privacy.output_grads import OutputGradSampleModule, unsupported_layers
from fedhealth.training.loop import forward, loss_fn

B = 5
CASES = {
    "mlp": ({"input_shape": [7], "hidden": [6, 4]}, lambda: torch.randn(B, 7)),
    "cnn": ({"input_shape": [3, 16, 16], "widths": [4, 8]}, lambda: torch.randn(B, 3, 16, 16)),
    "resnet18": ({"input_shape": [3, 16, 16]}, lambda: torch.randn(B, 3, 16, 16)),
    "ecg_cnn": ({"input_shape": [12, 200]}, lambda: torch.randn(B, 12, 200)),
    "fusion": ({"input_shape": [3, 16, 16], "tabular_features": 4, "widths": [4, 8]},
               lambda: (torch.randn(B, 3, 16, 16), torch.randn(B, 4))),
    "gru": ({"input_shape": [6, 3], "hidden": 4, "layers": 2}, lambda: torch.randn(B, 6, 3)),
}


def _model(arch: str) -> nn.Module:
    torch.manual_seed(0)
    return registry.build(registry.ModelSpec(arch, {**CASES[arch][0], "n_outputs": 2})).double()


def _inputs(arch: str) -> torch.Tensor | tuple[torch.Tensor, ...]:
    torch.manual_seed(1)
    x = CASES[arch][1]()
    return tuple(t.double() for t in x) if isinstance(x, tuple) else x.double()


def _one_at_a_time(model: nn.Module, x, y: torch.Tensor) -> list[torch.Tensor]:
    """Reference: the gradient of each record's own loss, by plain autograd."""
    out = []
    for i in range(B):
        xi = tuple(t[i:i + 1] for t in x) if isinstance(x, tuple) else x[i:i + 1]
        model.zero_grad()
        loss_fn("multilabel", forward(model, xi), y[i:i + 1]).backward()
        out.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    return out


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("arch", sorted(CASES))
def test_matches_per_record_autograd_and_opacus_hooks(arch: str, reduction: str) -> None:
    x, y = _inputs(arch), torch.randint(0, 2, (B, 2)).double()
    model = _model(arch)
    expected = _one_at_a_time(model, x, y)
    model.zero_grad(set_to_none=True)

    engine = OutputGradSampleModule(model, loss_reduction=reduction)
    loss = loss_fn("multilabel", forward(engine, x), y)
    engine.backward(loss / B if reduction == "mean" else loss)
    ours = [p.grad_sample for p in model.parameters()]
    assert all(p.grad is None for p in model.parameters())  # no ordinary weight gradients
    engine._close()

    hooks = GradSampleModule(model, loss_reduction=reduction)
    loss = loss_fn("multilabel", forward(hooks, x), y)
    (loss / B if reduction == "mean" else loss).backward()
    theirs = [p.grad_sample for p in model.parameters()]
    hooks._close()

    for i in range(B):
        flat = torch.cat([g[i].reshape(-1) for g in ours])
        assert torch.allclose(flat, expected[i], atol=1e-9, rtol=1e-7)
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b, atol=1e-9, rtol=1e-7)


class _Shared(nn.Module):
    """One linear layer used twice, and one whose output never reaches the loss."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.unused = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.unused(x)
        return self.lin(torch.tanh(self.lin(x))).sum(dim=1, keepdim=True)


def test_shared_layer_sums_both_uses_and_unused_layer_gets_zeros() -> None:
    torch.manual_seed(0)
    model = _Shared().double()
    x = torch.randn(B, 3, dtype=torch.double)
    expected = []
    for i in range(B):
        model.zero_grad()
        model(x[i:i + 1]).sum().backward()
        expected.append(model.lin.weight.grad.clone())
    model.zero_grad(set_to_none=True)
    engine = OutputGradSampleModule(model, loss_reduction="sum")
    engine.backward(engine(x).sum())
    for i in range(B):
        assert torch.allclose(model.lin.weight.grad_sample[i], expected[i], atol=1e-12)
    assert model.unused.weight.grad_sample.shape == (B, 1, 3)
    assert not model.unused.weight.grad_sample.any()


def test_second_backward_without_step_is_refused() -> None:
    engine = OutputGradSampleModule(nn.Linear(3, 1))
    x = torch.randn(B, 3)
    engine.backward(engine(x).mean())
    with pytest.raises(ValueError, match="already present"):
        engine.backward(engine(x).mean())
    engine.zero_grad()
    engine.backward(engine(x).mean())


def test_backward_without_forward_is_refused() -> None:
    engine = OutputGradSampleModule(nn.Linear(3, 1))
    with pytest.raises(ValueError, match="forward"):
        engine.backward(torch.ones((), requires_grad=True))


def test_unsupported_models_are_named() -> None:
    assert unsupported_layers(nn.Sequential(nn.Linear(3, 4), nn.PReLU())) == ["1 (PReLU)"]
    bn = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    with pytest.raises(ValueError, match="1 \\(BatchNorm1d\\)"):
        OutputGradSampleModule(bn)
    assert all(unsupported_layers(_model(arch)) == [] for arch in CASES)


def test_layer_reused_on_differently_shaped_inputs() -> None:
    torch.manual_seed(0)
    lin = nn.Linear(3, 2).double()
    x, seq = torch.randn(B, 3, dtype=torch.double), torch.randn(B, 4, 3, dtype=torch.double)

    def loss_of(a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return (lin(a) ** 2).sum() + lin(s).tanh().sum()

    expected = []
    for i in range(B):
        lin.zero_grad()
        loss_of(x[i:i + 1], seq[i:i + 1]).backward()
        expected.append((lin.weight.grad.clone(), lin.bias.grad.clone()))
    engine = OutputGradSampleModule(lin, loss_reduction="sum")
    engine.zero_grad(set_to_none=True)
    engine.backward(loss_of(x, seq))
    for i in range(B):
        assert torch.allclose(lin.weight.grad_sample[i], expected[i][0], atol=1e-12)
        assert torch.allclose(lin.bias.grad_sample[i], expected[i][1], atol=1e-12)
