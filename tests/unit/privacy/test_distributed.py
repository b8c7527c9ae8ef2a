"""Distributed discrete Gaussian: survives quantization and dropouts, accounted by zCDP."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedhealth.errors import ConfigError
from fedhealth.privacy import distributed as dd


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 200), st.floats(0.01, 10), st.integers(0, 2**31))
def test_noiseless_round_trip_error_is_bounded(dim: int, norm: float, seed: int) -> None:
    cfg = dd.DistributedDPConfig(clip_norm=1.0, noise_multiplier=1e-9, hospitals=3)
    rng = np.random.default_rng(seed)
    ups = [rng.normal(size=dim) * norm for _ in range(3)]
    out = dd.decode(dd.aggregate([dd.privatize(u, cfg, seed + i) for i, u in enumerate(ups)],
                                 cfg), cfg)
    true = sum(dd.clip(u, 1.0) for u in ups)
    assert np.max(np.abs(out - true)) <= 3 / cfg.scale + 1e-12  # < 1 unit per node


def test_aggregate_noise_meets_target_with_planned_dropouts() -> None:
    cfg = dd.DistributedDPConfig(clip_norm=1.0, noise_multiplier=1.0, hospitals=10,
                                 max_dropouts=2)
    ups = [np.zeros(20_000) for _ in range(8)]
    out = dd.decode(dd.aggregate([dd.privatize(u, cfg, i) for i, u in enumerate(ups)], cfg), cfg)
    assert out.std() == pytest.approx(1.0, rel=0.03)  # noise_multiplier * clip_norm


def test_discrete_gaussian_moments() -> None:
    z = dd.sample_discrete_gaussian(4.0, 100_000, np.random.default_rng(0))
    assert abs(z.mean()) < 0.05 and z.var() == pytest.approx(16.0, rel=0.03)


def test_accounting_fewer_survivors_refused_more_survivors_cheaper() -> None:
    cfg = dd.DistributedDPConfig(clip_norm=1.0, noise_multiplier=1.0, hospitals=10,
                                 max_dropouts=2)
    planned = dd.epsilon(cfg, 1000, 10, 1e-5)
    assert dd.epsilon(cfg, 1000, 10, 1e-5, survivors=10) < planned
    with pytest.raises(ConfigError, match="below the planned minimum"):
        dd.epsilon(cfg, 1000, 10, 1e-5, survivors=7)


def test_epsilon_close_to_continuous_gaussian_when_quantization_is_fine() -> None:
    from fedhealth.privacy import accountant

    cfg = dd.DistributedDPConfig(clip_norm=1.0, noise_multiplier=2.0, hospitals=5,
                                 scale=2.0**20)
    gauss = accountant.epsilon([(2.0, 1.0, 10)], 1e-5)
    assert dd.epsilon(cfg, 100, 10, 1e-5) == pytest.approx(gauss, rel=0.02)


def test_bad_settings_named_together() -> None:
    with pytest.raises(ConfigError, match="clip_norm.*max_dropouts"):
        dd.DistributedDPConfig(clip_norm=0, noise_multiplier=1, hospitals=3, max_dropouts=3)
