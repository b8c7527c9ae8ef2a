"""The fast Conv1d per-sample gradients equal Opacus's own and a per-sample loop."""

from __future__ import annotations

import pytest
import torch
from opacus.grad_sample.conv import compute_conv_grad_sample
from torch import nn

from fedhealth.privacy.grad_samplers import conv1d_grad_sample


@pytest.mark.parametrize(("k", "stride", "pad", "bias"),
                         [(9, 4, 4, False), (5, 2, 2, True), (3, 1, 0, True), (4, 3, 1, False)])
def test_matches_opacus_and_autograd(k: int, stride: int, pad: int, bias: bool) -> None:
    torch.manual_seed(0)
    layer = nn.Conv1d(3, 5, k, stride=stride, padding=pad, bias=bias).double()
    x = torch.randn(4, 3, 50, dtype=torch.double)
    out = layer(x)
    backprops = torch.randn_like(out)
    ours = conv1d_grad_sample(layer, [x], backprops)
    ref = compute_conv_grad_sample(layer, [x], backprops)
    for p in ours:
        assert torch.allclose(ours[p], ref[p], atol=1e-10)
    for i in range(4):  # autograd, one sample at a time
        layer.zero_grad()
        (layer(x[i:i + 1]) * backprops[i:i + 1]).sum().backward()
        assert torch.allclose(ours[layer.weight][i], layer.weight.grad, atol=1e-10)
