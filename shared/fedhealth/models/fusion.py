"""Multimodal fusion: image CNN embedding + tabular MLP embedding, concatenated, linear head.

Input: a pair (image (3, S, S), tabular (F,)); `forward(image, tabular)` takes them as
two positional arguments, as `fedhealth.training.loop.forward` passes them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fedhealth.errors import ConfigError
from fedhealth.models.cnn import ImageCNN


class FusionNet(nn.Module):
    """ImageCNN(image) ++ MLP(tabular) -> ReLU(linear) -> linear."""

    def __init__(self, in_channels: int, tabular_features: int, n_outputs: int,
                 widths: Sequence[int], tabular_hidden: int, fused_hidden: int) -> None:
        super().__init__()
        self.image = ImageCNN(in_channels, 0, widths)
        self.tabular = nn.Sequential(nn.Linear(tabular_features, tabular_hidden), nn.ReLU())
        self.fuse = nn.Sequential(
            nn.Linear(self.image.out_features + tabular_hidden, fused_hidden), nn.ReLU(),
            nn.Linear(fused_hidden, n_outputs))

    def forward(self, image: torch.Tensor, tabular: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([self.image(image), self.tabular(tabular)], dim=1))


def build(input_shape: Sequence[int], n_outputs: int = 1, tabular_features: int | None = None,
          widths: Sequence[int] = (16, 32, 64), tabular_hidden: int = 32,
          fused_hidden: int = 64) -> nn.Module:
    """A `FusionNet` for images of shape (C, H, W) plus `tabular_features` features."""
    if len(input_shape) != 3:
        raise ConfigError(f"fusion: input_shape must be the image's (C, H, W), not {input_shape}")
    if not tabular_features or int(tabular_features) < 1:
        raise ConfigError("fusion: tabular_features (number of metadata columns) is required")
    return FusionNet(int(input_shape[0]), int(tabular_features), int(n_outputs), widths,
                     int(tabular_hidden), int(fused_hidden))
