"""Small image CNN: three conv blocks (GroupNorm, no BatchNorm) and a linear head.

Input: float32 images (3, S, S), any S >= 8. Global average pooling makes the head
independent of S.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fedhealth.errors import ConfigError
from fedhealth.models._blocks import conv_block


class ImageCNN(nn.Module):
    """conv(stride 2) x3 -> global average pool -> linear."""

    def __init__(self, in_channels: int, n_outputs: int, widths: Sequence[int]) -> None:
        super().__init__()
        blocks, c = [], in_channels
        for w in widths:
            blocks.append(conv_block(2, c, int(w), 3, stride=2))
            c = int(w)
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        # n_outputs=0: no head; the model returns its embedding (fusion uses this).
        self.head: nn.Module = nn.Linear(c, n_outputs) if n_outputs else nn.Identity()
        self.out_features = c

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled feature vector (used by the fusion model)."""
        return self.pool(self.features(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def build(input_shape: Sequence[int], n_outputs: int = 1,
          widths: Sequence[int] = (16, 32, 64)) -> nn.Module:
    """An `ImageCNN` for images of shape (C, H, W)."""
    if len(input_shape) != 3:
        raise ConfigError(f"cnn: input_shape must be (channels, height, width), not {input_shape}")
    return ImageCNN(int(input_shape[0]), int(n_outputs), widths)
