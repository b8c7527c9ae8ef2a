"""Moving weights between torch modules and named numpy arrays (the wire format)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from fedhealth.errors import ProtocolError


def get_weights(model: nn.Module) -> dict[str, np.ndarray]:
    """Every floating-point entry of the state dict, as float32 arrays, in module order."""
    return {
        k: v.detach().to("cpu", torch.float32).numpy().copy()
        for k, v in model.state_dict().items()
        if v.is_floating_point()
    }


def set_weights(model: nn.Module, weights: Mapping[str, np.ndarray]) -> None:
    """Load named arrays into `model`; every floating entry must be present with its shape."""
    state = model.state_dict()
    expected = {k for k, v in state.items() if v.is_floating_point()}
    if set(weights) != expected:
        missing, extra = sorted(expected - set(weights)), sorted(set(weights) - expected)
        raise ProtocolError(f"weights do not match the model: missing {missing}, unexpected {extra}")
    for k, arr in weights.items():
        if tuple(arr.shape) != tuple(state[k].shape):
            raise ProtocolError(f"weight {k}: shape {arr.shape}, model has {tuple(state[k].shape)}")
        state[k].copy_(torch.from_numpy(np.asarray(arr)))


def parameter_count(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
