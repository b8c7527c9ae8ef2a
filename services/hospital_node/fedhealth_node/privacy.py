"""The hospital's own privacy accounting: it owns the ledger, calibrates the noise once,
and refuses (before any training) a round that would exceed its budget.

The budget is the run's target (epsilon, delta) unless this hospital's settings set a
lower one. The noise multiplier is calibrated from the run's target over the planned
rounds, so a hospital with a lower budget runs out early and declines the rest.
"""

from __future__ import annotations

from pathlib import Path

from typing import TYPE_CHECKING

from fedhealth.training.loop import TrainConfig
from fedhealth.v1 import coordinator_pb2 as pb

if TYPE_CHECKING:  # these import Opacus (1-2 s with SciPy): only DP runs pay for it
    from fedhealth.privacy.dp_sgd import DPConfig, RoundSpend
    from fedhealth.privacy.ledger import PrivacyLedger


class NodePrivacy:
    """Ledger, calibrated noise and the last round's spend of one hospital."""

    def __init__(self, ledger_path: Path, new_ledger: bool, own_epsilon: float | None,
                 own_delta: float | None) -> None:
        self.ledger_path = ledger_path
        self.new_ledger = new_ledger
        self.own_epsilon, self.own_delta = own_epsilon, own_delta
        self.ledger: PrivacyLedger | None = None
        self.max_grad_norm = 0.0
        self.mode = ""

    def _open(self, dp: pb.DPConfig) -> PrivacyLedger:
        from fedhealth.privacy.ledger import Budget, PrivacyLedger

        if self.ledger is None:
            eps = min(dp.target_epsilon, self.own_epsilon or dp.target_epsilon)
            delta = min(dp.delta, self.own_delta or dp.delta)
            self.ledger = PrivacyLedger.open(self.ledger_path, Budget(eps, delta, dp.accountant or "rdp"),
                                             create=self.new_ledger)
        return self.ledger

    def prepare(self, n_train: int, cfg: TrainConfig, dp: pb.DPConfig) -> DPConfig:
        """Record this round's spend in the ledger (raises PrivacyBudgetExhausted first if
        it does not fit) and return the DP-SGD settings to train with."""
        from fedhealth.privacy import accountant
        from fedhealth.privacy.dp_sgd import DPConfig, plan_round
        from fedhealth.privacy.ledger import Spend

        ledger = self._open(dp)
        q, steps = plan_round(n_train, cfg)
        if ledger.rounds:
            sigma = ledger.rounds[-1].noise_multiplier
        else:
            sigma = accountant.calibrate_noise(dp.target_epsilon, dp.delta, q,
                                               steps * max(1, int(dp.planned_rounds)),
                                               dp.accountant or "rdp")
        spend = Spend(q, sigma, steps)
        ledger.check(spend)  # "budget exhausted" before anything else
        # Ledger entries are numbered by the ledger itself: it outlives runs, and round
        # numbers restart with every run.
        ledger.record(ledger.rounds[-1].round + 1 if ledger.rounds else 1, spend)
        self.max_grad_norm = dp.max_grad_norm or 1.0
        return DPConfig(noise_multiplier=sigma, max_grad_norm=self.max_grad_norm, sample_rate=q)

    def spent(self, spend: RoundSpend) -> None:
        self.mode = spend.grad_sample_mode

    def report(self) -> pb.PrivacyReport | None:
        if self.ledger is None:
            return None
        r = self.ledger.report(self.max_grad_norm)
        return pb.PrivacyReport(
            epsilon=r["epsilon"], delta=r["delta"], accountant=r["accountant"],
            noise_multiplier=r["noise_multiplier"] or 0.0, sample_rate=r["sample_rate"] or 0.0,
            steps=int(r["steps"]), max_grad_norm=self.max_grad_norm,
            budget_epsilon=r["budget_epsilon"], grad_sample_mode=self.mode)
