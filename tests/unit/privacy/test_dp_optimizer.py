"""`FastDPOptimizer` clips, noises and scales like Opacus's `DPOptimizer`, and a whole
DP-SGD round through the fast path lands where stock Opacus lands."""

from __future__ import annotations

import pytest
import torch
from opacus import GradSampleModule
from opacus.optimizers import DPOptimizer
from torch import nn

from fedhealth.privacy.dp_optimizer import FastDPOptimizer
from fedhealth.privacy.output_grads import OutputGradSampleModule
from fedhealth.training.loop import FunctionalOptimizer, TrainConfig


def _params(seed: int) -> list[nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [nn.Parameter(torch.randn(4, 3, generator=g)), nn.Parameter(torch.randn(4, generator=g))]


def _with_grad_samples(params: list[nn.Parameter], batch: int, scale: float) -> None:
    g = torch.Generator().manual_seed(7)
    for p in params:
        p.grad_sample = scale * torch.randn(batch, *p.shape, generator=g)


@pytest.mark.parametrize(("batch", "scale"), [(6, 0.01), (6, 10.0), (1, 3.0), (0, 1.0)])
def test_noiseless_step_equals_opacus(batch: int, scale: float) -> None:
    """Same clipped, scaled gradient whether records are clipped (scale 10) or not (0.01)."""
    grads = {}
    for cls in (DPOptimizer, FastDPOptimizer):
        params = _params(0)
        opt = cls(torch.optim.SGD(params, lr=0.0), noise_multiplier=0.0, max_grad_norm=1.0,
                  expected_batch_size=4)
        _with_grad_samples(params, batch, scale)
        opt.step()
        grads[cls] = [p.grad.clone() for p in params]
    for a, b in zip(grads[DPOptimizer], grads[FastDPOptimizer]):
        assert torch.allclose(a, b, atol=1e-6)
    if batch == 0:
        assert not any(g.any() for g in grads[FastDPOptimizer])


def test_noise_has_the_stated_standard_deviation() -> None:
    """Empty batch: the gradient is noise / expected batch, std sigma * C / B per coordinate."""
    params = [nn.Parameter(torch.zeros(200, 50)), nn.Parameter(torch.zeros(3000))]
    opt = FastDPOptimizer(torch.optim.SGD(params, lr=0.0), noise_multiplier=1.5,
                          max_grad_norm=2.0, expected_batch_size=10,
                          generator=torch.Generator().manual_seed(0))
    for p in params:
        p.grad_sample = torch.zeros(0, *p.shape)
    opt.step()
    for p in params:
        noise = p.grad.reshape(-1)
        assert abs(float(noise.mean())) < 0.01
        assert float(noise.std()) == pytest.approx(1.5 * 2.0 / 10, rel=0.05)
    assert not torch.equal(params[0].grad.reshape(-1)[:3000], params[1].grad)


def test_round_matches_stock_opacus_with_torch_adam() -> None:
    """Outputs engine + FastDPOptimizer + functional Adam == hooks + DPOptimizer + torch Adam."""
    cfg = TrainConfig(learning_rate=0.05, optimizer="adam")
    g = torch.Generator().manual_seed(3)
    batches = [(torch.randn(n, 5, generator=g), torch.randint(0, 2, (n, 1), generator=g).float())
               for n in (7, 3, 9, 1, 6)]
    finals = []
    for fast in (False, True):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 1))
        if fast:
            wrapped = OutputGradSampleModule(model)
            inner = FunctionalOptimizer(wrapped.parameters(), cfg)
            opt = FastDPOptimizer(inner, noise_multiplier=0.0, max_grad_norm=0.5,
                                  expected_batch_size=6)
        else:
            wrapped = GradSampleModule(model)
            opt = DPOptimizer(torch.optim.Adam(wrapped.parameters(), lr=cfg.learning_rate),
                              noise_multiplier=0.0, max_grad_norm=0.5, expected_batch_size=6)
        for x, y in batches:
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.binary_cross_entropy_with_logits(wrapped(x), y)
            wrapped.backward(loss) if fast else loss.backward()
            opt.step()
        wrapped._close()
        finals.append(torch.cat([p.detach().reshape(-1) for p in model.parameters()]))
    assert torch.allclose(finals[0], finals[1], atol=1e-6)
    assert not torch.allclose(finals[0], torch.cat([p.reshape(-1) for p in _initial()]))


def _initial() -> list[torch.Tensor]:
    torch.manual_seed(0)
    return [p.detach() for p in nn.Sequential(nn.Linear(5, 8), nn.ReLU(),
                                              nn.Linear(8, 1)).parameters()]
