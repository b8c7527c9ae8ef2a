"""Server-side strategies: how the coordinator turns the weighted mean update into the
next global model.

Every strategy receives the same input, the sample-weighted mean of the hospitals'
updates (local weights minus global weights), which is also exactly what secure
aggregation reveals. FedAvg and FedProx apply it directly (FedProx differs on the
hospitals, by its proximal term); FedAdagrad, FedAdam and FedYogi treat it as a
pseudo-gradient (Reddi et al., "Adaptive Federated Optimization", ICLR 2021).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedhealth.errors import ConfigError

Weights = dict[str, np.ndarray]
STRATEGIES = ("fedavg", "fedprox", "fedadagrad", "fedadam", "fedyogi")


def weighted_mean(updates: list[Weights], counts: list[int]) -> Weights:
    """Sample-count weighted mean of named arrays."""
    if not updates:
        raise ValueError("no updates to average")
    total = float(sum(counts))
    if total <= 0:
        raise ValueError("sample counts sum to zero")
    out: Weights = {}
    for name in updates[0]:
        acc = np.zeros_like(updates[0][name], dtype=np.float64)
        for upd, n in zip(updates, counts):
            acc += upd[name].astype(np.float64) * (n / total)
        out[name] = acc.astype(np.float32)
    return out


@dataclass
class Strategy:
    """A server optimizer over the mean update; `state` is what a checkpoint must keep."""

    name: str = "fedavg"
    server_lr: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.99
    tau: float = 1e-3
    state: Weights = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in STRATEGIES:
            raise ConfigError(f"unknown strategy {self.name!r}; use one of {', '.join(STRATEGIES)}")
        if self.name in ("fedavg", "fedprox") and self.server_lr != 1.0:
            raise ConfigError(f"{self.name} applies the mean update as is; server_lr must be 1.0")

    def apply(self, weights: Weights, mean_update: Weights) -> Weights:
        """The next global weights."""
        if self.name in ("fedavg", "fedprox"):
            return {k: (weights[k] + mean_update[k]).astype(np.float32) for k in weights}
        out: Weights = {}
        for k, w in weights.items():
            delta = mean_update[k].astype(np.float64)
            m = self.beta1 * self.state.get(f"m/{k}", np.zeros_like(delta)) + (1 - self.beta1) * delta
            v_prev = self.state.get(f"v/{k}", np.full_like(delta, self.tau ** 2))
            d2 = delta * delta
            if self.name == "fedadagrad":
                v = v_prev + d2
            elif self.name == "fedadam":
                v = self.beta2 * v_prev + (1 - self.beta2) * d2
            else:
                v = v_prev - (1 - self.beta2) * d2 * np.sign(v_prev - d2)
            self.state[f"m/{k}"], self.state[f"v/{k}"] = m, v
            out[k] = (w + self.server_lr * m / (np.sqrt(v) + self.tau)).astype(np.float32)
        return out
