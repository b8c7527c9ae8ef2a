"""Per-sample gradients from the gradients of layer outputs: an Opacus grad-sample engine.

Opacus's hooks mode registers a full backward hook on every layer, and autograd still
computes each weight's ordinary gradient, which DP-SGD then throws away. This engine
(an `opacus.grad_sample.gsm_base.AbstractGradSampleModule`, like Opacus's own
expanded-weights and no-op engines) records each layer's input and output in a forward
hook, then asks autograd for the gradients of the loss with respect to those outputs
only (`torch.autograd.grad`), so no weight gradient is ever formed, and feeds each
(input, output gradient) pair to Opacus's registered per-layer grad sampler. The per-sample
gradients land in `p.grad_sample` exactly as in hooks mode, so Opacus's `DPOptimizer`
clips and noises them unchanged.

It handles models whose trainable layers are all plain Linear, Conv1d/2d, GroupNorm,
LayerNorm or Embedding modules, or the `RNNLinear` cells of Opacus's DP RNNs fed unpacked
batches (every model here); `unsupported_layers` names what stands in the way for any
other model, which then trains in hooks mode.
"""

from __future__ import annotations

import torch
from opacus.grad_sample import GradSampleModule
from opacus.grad_sample.gsm_base import AbstractGradSampleModule
from opacus.layers.dp_rnn import DPRNNBase, RNNLinear
from torch import nn

SUPPORTED: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.GroupNorm,
                                          nn.LayerNorm, nn.Embedding, RNNLinear)


def _trainable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules that own trainable parameters. Opacus's DP RNNs only re-expose their cells'
    `RNNLinear` parameters under `nn.RNN` names, so the cells stand for them."""
    return [(name, m) for name, m in model.named_modules()
            if not isinstance(m, DPRNNBase)
            and any(p.requires_grad for p in m.parameters(recurse=False))]


def unsupported_layers(model: nn.Module) -> list[str]:
    """Layers (name and type) that hold trainable weights this engine cannot handle."""
    bad = [f"{name or '<model>'} ({type(m).__name__})" for name, m in _trainable_layers(model)
           if type(m) not in SUPPORTED or type(m) not in GradSampleModule.GRAD_SAMPLERS]
    bad += [str(e) for e in GradSampleModule.validate(model, strict=False)]
    return bad


class OutputGradSampleModule(AbstractGradSampleModule):
    """Wraps `m`; call `backward(loss)` instead of `loss.backward()` to fill `p.grad_sample`."""

    def __init__(self, m: nn.Module, *, batch_first: bool = True,
                 loss_reduction: str = "mean") -> None:
        if not batch_first:
            raise ValueError("OutputGradSampleModule needs batch-first inputs")
        if loss_reduction not in ("mean", "sum"):
            raise ValueError(f"loss_reduction must be mean or sum, not {loss_reduction!r}")
        bad = unsupported_layers(m)
        if bad:
            raise ValueError("OutputGradSampleModule cannot handle: " + "; ".join(bad))
        super().__init__(m, batch_first=batch_first, loss_reduction=loss_reduction)
        self._records: list[tuple[nn.Module, list[torch.Tensor], torch.Tensor]] = []
        self._layers = [layer for _, layer in _trainable_layers(m)]
        self._handles = [layer.register_forward_hook(self._record) for layer in self._layers]

    def _record(self, module: nn.Module, inputs: tuple[torch.Tensor, ...],
                output: torch.Tensor) -> None:
        if module.training and torch.is_grad_enabled() and output.requires_grad:
            self._records.append((module, [t.detach() for t in inputs], output))

    def backward(self, loss: torch.Tensor) -> None:
        """Per-sample gradients of `loss` for every trainable parameter, in `p.grad_sample`."""
        records, self._records = self._records, []
        if not records:
            raise ValueError("backward() without a training forward pass through the model")
        batch = records[0][1][0].shape[0]
        if any(acts[0].shape[0] != batch for _, acts, _ in records):
            raise ValueError("one backward() per forward pass: batch sizes differ")
        grads = torch.autograd.grad(loss, [out for _, _, out in records], allow_unused=True)
        calls: dict[nn.Module, list[tuple[list[torch.Tensor], torch.Tensor]]] = {}
        for (module, acts, _), grad in zip(records, grads):
            if grad is not None:  # None: the layer's output did not reach the loss
                calls.setdefault(module, []).append((acts, grad))
        per_param: dict[nn.Parameter, list[torch.Tensor]] = {}
        for module, pairs in calls.items():
            sampler = GradSampleModule.GRAD_SAMPLERS[type(module)]
            if (isinstance(module, nn.Linear) and len(pairs) > 1
                    and len({(a[0].shape, g.shape) for a, g in pairs}) == 1):
                # A linear layer called T times (an RNN cell): its per-sample gradient is the
                # sum over calls, which the linear sampler forms from (B, T, ...) stacks.
                pairs = [([torch.stack([a[0] for a, _ in pairs], dim=1)],
                          torch.stack([g for _, g in pairs], dim=1))]
            for acts, grad in pairs:
                if self.loss_reduction == "mean":
                    grad = grad * batch
                for p, gs in sampler(module, acts, grad).items():
                    per_param.setdefault(p, []).append(gs)
        for layer in self._layers:
            for p in layer.parameters(recurse=False):
                if not p.requires_grad:
                    continue
                if p.grad_sample is not None:
                    raise ValueError("per-sample gradients already present: step or "
                                     "zero_grad() before the next backward()")
                parts = per_param.get(p)
                p.grad_sample = (sum(parts[1:], parts[0]) if parts else
                                 torch.zeros((batch, *p.shape), device=p.device, dtype=p.dtype))

    def zero_grad(self, set_to_none: bool = False) -> None:
        """Forget recorded activations as well as per-sample and ordinary gradients."""
        self._records = []
        super().zero_grad(set_to_none)

    def remove_hooks(self) -> None:
        """Detach the forward hooks and drop recorded activations."""
        for handle in self._handles:
            handle.remove()
        self._handles, self._records = [], []
