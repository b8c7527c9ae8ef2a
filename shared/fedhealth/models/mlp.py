"""Tabular MLP: Linear -> ReLU blocks; no batch statistics, so DP-SGD applies directly."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def build(input_shape: Sequence[int], n_outputs: int = 1, hidden: Sequence[int] = (64, 32),
          dropout: float = 0.0) -> nn.Module:
    """An MLP over a flat feature vector of `input_shape[0]` features."""
    layers: list[nn.Module] = []
    width = int(input_shape[0])
    for h in hidden:
        layers += [nn.Linear(width, int(h)), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = int(h)
    layers.append(nn.Linear(width, int(n_outputs)))
    return nn.Sequential(*layers)
