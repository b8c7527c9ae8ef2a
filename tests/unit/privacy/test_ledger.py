"""The privacy ledger persists, declines when exhausted and fails closed."""

from __future__ import annotations

import json

import pytest

from fedhealth.errors import ConfigError, PrivacyBudgetExhausted
from fedhealth.privacy import accountant
from fedhealth.privacy.ledger import Budget, PrivacyLedger, Spend

Q, STEPS = 0.14, 7


def _budget_for_rounds(rounds: int, sigma: float = 2.0) -> Budget:
    return Budget(accountant.epsilon([(sigma, Q, STEPS)] * rounds, 1e-5), 1e-5)


def test_persists_across_reopen(tmp_path) -> None:
    path = tmp_path / "ledger.json"
    ledger = PrivacyLedger.open(path, Budget(5.0, 1e-5), create=True)
    ledger.record(1, Spend(Q, 2.0, STEPS))
    ledger.record(2, Spend(Q, 2.0, STEPS))
    again = PrivacyLedger.open(path, Budget(5.0, 1e-5))
    assert [r.round for r in again.rounds] == [1, 2]
    assert again.spent == pytest.approx(ledger.spent)
    assert again.rounds[-1].epsilon_after == pytest.approx(again.spent)


def test_five_of_ten_rounds_then_declines_even_after_restart(tmp_path) -> None:
    path, budget = tmp_path / "ledger.json", _budget_for_rounds(5)
    ledger = PrivacyLedger.open(path, budget, create=True)
    declined = []
    for rnd in range(1, 11):
        if rnd == 7:  # restart the node mid-run
            ledger = PrivacyLedger.open(path, budget)
        try:
            ledger.record(rnd, Spend(Q, 2.0, STEPS))
        except PrivacyBudgetExhausted as err:
            assert str(err).startswith("budget exhausted")
            declined.append(rnd)
    assert declined == [6, 7, 8, 9, 10]
    assert len(ledger.rounds) == 5 and ledger.spent <= budget.epsilon


def test_check_does_not_spend(tmp_path) -> None:
    ledger = PrivacyLedger.open(tmp_path / "l.json", Budget(5.0, 1e-5), create=True)
    assert ledger.check(Spend(Q, 2.0, STEPS)) > 0
    assert ledger.spent == 0.0


def test_refuses_a_raised_budget_and_applies_a_lower_one(tmp_path) -> None:
    path = tmp_path / "ledger.json"
    PrivacyLedger.open(path, Budget(2.0, 1e-5), create=True).record(1, Spend(Q, 2.0, STEPS))
    for raised in (Budget(3.0, 1e-5), Budget(2.0, 1e-4), Budget(2.0, 1e-5, "prv")):
        with pytest.raises(ConfigError, match="cannot be raised"):
            PrivacyLedger.open(path, raised)
    assert PrivacyLedger.open(path, Budget(1.5, 1e-5)).budget.epsilon == 1.5
    # the lower budget was persisted: going back up to 2.0 is now a raise
    with pytest.raises(ConfigError, match="cannot be raised"):
        PrivacyLedger.open(path, Budget(2.0, 1e-5))


def test_refuses_corrupt_or_edited_file(tmp_path) -> None:
    path = tmp_path / "ledger.json"
    PrivacyLedger.open(path, Budget(2.0, 1e-5), create=True).record(1, Spend(Q, 2.0, STEPS))
    doc = json.loads(path.read_text())
    doc["body"]["rounds"] = []  # someone deletes the spend
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match="corrupt.*checksum"):
        PrivacyLedger.open(path, Budget(2.0, 1e-5))
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="corrupt"):
        PrivacyLedger.open(path, Budget(2.0, 1e-5))


def test_missing_file_is_an_error_unless_creating(tmp_path) -> None:
    with pytest.raises(ConfigError, match="missing"):
        PrivacyLedger.open(tmp_path / "gone.json", Budget(1.0, 1e-5))


def test_rounds_must_advance(tmp_path) -> None:
    ledger = PrivacyLedger.open(tmp_path / "l.json", Budget(5.0, 1e-5), create=True)
    ledger.record(3, Spend(Q, 2.0, STEPS))
    with pytest.raises(ConfigError, match="not after"):
        ledger.record(3, Spend(Q, 2.0, STEPS))


def test_report_matches_independent_epsilon(tmp_path) -> None:
    ledger = PrivacyLedger.open(tmp_path / "l.json", Budget(5.0, 1e-5), create=True)
    for rnd in (1, 2, 3):
        ledger.record(rnd, Spend(Q, 2.0, STEPS))
    rep = ledger.report(max_grad_norm=1.0)
    indep = accountant.independent_rdp_epsilon(
        [(rep["noise_multiplier"], rep["sample_rate"], rep["steps"])], rep["delta"])
    assert rep["epsilon"] == pytest.approx(indep, rel=1e-6)


@pytest.mark.parametrize("epsilon", [0.0, -1.0, float("nan"), float("inf")])
def test_a_budget_must_be_positive_and_finite(epsilon: float) -> None:
    with pytest.raises(ConfigError, match="finite"):
        Budget(epsilon, 1e-5)
