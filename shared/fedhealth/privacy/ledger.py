"""The per-hospital privacy ledger: what this node has spent, on disk, surviving restarts.

The node (the data owner) owns it. Before a round it calls `check(planned)`; if the
round would take the running epsilon past the budget, `PrivacyBudgetExhausted` is
raised and the node declines the round. Otherwise it calls `record(round, spend)`
*before* training, so a crash during the round still counts the spend.

Fails closed:
- a corrupt file (bad JSON, missing field, checksum mismatch) is an error, never a reset;
- a missing file is an error unless the caller says this is a fresh start;
- the budget in the file cannot be raised (larger epsilon or delta) or have its
  accountant changed by a later setting; a lower budget applies and is persisted.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fedhealth import atomic
from fedhealth.errors import ConfigError, PrivacyBudgetExhausted
from fedhealth.privacy import accountant

FORMAT = "fedhealth.privacy-ledger/1"


@dataclass(frozen=True)
class Budget:
    """A hospital's total (epsilon, delta) budget and the accountant that measures it."""

    epsilon: float
    delta: float
    accountant: str = "rdp"

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.epsilon < math.inf:  # an infinite budget is no privacy at all
            problems.append(f"epsilon must be > 0 and finite, not {self.epsilon}")
        if not 0 < self.delta < 1:
            problems.append(f"delta must be in (0, 1), not {self.delta}")
        if self.accountant not in accountant.KINDS:
            problems.append(f"accountant must be one of {accountant.KINDS}, "
                            f"not {self.accountant!r}")
        if problems:
            raise ConfigError("privacy budget: " + "; ".join(problems))


@dataclass(frozen=True)
class Spend:
    """One round of DP-SGD: Poisson `sample_rate`, `noise_multiplier`, `steps`."""

    sample_rate: float
    noise_multiplier: float
    steps: int

    def entry(self) -> tuple[float, float, int]:
        return (self.noise_multiplier, self.sample_rate, self.steps)


@dataclass(frozen=True)
class RoundRecord:
    round: int
    sample_rate: float
    noise_multiplier: float
    steps: int
    epsilon_after: float


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class PrivacyLedger:
    """A budget and every round spent against it, persisted atomically at `path`."""

    def __init__(self, path: Path, budget: Budget, rounds: list[RoundRecord]) -> None:
        self.path = Path(path)
        self.budget = budget
        self.rounds = rounds

    @classmethod
    def open(cls, path: Path, budget: Budget, *, create: bool = False) -> PrivacyLedger:
        """Open the ledger at `path` under the configured `budget`.

        `create=True` starts a new ledger when none exists (first start of a node);
        otherwise a missing file is an error. An existing file keeps its own budget unless
        `budget` is lower in both epsilon and delta terms, in which case the lower applies.
        """
        path = Path(path)
        if not path.exists():
            if not create:
                raise ConfigError(f"privacy ledger {path} is missing; refusing to start from "
                                  f"zero (pass create only on a node's first start)")
            ledger = cls(path, budget, [])
            ledger._save()
            return ledger
        stored, rounds = cls._load(path)
        problems = []
        if budget.accountant != stored.accountant:
            problems.append(f"accountant {budget.accountant!r} differs from the ledger's "
                            f"{stored.accountant!r}")
        if budget.epsilon > stored.epsilon:
            problems.append(f"epsilon {budget.epsilon} exceeds the ledger's {stored.epsilon}")
        if budget.delta > stored.delta:
            problems.append(f"delta {budget.delta} exceeds the ledger's {stored.delta}")
        if problems:
            raise ConfigError(f"privacy ledger {path}: a budget cannot be raised or "
                              f"re-measured: " + "; ".join(problems))
        ledger = cls(path, stored, rounds)
        if budget != stored:  # lower: applies from now on, and is kept
            ledger.budget = budget
            ledger._save()
        return ledger

    @staticmethod
    def _load(path: Path) -> tuple[Budget, list[RoundRecord]]:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("format") != FORMAT:
                raise ValueError(f"format is {doc.get('format')!r}, expected {FORMAT!r}")
            body = doc["body"]
            if _digest(body) != doc["sha256"]:
                raise ValueError("checksum mismatch (edited or damaged)")
            budget = Budget(**body["budget"])
            rounds = [RoundRecord(**r) for r in body["rounds"]]
        except (OSError, ValueError, KeyError, TypeError, ConfigError) as err:
            raise ConfigError(f"privacy ledger {path} is unreadable or corrupt: {err}; "
                              f"refusing to continue (it is never reset silently)") from None
        return budget, rounds

    def _save(self) -> None:
        body = {"budget": asdict(self.budget), "rounds": [asdict(r) for r in self.rounds]}
        atomic.write_json(self.path, {"format": FORMAT, "sha256": _digest(body), "body": body})

    @property
    def history(self) -> list[tuple[float, float, int]]:
        return [(r.noise_multiplier, r.sample_rate, r.steps) for r in self.rounds]

    @property
    def spent(self) -> float:
        """Epsilon spent so far (recomputed from the full history)."""
        return accountant.epsilon(self.history, self.budget.delta, self.budget.accountant)

    def check(self, planned: Spend) -> float:
        """Epsilon after `planned`; `PrivacyBudgetExhausted` if that exceeds the budget."""
        after = accountant.epsilon(self.history + [planned.entry()], self.budget.delta,
                                   self.budget.accountant)
        if after > self.budget.epsilon:
            raise PrivacyBudgetExhausted(
                f"budget exhausted: the round would bring epsilon from {self.spent:.6g} to "
                f"{after:.6g}, over the budget {self.budget.epsilon:g} at delta "
                f"{self.budget.delta:g} ({self.budget.accountant})")
        return after

    def record(self, round_number: int, spend: Spend) -> RoundRecord:
        """Check `spend` fits, then persist it for `round_number` (call before training)."""
        if self.rounds and round_number <= self.rounds[-1].round:
            raise ConfigError(f"privacy ledger: round {round_number} is not after the last "
                              f"recorded round {self.rounds[-1].round}")
        after = self.check(spend)
        rec = RoundRecord(int(round_number), float(spend.sample_rate),
                          float(spend.noise_multiplier), int(spend.steps), after)
        self.rounds.append(rec)
        self._save()
        return rec

    def report(self, max_grad_norm: float | None = None) -> dict[str, Any]:
        """The `results.json` privacy block for this hospital (last round's parameters)."""
        last = self.rounds[-1] if self.rounds else None
        return {"epsilon": self.spent, "delta": self.budget.delta,
                "accountant": self.budget.accountant,
                "noise_multiplier": last.noise_multiplier if last else None,
                "sample_rate": last.sample_rate if last else None,
                "steps": sum(r.steps for r in self.rounds),
                "max_grad_norm": max_grad_norm, "budget_epsilon": self.budget.epsilon}
