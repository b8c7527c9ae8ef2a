"""Empirical privacy audit: canary membership inference on the default data set.

2 x `canaries` real records are withdrawn from every split and their labels flipped
(outliers a model can only fit by memorising them). Half, chosen at random, are inserted
into the training data of the hospitals (spread round-robin); the other half are never
trained on. A federation of `hospitals` trains in-process (plain FedAvg: the weights
averaged by training-set size), either without privacy or with DP-SGD calibrated so each
hospital spends at most `epsilon`. The attack scores every canary by the negative loss of
the final global model on its flipped label (lower loss = "was trained on"); its AUC of
in vs out comes with a bootstrap 95% interval, next to the largest AUC any membership
test can reach against an (epsilon, delta)-DP mechanism.

The ceiling: for (eps, delta)-DP every test has TPR <= e^eps FPR + delta and
1 - FPR <= e^eps (1 - TPR) + delta (Kairouz et al. 2015); integrating the largest TPR so
allowed over FPR in [0, 1] gives the AUC bound.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from fedhealth.data import registry
from fedhealth.models import registry as models
from fedhealth.models.weights import get_weights, set_weights
from fedhealth.privacy import accountant
from fedhealth.privacy.dp_sgd import DPConfig, plan_round, train_private
from fedhealth.training.loop import TrainConfig, loss_fn, predict, train


def auc(scores_in: np.ndarray, scores_out: np.ndarray) -> float:
    """P(score_in > score_out) + 0.5 P(tie)."""
    a, b = np.asarray(scores_in)[:, None], np.asarray(scores_out)[None, :]
    return float((a > b).mean() + 0.5 * (a == b).mean())


def auc_ceiling(epsilon: float, delta: float, grid: int = 100_001) -> float:
    """Largest membership-inference AUC an (epsilon, delta)-DP mechanism allows."""
    if not np.isfinite(epsilon):
        return 1.0
    fpr = np.linspace(0.0, 1.0, grid)
    tpr = np.minimum.reduce([np.ones_like(fpr), np.exp(epsilon) * fpr + delta,
                             1.0 - np.exp(-epsilon) * (1.0 - delta - fpr)])
    return float(np.trapezoid(np.clip(tpr, 0, 1), fpr))


def _bootstrap(s_in: np.ndarray, s_out: np.ndarray, n: int, rng: np.random.Generator
               ) -> tuple[float, float]:
    vals = [auc(rng.choice(s_in, len(s_in)), rng.choice(s_out, len(s_out))) for _ in range(n)]
    return float(np.quantile(vals, 0.025)), float(np.quantile(vals, 0.975))


def _standardise(x: torch.Tensor, mu: torch.Tensor, sd: torch.Tensor) -> torch.Tensor:
    return (x - mu) / sd


def run_audit(epsilon: float | None = 1.0, delta: float = 1e-5, hospitals: int = 3,
              rounds: int = 5, canaries: int = 20, local_epochs: int = 30,
              batch_size: int = 32, learning_rate: float = 0.005, max_grad_norm: float = 1.0,
              accountant_kind: str = "rdp", hidden: tuple[int, ...] = (256, 128),
              seed: int = 0, bootstrap: int = 1000, trials: int = 1) -> dict[str, Any]:
    """Train with (`epsilon` set) or without (`None`) DP-SGD; return the canary attack.

    With `trials` > 1 the federation is trained that many times (seeds `seed`,
    `seed + 1`, ...), each with its own canaries, and the attack's scores are pooled: one
    loss threshold applied to every trained model, `trials` times the canaries, a narrower
    interval. Each trial's model is as private as a single run, so the ceiling is unchanged.
    """
    start = time.perf_counter()
    if trials < 1:
        raise ValueError(f"trials must be >= 1, not {trials}")
    runs = [_trial(epsilon, delta, hospitals, rounds, canaries, local_epochs, batch_size,
                   learning_rate, max_grad_norm, accountant_kind, hidden, seed + t)
            for t in range(trials)]
    s_in = np.concatenate([r["s_in"] for r in runs])
    s_out = np.concatenate([r["s_out"] for r in runs])
    lo, hi = _bootstrap(s_in, s_out, bootstrap, np.random.default_rng(seed))
    spent = [max(r["spent"][h] for r in runs) for h in range(hospitals)]
    return {
        "private": epsilon is not None, "target_epsilon": epsilon, "delta": delta,
        "accountant": accountant_kind, "spent_epsilon": spent,
        "noise_multiplier": runs[0]["sigmas"],
        "grad_sample_mode": sorted(set().union(*(r["modes"] for r in runs))),
        "hospitals": hospitals, "rounds": rounds, "local_epochs": local_epochs,
        "trials": trials, "canaries_in": len(s_in), "canaries_out": len(s_out),
        "attack_auc": auc(s_in, s_out), "attack_auc_ci95": [lo, hi],
        "attack_auc_per_trial": [auc(r["s_in"], r["s_out"]) for r in runs],
        "auc_ceiling": auc_ceiling(max(spent), delta),
        "test_accuracy": float(np.mean([r["test_accuracy"] for r in runs])),
        "test_auc": float(np.mean([r["test_auc"] for r in runs])),
        "seconds": time.perf_counter() - start,
    }


def _trial(epsilon: float | None, delta: float, hospitals: int, rounds: int, canaries: int,
           local_epochs: int, batch_size: int, learning_rate: float, max_grad_norm: float,
           accountant_kind: str, hidden: tuple[int, ...], seed: int) -> dict[str, Any]:
    """One federation trained with its own canaries: attack scores of canaries in and out."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    source = registry.load_source("breast_cancer")
    x_all = torch.from_numpy(source.features(np.arange(len(source))))
    y_all = torch.from_numpy(np.asarray(source.labels, dtype=np.float32))
    chosen = rng.choice(len(source), 2 * canaries, replace=False)
    is_in = np.zeros(2 * canaries, dtype=bool)
    is_in[rng.choice(2 * canaries, canaries, replace=False)] = True
    withdrawn = set(chosen.tolist())
    sites = registry.split_source(source, registry.SiteSpec(0, hospitals, "dirichlet:0.5", seed))
    train_sets = []
    for h, site in enumerate(sites):
        mine = [c for k, c in enumerate(chosen) if is_in[k] and k % hospitals == h]
        own = [i for i in site.train_idx if i not in withdrawn]
        idx = np.array(own + mine, dtype=np.int64)
        y = y_all[idx].clone()
        y[len(own):] = 1 - y[len(own):]  # the canaries carry flipped labels
        train_sets.append((x_all[idx], y))
    # Feature scaling from the pooled training data (in deployment: federated statistics).
    pooled = torch.cat([x for x, _ in train_sets])
    mu, sd = pooled.mean(0), pooled.std(0).clamp_min(1e-6)
    train_sets = [TensorDataset(_standardise(x, mu, sd), y) for x, y in train_sets]
    test_idx = np.concatenate([[i for i in s.test_idx if i not in withdrawn] for s in sites])
    test = TensorDataset(_standardise(x_all[test_idx], mu, sd), y_all[test_idx])
    schema = sites[0].schema
    model = models.build(models.spec_for(schema, hidden=list(hidden)))
    cfg = TrainConfig(local_epochs=local_epochs, batch_size=batch_size,
                      learning_rate=learning_rate, optimizer="adam", seed=seed)
    device = torch.device("cpu")
    sigmas: list[float | None] = [None] * hospitals
    if epsilon is not None:
        for h, ds in enumerate(train_sets):
            q, steps = plan_round(len(ds), cfg)
            sigmas[h] = accountant.calibrate_noise(epsilon, delta, q, steps * rounds,
                                                   accountant_kind)
    history: list[list[tuple[float, float, int]]] = [[] for _ in range(hospitals)]
    modes = set()
    for rnd in range(rounds):
        global_w = get_weights(model)
        updates, sizes = [], []
        for h, ds in enumerate(train_sets):
            local = models.build(models.spec_for(schema, hidden=list(hidden)))
            set_weights(local, global_w)
            if sigmas[h] is None:
                train(local, ds, TrainConfig(**{**cfg.__dict__, "seed": seed + rnd * 97 + h}),
                      "binary", device)
            else:
                dp = DPConfig(sigmas[h], max_grad_norm, seed=seed * 10_007 + rnd * 97 + h)
                _, spend = train_private(local, ds, cfg, dp, "binary", device)
                history[h].append((spend.noise_multiplier, spend.sample_rate, spend.steps))
                modes.add(spend.grad_sample_mode)
            updates.append(get_weights(local))
            sizes.append(len(ds))
        w = np.asarray(sizes, dtype=np.float64) / sum(sizes)
        set_weights(model, {k: sum(wi * u[k] for wi, u in zip(w, updates)).astype(np.float32)
                            for k in global_w})
    can_x = _standardise(x_all[chosen], mu, sd)
    can_y = 1 - y_all[chosen]
    with torch.no_grad():
        model.eval()
        logits = model(can_x)
        losses = np.array([float(loss_fn("binary", logits[i:i + 1], can_y[i:i + 1]))
                           for i in range(len(chosen))])
    scores = -losses
    p, y, _ = predict(model, test, "binary", device)
    spent = [accountant.epsilon(hh, delta, accountant_kind) for hh in history] \
        if epsilon is not None else [float("inf")] * hospitals
    return {"s_in": scores[is_in], "s_out": scores[~is_in], "spent": spent, "sigmas": sigmas,
            "modes": modes, "test_accuracy": float(((p.reshape(-1) > 0.5) == y).mean()),
            "test_auc": auc(p.reshape(-1)[y == 1], p.reshape(-1)[y == 0])}
