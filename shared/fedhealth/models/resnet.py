"""torchvision ResNet-18 with GroupNorm in place of BatchNorm, for DP-SGD.

Random initialisation by default. `weights_path` loads a local state dict (for
example ImageNet weights converted ahead of time); nothing is ever downloaded. BatchNorm
running statistics in such a file are dropped (GroupNorm has none; its affine weight
and bias load under the same names), and a classifier head of a different size is
skipped so the model keeps its freshly initialised `n_outputs` head.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from torchvision.models import resnet18
from torchvision.models.resnet import BasicBlock

from fedhealth.errors import ConfigError
from fedhealth.models._blocks import group_norm

_BN_STATS = ("running_mean", "running_var", "num_batches_tracked")


class _OutOfPlaceBlock(BasicBlock):
    """torchvision's BasicBlock with `out = out + identity` instead of `out += identity`.

    The in-place add modifies the output of a hooked GroupNorm, which autograd refuses
    under Opacus's backward hooks. Same parameters and state dict keys as BasicBlock.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


def _no_inplace(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
        if type(m) is BasicBlock:
            m.__class__ = _OutOfPlaceBlock


def load_local_weights(model: nn.Module, path: Path) -> list[str]:
    """Load `path` into `model`; return the keys skipped (BN statistics, mismatched head)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"resnet18: weights file {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a bad file
        raise ConfigError(f"resnet18: cannot read weights {path}: {err}") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    own = model.state_dict()
    skipped = [k for k in state if k.endswith(_BN_STATS)]
    keep = {}
    problems = []
    for k, v in state.items():
        if k in skipped:
            continue
        if k not in own:
            problems.append(f"unexpected key {k}")
        elif tuple(v.shape) != tuple(own[k].shape):
            if k.startswith("fc."):
                skipped.append(k)
            else:
                problems.append(f"{k}: shape {tuple(v.shape)}, model has {tuple(own[k].shape)}")
        else:
            keep[k] = v
    missing = [k for k in own if k not in keep and not k.startswith("fc.")]
    problems += [f"missing key {k}" for k in missing]
    if problems:
        raise ConfigError(f"resnet18: weights {path} do not fit: " + "; ".join(problems[:10]))
    model.load_state_dict(keep, strict=False)
    return skipped


def build(input_shape: Sequence[int], n_outputs: int = 1,
          weights_path: str | None = None) -> nn.Module:
    """ResNet-18 (GroupNorm) for images (C, H, W) with `n_outputs` logits."""
    if len(input_shape) != 3:
        raise ConfigError(f"resnet18: input_shape must be (channels, height, width), "
                          f"not {input_shape}")
    model = resnet18(weights=None, num_classes=int(n_outputs), norm_layer=group_norm)
    if int(input_shape[0]) != 3:
        model.conv1 = nn.Conv2d(int(input_shape[0]), 64, 7, stride=2, padding=3, bias=False)
    _no_inplace(model)
    if weights_path:
        load_local_weights(model, Path(weights_path))
    return model
