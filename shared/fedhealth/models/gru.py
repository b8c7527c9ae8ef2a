"""ICU time-series GRU: Opacus `DPGRU` over hourly rows, linear head on the last state.

Input: float32 (T, F), batch first. `DPGRU` is built from linear layers that Opacus
can compute per-sample gradients for (torch's fused `nn.GRU` cannot be clipped per
sample); its state dict keys differ from `nn.GRU`'s, so weights exchange between
DP and non-DP runs only with this same module.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from opacus.layers import DPGRU
from torch import nn

from fedhealth.errors import ConfigError


class TimeSeriesGRU(nn.Module):
    """DPGRU(F -> hidden, `layers` deep) -> last time step -> linear."""

    def __init__(self, features: int, n_outputs: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.gru = DPGRU(features, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x)
        return self.head(out[:, -1, :])


def build(input_shape: Sequence[int], n_outputs: int = 1, hidden: int = 64,
          layers: int = 1) -> nn.Module:
    """A `TimeSeriesGRU` for sequences of shape (T, F)."""
    if len(input_shape) != 2:
        raise ConfigError(f"gru: input_shape must be (time steps, features), not {input_shape}")
    return TimeSeriesGRU(int(input_shape[1]), int(n_outputs), int(hidden), int(layers))
