"""Opacus's `DPOptimizer` with the per-step clipping and noise done in fewer operations.

Same algorithm as `opacus.optimizers.DPOptimizer` (per-sample L2 norm over all
parameters, clip factor min(1, C / (norm + 1e-6)), clipped sum, Gaussian noise of std
noise_multiplier * C on every coordinate, divide by the expected batch size); only the
bookkeeping differs. Opacus clips with one `einsum` per parameter, draws noise one
parameter at a time through a zero-filled reference tensor, and recounts accumulated
iterations once per parameter while scaling. For the small models hospitals train,
those Python-level operations cost more than the arithmetic (`bench/dp_overhead.py`).
Here the clipped sum is one matrix-vector product per parameter, the noise is one draw
for the whole model split into views, and the scale is computed once. Secure-mode noise
(Opacus's defence against floating-point attacks) and mixed devices or dtypes go through
Opacus's own code.
"""

from __future__ import annotations

import torch
from opacus.optimizers import DPOptimizer
from opacus.optimizers.optimizer import _check_processed_flag, _mark_as_processed


class FastDPOptimizer(DPOptimizer):
    """Drop-in `DPOptimizer` (same arguments, same results up to float rounding)."""

    def clip_and_accumulate(self) -> None:
        """Clip every record's gradient to `max_grad_norm` and add it to `p.summed_grad`."""
        params = self.params
        samples = [self._get_flat_grad_sample(p) for p in params]
        batch = len(samples[0])
        flat = [g.reshape(batch, p.numel()).to(p.dtype) for g, p in zip(samples, params)]
        if batch == 0:
            factor = torch.zeros((0,), device=flat[0].device, dtype=flat[0].dtype)
        else:
            norms = torch.stack([f.norm(2, dim=1) for f in flat], dim=1).norm(2, dim=1)
            factor = (self.max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
        for p, f in zip(params, flat):
            _check_processed_flag(p.grad_sample)
            grad = (factor.to(f.device, f.dtype) @ f).view_as(p)
            p.summed_grad = grad if p.summed_grad is None else p.summed_grad + grad
            _mark_as_processed(p.grad_sample)

    def add_noise(self) -> None:
        """`p.grad` = clipped sum + N(0, (noise_multiplier * max_grad_norm)^2) per coordinate."""
        params = self.params
        devices = {(p.device, p.dtype) for p in params}
        if self.secure_mode or len(devices) != 1:
            super().add_noise()
            return
        ((device, dtype),) = devices
        sizes = [p.numel() for p in params]
        noise = torch.normal(0.0, self.noise_multiplier * self.max_grad_norm, (sum(sizes),),
                             generator=self.generator, device=device, dtype=dtype)
        for p, n in zip(params, noise.split(sizes)):
            _check_processed_flag(p.summed_grad)
            p.grad = p.summed_grad + n.view_as(p)
            _mark_as_processed(p.summed_grad)

    def scale_grad(self) -> None:
        """Divide by the expected batch size (times accumulated iterations) for mean loss."""
        if self.loss_reduction == "mean":
            scale = self.expected_batch_size * self.accumulated_iterations
            for p in self.params:
                p.grad /= scale
