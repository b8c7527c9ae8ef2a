"""Local training and prediction for one hospital's data.

Tensor data sets take a fast path (index batches straight from the tensors); anything
else goes through a DataLoader. Binary, multi-label (NaN label = ignored) and
multi-class tasks share one loss function.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.optim.adam import adam as functional_adam
from torch.optim.sgd import sgd as functional_sgd
from torch.utils.data import DataLoader, Dataset, TensorDataset


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one round of local training."""

    local_epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 0.05
    optimizer: str = "adam"
    proximal_mu: float = 0.0
    seed: int = 0
    weight_decay: float = 0.0


def pick_device(preference: str = "auto") -> torch.device:
    """CUDA when present (and not refused), else CPU."""
    if preference == "cpu" or (preference == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda")


def loss_fn(task: str, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Summed loss over the batch for the task."""
    if task == "binary":
        return nn.functional.binary_cross_entropy_with_logits(
            logits.reshape(-1), y.reshape(-1).float(), reduction="sum")
    if task == "multiclass":
        return nn.functional.cross_entropy(logits, y.long().reshape(-1), reduction="sum")
    mask = ~torch.isnan(y)
    per = nn.functional.binary_cross_entropy_with_logits(
        logits, torch.nan_to_num(y.float()), reduction="none")
    return (per * mask).sum()


Batch = tuple[torch.Tensor | tuple[torch.Tensor, ...], torch.Tensor]


def _to(x: torch.Tensor | tuple[torch.Tensor, ...] | list[torch.Tensor],
        device: torch.device) -> torch.Tensor | tuple[torch.Tensor, ...]:
    if isinstance(x, (tuple, list)):
        return tuple(t.to(device, non_blocking=True) for t in x)
    return x.to(device, non_blocking=True)


def forward(model: nn.Module, x: torch.Tensor | tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Call `model` on one input tensor, or on several (multimodal) as positional args."""
    return model(*x) if isinstance(x, tuple) else model(x)


def _batches(dataset: Dataset, batch_size: int, shuffle: bool,
             generator: torch.Generator) -> Iterator[Batch]:
    if isinstance(dataset, TensorDataset):
        x, y = dataset.tensors
        order = torch.randperm(len(x), generator=generator) if shuffle else torch.arange(len(x))
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            yield x[idx], y[idx]
        return
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)
    for xb, yb in loader:
        yield (tuple(xb) if isinstance(xb, list) else xb), yb


class FunctionalOptimizer:
    """Adam or SGD through torch's own functional kernels (`torch.optim.adam.adam`,
    `torch.optim.sgd.sgd`) with the defaults of `torch.optim.Adam` / `SGD`.

    Constructing a `torch.optim.Optimizer` imports torch._dynamo (1.5-3.5 s here, most of
    a node's start-up); the functional forms run the same update code without it.
    `param_groups`, `state` and `defaults` are there so that Opacus's `DPOptimizer` can
    wrap it like a torch optimizer; the update always uses the rates in `cfg`.
    """

    def __init__(self, params: Iterator[nn.Parameter], cfg: TrainConfig) -> None:
        if cfg.optimizer not in ("sgd", "adam"):
            raise ValueError(f"unknown optimizer {cfg.optimizer!r}; use sgd or adam")
        self.cfg = cfg
        self.params = [p for p in params if p.requires_grad]
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.steps = [torch.tensor(0.0) for _ in self.params]
        self.defaults: dict[str, object] = {"lr": cfg.learning_rate,
                                            "weight_decay": cfg.weight_decay}
        self.param_groups = [{"params": self.params, **self.defaults}]
        self.state: dict[nn.Parameter, dict[str, torch.Tensor]] = {
            p: {"exp_avg": m, "exp_avg_sq": v, "step": s}
            for p, m, v, s in zip(self.params, self.exp_avg, self.exp_avg_sq, self.steps)}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        params = [self.params[i] for i in live]
        grads = [self.params[i].grad for i in live]
        c = self.cfg
        if c.optimizer == "sgd":
            functional_sgd(params, grads, [None] * len(params), foreach=False,
                           weight_decay=c.weight_decay, momentum=0.0, lr=c.learning_rate,
                           dampening=0.0, nesterov=False, maximize=False)
            return
        functional_adam(params, grads, [self.exp_avg[i] for i in live],
                        [self.exp_avg_sq[i] for i in live], [], [self.steps[i] for i in live],
                        foreach=False, amsgrad=False, beta1=0.9, beta2=0.999,
                        lr=c.learning_rate, weight_decay=c.weight_decay, eps=1e-8,
                        maximize=False)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The local optimizer named in `cfg`."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.learning_rate,
                               weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.learning_rate,
                                weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; use sgd or adam")


def train(model: nn.Module, dataset: Dataset, cfg: TrainConfig, task: str,
          device: torch.device) -> dict[str, float]:
    """Train `model` in place for `cfg.local_epochs`; return mean loss, samples, seconds."""
    start = time.perf_counter()
    model.to(device).train()
    generator = torch.Generator().manual_seed(int(cfg.seed))
    optimizer = FunctionalOptimizer(model.parameters(), cfg)
    anchor = ([p.detach().clone() for p in model.parameters()] if cfg.proximal_mu > 0 else None)
    total, seen = 0.0, 0
    for _ in range(cfg.local_epochs):
        for xb, yb in _batches(dataset, cfg.batch_size, True, generator):
            xb, yb = _to(xb, device), yb.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(task, forward(model, xb), yb)
            objective = loss / len(yb)
            if anchor is not None:
                prox = sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor))
                objective = objective + 0.5 * cfg.proximal_mu * prox
            objective.backward()
            optimizer.step()
            total += float(loss.detach())
            seen += len(yb)
    return {"train_loss": total / max(seen, 1), "samples": float(seen),
            "seconds": time.perf_counter() - start}


@torch.no_grad()
def predict(model: nn.Module, dataset: Dataset, task: str, device: torch.device,
            batch_size: int = 512) -> tuple[np.ndarray, np.ndarray, float]:
    """Probabilities, labels and summed loss of `model` on `dataset`."""
    model.to(device).eval()
    probs, labels, loss = [], [], 0.0
    for xb, yb in _batches(dataset, batch_size, False, torch.Generator()):
        logits = forward(model, _to(xb, device))
        loss += float(loss_fn(task, logits, yb.to(device)))
        p = torch.softmax(logits, dim=1) if task == "multiclass" else torch.sigmoid(logits)
        probs.append(p.float().cpu().numpy())
        labels.append(yb.numpy())
    if not probs:
        return np.zeros((0, 1)), np.zeros((0,)), 0.0
    return np.concatenate(probs), np.concatenate(labels), loss
