"""1-D CNN for multi-lead ECG: strided conv blocks (GroupNorm) -> global pool -> linear.

Input: float32 (leads, samples), e.g. (12, 1000) for 10 s at 100 Hz. The first two
blocks stride by 4 and 2 so that most compute runs on short sequences, which keeps the
per-sample-gradient cost of DP-SGD low.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fedhealth.errors import ConfigError
from fedhealth.models._blocks import conv_block


class ECGCNN(nn.Module):
    """Strided 1-D conv blocks -> global average pool -> linear."""

    def __init__(self, leads: int, n_outputs: int, widths: Sequence[int],
                 kernels: Sequence[int], strides: Sequence[int]) -> None:
        super().__init__()
        if not len(widths) == len(kernels) == len(strides):
            raise ConfigError("ecg_cnn: widths, kernels and strides must have the same length")
        blocks, c = [], leads
        for w, k, s in zip(widths, kernels, strides):
            blocks.append(conv_block(1, c, int(w), int(k), stride=int(s)))
            c = int(w)
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.head = nn.Linear(c, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)).flatten(1))


def build(input_shape: Sequence[int], n_outputs: int = 1,
          widths: Sequence[int] = (32, 32, 64, 64), kernels: Sequence[int] = (9, 7, 5, 5),
          strides: Sequence[int] = (4, 2, 2, 2)) -> nn.Module:
    """An `ECGCNN` for signals of shape (leads, samples)."""
    if len(input_shape) != 2:
        raise ConfigError(f"ecg_cnn: input_shape must be (leads, samples), not {input_shape}")
    return ECGCNN(int(input_shape[0]), int(n_outputs), widths, kernels, strides)
