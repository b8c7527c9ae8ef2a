"""Known-answer tests for accounting, and noise calibration."""

from __future__ import annotations

import pytest

from fedhealth.errors import ConfigError
from fedhealth.privacy import accountant

# (history, delta) -> RDP epsilon, pinned from Opacus 1.6 over integer orders 2..256.
KAT = [
    ([(1.0, 0.01, 1000)], 1e-5, 2.107753075451561),
    ([(0.8, 0.05, 200)], 1e-5, 8.75396470183971),
    ([(2.0, 0.2, 50), (1.5, 0.1, 30)], 1e-5, 4.413446190757635),
    ([(5.0, 1.0, 10)], 1e-5, 2.814109167845533),
    ([(1.1, 0.256, 3)], 1e-5, 3.8914429513722526),
]


@pytest.mark.parametrize(("history", "delta", "expected"), KAT)
def test_rdp_known_answers_match_dp_accounting(history, delta, expected) -> None:
    ours = accountant.epsilon(history, delta, "rdp")
    assert ours == pytest.approx(expected, rel=1e-9)
    assert ours == pytest.approx(accountant.independent_rdp_epsilon(history, delta), rel=1e-6)


def test_prv_is_tighter_than_rdp() -> None:
    h = [(1.0, 0.01, 1000)]
    prv = accountant.epsilon(h, 1e-5, "prv")
    assert 0 < prv < accountant.epsilon(h, 1e-5, "rdp")


def test_empty_history_spends_nothing() -> None:
    assert accountant.epsilon([], 1e-5) == 0.0


def test_bad_inputs_are_all_named() -> None:
    with pytest.raises(ConfigError, match="unknown accountant.*delta.*noise_multiplier"):
        accountant.epsilon([(0.0, 0.5, 1)], 2.0, "gdp")


@pytest.mark.parametrize("kind", ["rdp", "prv"])
def test_calibration_lands_in_90_to_100_percent_of_target(kind: str) -> None:
    q, steps_per_round, rounds = 64 / 456, 7, 10
    sigma = accountant.calibrate_noise(1.0, 1e-5, q, steps_per_round * rounds, kind)
    spent = accountant.epsilon([(sigma, q, steps_per_round)] * rounds, 1e-5, kind)
    assert 0.9 <= spent <= 1.0
