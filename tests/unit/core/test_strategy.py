import numpy as np
import pytest

from fedhealth.errors import ConfigError
from fedhealth.strategy import Strategy, weighted_mean


def test_weighted_mean_weights_by_sample_count() -> None:
    m = weighted_mean([{"w": np.array([0.0, 2.0])}, {"w": np.array([4.0, 2.0])}], [3, 1])
    assert np.allclose(m["w"], [1.0, 2.0])


def test_fedavg_adds_the_mean_update() -> None:
    out = Strategy("fedavg").apply({"w": np.ones(3, np.float32)}, {"w": np.full(3, 0.5, np.float32)})
    assert np.allclose(out["w"], 1.5)


@pytest.mark.parametrize("name", ["fedadam", "fedyogi", "fedadagrad"])
def test_adaptive_strategies_step_along_the_update_and_keep_state(name: str) -> None:
    s = Strategy(name, server_lr=0.1)
    w = {"w": np.zeros(2, np.float32)}
    for _ in range(3):
        w = s.apply(w, {"w": np.array([1.0, -1.0], np.float32)})
    assert w["w"][0] > 0 > w["w"][1]
    assert {"m/w", "v/w"} <= set(s.state)


def test_unknown_strategy_and_fedavg_with_server_lr_are_refused() -> None:
    with pytest.raises(ConfigError):
        Strategy("fedsgd")
    with pytest.raises(ConfigError):
        Strategy("fedavg", server_lr=0.5)


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_functional_optimizer_matches_torch_optim_step_for_step(name: str) -> None:
    import torch

    from fedhealth.training.loop import FunctionalOptimizer, TrainConfig, make_optimizer

    cfg = TrainConfig(optimizer=name, learning_rate=0.05, weight_decay=0.01)
    torch.manual_seed(0)
    a = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    b = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    b.load_state_dict(a.state_dict())
    opt_a, opt_b = FunctionalOptimizer(a.parameters(), cfg), make_optimizer(b, cfg)
    x, y = torch.randn(16, 5), torch.randn(16, 1)
    for _ in range(5):
        for model, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
