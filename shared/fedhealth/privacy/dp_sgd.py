"""Record-level DP-SGD for one local round, through Opacus.

Each step draws a Poisson sample (every record independently with probability
`sample_rate`, so batch sizes vary and may be empty), clips every record's gradient to
`max_grad_norm`, sums, adds Gaussian noise of std `noise_multiplier * max_grad_norm` and
divides by the expected batch size: Opacus's `DPOptimizer` over a `GradSampleModule`
(hooks or functorch per-sample gradients) or its ghost-clipping pair
(`GradSampleModuleFastGradientClipping`, norms without materialising per-sample
gradients of linear layers), or this project's `outputs` engine (`output_grads`: Opacus's
per-layer grad samplers fed from output gradients, no weight gradients computed). The
optimizer is `FastDPOptimizer` (Opacus's algorithm, fewer operations) over the same
functional Adam/SGD as plain training. The Poisson sampler is written here over tensor indices
(Opacus's `UniformWithReplacementSampler` draws the same Bernoulli mask) because a
DataLoader collating single records costs more than the whole private step for small
tabular models. A round's privacy cost is `RoundSpend(sample_rate, noise_multiplier,
steps)`, which the ledger accounts for before the round starts (see `plan_round`).

Per-sample-gradient mode (`"auto"`, measured by `bench/dp_overhead.py`): `outputs` for
every model it supports (all in the project), hooks otherwise.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import torch
from opacus import GradSampleModule
from opacus.grad_sample import GradSampleModuleFastGradientClipping
from opacus.optimizers import DPOptimizerFastGradientClipping
from opacus.utils.fast_gradient_clipping_utils import DPLossFastGradientClipping
from torch import nn
from torch.utils.data import Dataset, TensorDataset, default_collate

from fedhealth.errors import ConfigError
from fedhealth.privacy import grad_samplers  # noqa: F401  (registers the fast Conv1d sampler)
from fedhealth.privacy.dp_optimizer import FastDPOptimizer
from fedhealth.privacy.output_grads import OutputGradSampleModule, unsupported_layers
from fedhealth.training.loop import FunctionalOptimizer, TrainConfig, _to, forward

MODES = ("outputs", "hooks", "functorch", "ghost")


@dataclass(frozen=True)
class DPConfig:
    """DP-SGD settings for one round; `sample_rate=None` means batch_size / records."""

    noise_multiplier: float
    max_grad_norm: float = 1.0
    sample_rate: float | None = None
    grad_sample_mode: str = "auto"
    seed: int | None = None  # None: sampling and noise seeded from os.urandom

    def __post_init__(self) -> None:
        problems = []
        if not (self.noise_multiplier > 0 and math.isfinite(self.noise_multiplier)):
            problems.append(f"noise_multiplier must be > 0, not {self.noise_multiplier}")
        if not self.max_grad_norm > 0:
            problems.append(f"max_grad_norm must be > 0, not {self.max_grad_norm}")
        if self.sample_rate is not None and not 0 < self.sample_rate <= 1:
            problems.append(f"sample_rate must be in (0, 1], not {self.sample_rate}")
        if self.grad_sample_mode not in MODES + ("auto",):
            problems.append(f"grad_sample_mode must be auto or one of {MODES}")
        if problems:
            raise ConfigError("DP-SGD: " + "; ".join(problems))


@dataclass(frozen=True)
class RoundSpend:
    """What one round costs in privacy terms, and how it was computed."""

    sample_rate: float
    noise_multiplier: float
    steps: int
    grad_sample_mode: str


def plan_round(n_records: int, cfg: TrainConfig, dp_sample_rate: float | None = None
               ) -> tuple[float, int]:
    """(sample_rate, steps) of one round over `n_records`: `local_epochs` expected passes."""
    if n_records < 1:
        raise ConfigError("DP-SGD needs at least one training record")
    q = dp_sample_rate or min(1.0, cfg.batch_size / n_records)
    return q, max(1, round(cfg.local_epochs / q))


def calibrated(n_records: int, cfg: TrainConfig, rounds: int, target_epsilon: float,
               delta: float, kind: str = "rdp", max_grad_norm: float = 1.0,
               **kw: object) -> DPConfig:
    """A `DPConfig` whose noise makes `rounds` rounds over `n_records` spend at most
    `target_epsilon` (and at least 99% of it): call once before training starts."""
    from fedhealth.privacy import accountant

    q, steps = plan_round(n_records, cfg)
    sigma = accountant.calibrate_noise(target_epsilon, delta, q, steps * int(rounds), kind)
    return DPConfig(noise_multiplier=sigma, max_grad_norm=max_grad_norm, **kw)  # type: ignore[arg-type]


def pick_mode(model: nn.Module, requested: str = "auto") -> str:
    """The per-sample-gradient mode for `model`."""
    if requested != "auto":
        return requested
    return "hooks" if unsupported_layers(model) else "outputs"


class _TaskLoss:
    """The training loss per sample (reduction "none") or averaged ("mean")."""

    def __init__(self, task: str) -> None:
        self.task, self.reduction = task, "mean"

    def __call__(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        f = nn.functional
        if self.task == "binary":
            per = f.binary_cross_entropy_with_logits(logits.reshape(-1), y.reshape(-1).float(),
                                                     reduction="none")
        elif self.task == "multiclass":
            per = f.cross_entropy(logits, y.long().reshape(-1), reduction="none")
        else:
            mask = ~torch.isnan(y)
            per = (f.binary_cross_entropy_with_logits(
                logits, torch.nan_to_num(y.float()), reduction="none") * mask).sum(dim=1)
        return per if self.reduction == "none" else per.mean()


def _take(dataset: Dataset, idx: torch.Tensor):
    if isinstance(dataset, TensorDataset):
        x, y = dataset.tensors
        return x[idx], y[idx]
    xb, yb = default_collate([dataset[int(i)] for i in idx])
    return (tuple(xb) if isinstance(xb, list) else xb), yb


def _seed(dp: DPConfig, offset: int) -> int:
    if dp.seed is None:
        return int.from_bytes(os.urandom(8), "little") >> 1
    return dp.seed * 1_000_003 + offset


def train_private(model: nn.Module, dataset: Dataset, cfg: TrainConfig, dp: DPConfig,
                  task: str, device: torch.device) -> tuple[dict[str, float], RoundSpend]:
    """One round of DP-SGD on `model` in place; its state dict keys stay unwrapped."""
    n = len(dataset)  # type: ignore[arg-type]
    q, steps = plan_round(n, cfg, dp.sample_rate)
    mode = pick_mode(model, dp.grad_sample_mode)
    start = time.perf_counter()
    model.to(device).train()
    criterion = _TaskLoss(task)
    if mode == "ghost":
        wrapped: nn.Module = GradSampleModuleFastGradientClipping(
            model, batch_first=True, loss_reduction="mean", max_grad_norm=dp.max_grad_norm,
            use_ghost_clipping=True)
        opt_cls = DPOptimizerFastGradientClipping
    elif mode == "outputs":
        wrapped = OutputGradSampleModule(model, batch_first=True, loss_reduction="mean")
        opt_cls = FastDPOptimizer
    else:
        wrapped = GradSampleModule(model, batch_first=True, loss_reduction="mean",
                                   force_functorch=(mode == "functorch"))
        opt_cls = FastDPOptimizer
    noise_gen = torch.Generator(device=device).manual_seed(_seed(dp, 1))
    optimizer = opt_cls(FunctionalOptimizer(wrapped.parameters(), cfg),  # type: ignore[arg-type]
                        noise_multiplier=dp.noise_multiplier,
                        max_grad_norm=dp.max_grad_norm, expected_batch_size=max(1, round(q * n)),
                        loss_reduction="mean", generator=noise_gen)
    dp_loss = (DPLossFastGradientClipping(wrapped, optimizer, criterion, "mean")
               if mode == "ghost" else None)
    sampler = torch.Generator().manual_seed(_seed(dp, 0))
    total, seen = 0.0, 0
    try:
        for _ in range(steps):
            idx = torch.nonzero(torch.rand(n, generator=sampler) < q).reshape(-1)
            optimizer.zero_grad(set_to_none=True)
            if len(idx) == 0:  # an empty Poisson sample still takes a noise-only step
                for p in wrapped.parameters():
                    if mode == "ghost":
                        p.grad = torch.zeros_like(p)
                    else:
                        p.grad_sample = torch.zeros((0, *p.shape), device=p.device)
                optimizer.step()
                continue
            xb, yb = _take(dataset, idx)
            xb, yb = _to(xb, device), yb.to(device)
            logits = forward(wrapped, xb)
            loss = dp_loss(logits, yb) if dp_loss is not None else criterion(logits, yb)
            if isinstance(wrapped, OutputGradSampleModule):
                wrapped.backward(loss)
            else:
                loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
    finally:
        optimizer.zero_grad(set_to_none=True)
        wrapped._close()
        for p in model.parameters():
            for attr in ("grad_sample", "summed_grad", "_norm_sample"):
                if hasattr(p, attr):
                    delattr(p, attr)
    metrics = {"train_loss": total / max(seen, 1), "samples": float(seen),
               "seconds": time.perf_counter() - start, "steps": float(steps)}
    return metrics, RoundSpend(q, dp.noise_multiplier, steps, mode)
