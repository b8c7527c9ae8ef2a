"""A short centralized fit through the real training loop, scored by AUROC on held-out data."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from fedhealth.data.base import DataSource
from fedhealth.data.partition import train_test_split
from fedhealth.training.loop import TrainConfig, predict, train


def auroc(task: str, probs: np.ndarray, labels: np.ndarray) -> float:
    """Binary AUROC; macro one-vs-rest over present classes; mean over scorable labels."""
    if task == "binary":
        return float(roc_auc_score(labels.reshape(-1), probs.reshape(-1)))
    if task == "multiclass":
        present = np.unique(labels)
        scores = [roc_auc_score(labels == k, probs[:, k]) for k in present]
        return float(np.mean(scores))
    scores = []
    for k in range(labels.shape[1]):
        known = ~np.isnan(labels[:, k])
        if len(np.unique(labels[known, k])) == 2:
            scores.append(roc_auc_score(labels[known, k], probs[known, k]))
    return float(np.mean(scores))


def fit_auroc(source: DataSource, model: nn.Module, epochs: int = 8, lr: float = 3e-3,
              seed: int = 0) -> float:
    """Train `model` on 75% of `source`, return its AUROC on the other 25%."""
    torch.manual_seed(seed)
    train_idx, test_idx = train_test_split(np.arange(len(source)), source.strata, 0.25, seed)
    cfg = TrainConfig(local_epochs=epochs, batch_size=16, learning_rate=lr, seed=seed)
    device = torch.device("cpu")
    train(model, source.make_dataset(train_idx), cfg, source.schema.task, device)
    probs, labels, _ = predict(model, source.make_dataset(test_idx), source.schema.task, device)
    return auroc(source.schema.task, probs, labels)
