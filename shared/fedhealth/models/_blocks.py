"""Building blocks shared by the per-modality models, all safe under Opacus DP-SGD.

GroupNorm replaces BatchNorm (batch statistics mix samples, which per-sample clipping
cannot bound), and no activation runs in place (an in-place op on a hooked module's
output breaks the backward hooks that capture per-sample gradients).
"""

from __future__ import annotations

from torch import nn


def group_norm(channels: int, max_groups: int = 8) -> nn.GroupNorm:
    """GroupNorm with the largest group count <= `max_groups` that divides `channels`."""
    groups = max(g for g in range(1, max_groups + 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


def conv_block(dim: int, c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """Conv (no bias: GroupNorm's shift replaces it) -> GroupNorm -> ReLU, in 1-D or 2-D."""
    conv = nn.Conv1d if dim == 1 else nn.Conv2d
    return nn.Sequential(conv(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
                         group_norm(c_out), nn.ReLU())


def describe(model: nn.Module) -> dict[str, object]:
    """Architecture class name, trainable parameter count and the leaf layer types used."""
    layers = sorted({type(m).__name__ for m in model.modules() if not list(m.children())})
    return {"class": type(model).__name__,
            "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "layers": layers}
