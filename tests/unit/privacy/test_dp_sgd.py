"""DP-SGD through Opacus: trains better than chance at epsilon=1, spends what it reports."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from fedhealth.errors import ConfigError
from fedhealth.models import registry
from fedhealth.models.weights import get_weights
from fedhealth.privacy import accountant
from fedhealth.privacy.dp_sgd import DPConfig, calibrated, pick_mode, train_private
from fedhealth.training.loop import TrainConfig, predict

CPU = torch.device("cpu")


def _auc(p: np.ndarray, y: np.ndarray) -> float:
    p, y = p.reshape(-1), y.reshape(-1)
    pos, neg = p[y == 1], p[y == 0]
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def test_mlp_beats_chance_at_epsilon_one(breast_cancer_site) -> None:
    schema, train, test = breast_cancer_site
    cfg = TrainConfig(batch_size=64, learning_rate=0.02, optimizer="adam")
    rounds = 10
    sigma = calibrated(len(train), cfg, rounds, 1.0, 1e-5).noise_multiplier
    torch.manual_seed(0)
    model = registry.build(registry.spec_for(schema))
    keys = set(get_weights(model))
    history = []
    for r in range(rounds):
        _, spend = train_private(model, train, cfg, DPConfig(sigma, 1.0, seed=r), "binary", CPU)
        history.append((spend.noise_multiplier, spend.sample_rate, spend.steps))
    assert 0.9 <= accountant.epsilon(history, 1e-5) <= 1.0
    assert set(get_weights(model)) == keys  # unwrapped: plain state dict keys
    p, y, _ = predict(model, test, "binary", CPU)
    assert _auc(p, y) > 0.75
    assert ((p.reshape(-1) > 0.5) == y).mean() > max(y.mean(), 1 - y.mean())


@pytest.mark.parametrize("mode", ["outputs", "hooks", "functorch", "ghost"])
def test_modes_clip_and_noise_the_same_way(mode: str) -> None:
    """With tiny noise every mode takes the same clipped step (within float error)."""
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(40, 5, generator=g), torch.randint(0, 2, (40,), generator=g).float())
    cfg = TrainConfig(batch_size=40, learning_rate=0.1, optimizer="sgd")
    results = {}
    for m in ("hooks", mode):
        torch.manual_seed(1)
        model = registry.build(registry.ModelSpec("mlp", {"input_shape": [5], "hidden": [8]}))
        train_private(model, data, cfg, DPConfig(1e-6, 0.05, sample_rate=1.0, seed=3,
                                                 grad_sample_mode=m), "binary", CPU)
        results[m] = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    assert torch.allclose(results["hooks"], results[mode], atol=1e-5)


@pytest.mark.parametrize("mode", ["outputs", "hooks", "functorch", "ghost"])
def test_empty_poisson_samples_still_step(mode: str) -> None:
    data = TensorDataset(torch.randn(3, 4), torch.ones(3))
    model = registry.build(registry.ModelSpec("mlp", {"input_shape": [4], "hidden": [4]}))
    before = get_weights(model)
    metrics, spend = train_private(model, data, TrainConfig(batch_size=1, optimizer="sgd"),
                                   DPConfig(1.0, 1.0, sample_rate=0.01, seed=0,
                                            grad_sample_mode=mode), "binary", CPU)
    assert spend.steps == 100 and metrics["samples"] < 10
    assert any(not np.array_equal(before[k], v) for k, v in get_weights(model).items())


def test_settings_are_validated_together() -> None:
    with pytest.raises(ConfigError, match="noise_multiplier.*max_grad_norm.*grad_sample_mode"):
        DPConfig(noise_multiplier=0, max_grad_norm=-1, grad_sample_mode="fast")


def test_auto_mode_is_outputs_where_supported_else_hooks() -> None:
    mlp = registry.build(registry.ModelSpec("mlp", {"input_shape": [4]}))
    gru = registry.build(registry.ModelSpec("gru", {"input_shape": [6, 3]}))
    prelu = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.PReLU(), torch.nn.Linear(4, 1))
    assert [pick_mode(m) for m in (mlp, gru, prelu)] == ["outputs", "outputs", "hooks"]
    assert pick_mode(mlp, "ghost") == "ghost"
    data = TensorDataset(torch.randn(12, 3), torch.randint(0, 2, (12,)).float())
    _, spend = train_private(prelu, data, TrainConfig(batch_size=4, optimizer="sgd"),
                             DPConfig(1.0, 1.0, seed=0), "binary", CPU)
    assert spend.grad_sample_mode == "hooks" and spend.steps == 3
