"""A faster Opacus per-sample-gradient function for `nn.Conv1d` (registered on import).

Opacus computes Conv1d per-sample gradients by viewing the signal as a 1 x L image and
running `im2col` (a full copy of every receptive field), which was the largest single
cost of DP-SGD on the ECG CNN (bench/dp_overhead.py). For the common case (zero
padding, no dilation, one group) a strided `unfold` view on the time axis plus one
`einsum` gives the same gradients without the copy. Anything else falls back to
Opacus's own function. Registered through Opacus's public `register_grad_sampler`, so it
is used by hooks and ghost-clipping modes alike.
"""

from __future__ import annotations

import torch
from opacus.grad_sample import register_grad_sampler
from opacus.grad_sample.conv import compute_conv_grad_sample
from torch import nn
from torch.nn import functional as F


def _fast_case(layer: nn.Conv1d) -> bool:
    return (layer.groups == 1 and tuple(layer.dilation) == (1,)
            and layer.padding_mode == "zeros" and not isinstance(layer.padding, str))


@register_grad_sampler(nn.Conv1d)
def conv1d_grad_sample(layer: nn.Conv1d, activations: list[torch.Tensor],
                       backprops: torch.Tensor) -> dict[nn.Parameter, torch.Tensor]:
    """Per-sample gradients of a Conv1d layer: weight (B, out, in, k), bias (B, out)."""
    x = activations[0]
    if x.shape[0] == 0 or not _fast_case(layer):
        return compute_conv_grad_sample(layer, activations, backprops)
    x = x.to(backprops.dtype)
    pad = layer.padding[0]
    if pad:
        x = F.pad(x, (pad, pad))
    windows = x.unfold(2, layer.kernel_size[0], layer.stride[0])[:, :, : backprops.shape[2]]
    ret: dict[nn.Parameter, torch.Tensor] = {}
    if layer.weight.requires_grad:
        ret[layer.weight] = torch.einsum("bclk,bol->bock", windows, backprops)
    if layer.bias is not None and layer.bias.requires_grad:
        ret[layer.bias] = backprops.sum(dim=2)
    return ret
