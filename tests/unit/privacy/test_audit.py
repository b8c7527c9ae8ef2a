"""The audit's statistics; the full audit runs are marked slow."""

from __future__ import annotations

import numpy as np
import pytest

from fedhealth.privacy.audit import auc, auc_ceiling, run_audit


def test_auc_basics() -> None:
    assert auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert auc(np.array([1.0]), np.array([1.0])) == 0.5


def test_ceiling_is_monotone_and_bounded() -> None:
    assert auc_ceiling(0.0, 0.0) == pytest.approx(0.5, abs=1e-6)
    vals = [auc_ceiling(e, 1e-5) for e in (0.1, 0.5, 1.0, 2.0, 8.0)]
    assert all(a < b for a, b in zip(vals, vals[1:])) and vals[-1] <= 1.0
    assert auc_ceiling(float("inf"), 1e-5) == 1.0


@pytest.mark.slow
def test_audit_non_private_vs_epsilon_one() -> None:
    plain = run_audit(epsilon=None)
    private = run_audit(epsilon=1.0)
    assert plain["attack_auc"] >= 0.8
    assert private["attack_auc"] <= 0.6
    assert max(private["spent_epsilon"]) <= 1.0
    assert private["attack_auc"] <= private["auc_ceiling"] + 0.1


def test_trials_pool_fresh_canaries() -> None:
    one = run_audit(epsilon=None, rounds=1, local_epochs=2, canaries=5, bootstrap=50)
    two = run_audit(epsilon=None, rounds=1, local_epochs=2, canaries=5, bootstrap=50, trials=2)
    assert (two["canaries_in"], two["canaries_out"], two["trials"]) == (10, 10, 2)
    assert two["attack_auc_per_trial"][0] == one["attack_auc"]
    lo, hi = two["attack_auc_ci95"]
    assert 0.0 <= lo <= two["attack_auc"] <= hi <= 1.0
    with pytest.raises(ValueError, match="trials"):
        run_audit(epsilon=None, trials=0)
