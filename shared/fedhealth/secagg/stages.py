"""The stages of a secure-aggregation round, their order, and what the round knows.

A round walks ADVERTISE_KEYS -> SHARE_KEYS -> COLLECT_MASKED_INPUT -> UNMASK -> DONE;
any unfinished stage may go to ABORTED (for instance when fewer than t nodes remain).
Every other transition is refused with ProtocolError.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from fedhealth.errors import ProtocolError


class BelowThreshold(ProtocolError):
    """Fewer than t nodes remain at some stage: the round must abort, the model stays as is."""


class Stage(enum.Enum):
    """One step of the SecAgg protocol (Bonawitz et al. 2017, rounds 0-3), or an end state."""

    ADVERTISE_KEYS = "advertise_keys"
    SHARE_KEYS = "share_keys"
    COLLECT_MASKED_INPUT = "collect_masked_input"
    UNMASK = "unmask"
    DONE = "done"
    ABORTED = "aborted"


STAGES: tuple[Stage, ...] = (
    Stage.ADVERTISE_KEYS,
    Stage.SHARE_KEYS,
    Stage.COLLECT_MASKED_INPUT,
    Stage.UNMASK,
    Stage.DONE,
)

TRANSITIONS: frozenset[tuple[Stage, Stage]] = frozenset(
    {(a, b) for a, b in zip(STAGES, STAGES[1:], strict=False)}
    | {(s, Stage.ABORTED) for s in STAGES if s is not Stage.DONE}
)


def check_transition(current: Stage, target: Stage) -> None:
    """Raise ProtocolError unless `current -> target` is one of TRANSITIONS."""
    if (current, target) not in TRANSITIONS:
        raise ProtocolError(f"secure aggregation cannot go from {current.value} to {target.value}")


@dataclass
class RoundState:
    """What one side of a round knows: its stage and which nodes reached each stage.

    advertised = U1 (published verified keys), shared = U2 (sent shares),
    masked = U3 (sent a masked input), responded = U4 (sent unmask shares).
    """

    run_id: str
    round: int
    stage: Stage = Stage.ADVERTISE_KEYS
    advertised: frozenset[str] = frozenset()
    shared: frozenset[str] = frozenset()
    masked: frozenset[str] = frozenset()
    responded: frozenset[str] = frozenset()
    abort_reason: str | None = field(default=None)

    def advance(self, target: Stage) -> None:
        """Move to `target`, refusing any transition not in TRANSITIONS."""
        check_transition(self.stage, target)
        self.stage = target

    def expect(self, stage: Stage) -> None:
        """Refuse a call made in the wrong stage."""
        if self.stage is not stage:
            raise ProtocolError(
                f"round {self.run_id}/{self.round}: expected stage {stage.value}, "
                f"but the round is at {self.stage.value}"
            )

    def abort(self, reason: str) -> BelowThreshold:
        """Move to ABORTED (if not already there) and return the error to raise."""
        if self.stage is not Stage.ABORTED:
            self.advance(Stage.ABORTED)
        self.abort_reason = reason
        return BelowThreshold(f"round {self.run_id}/{self.round} aborted: {reason}")
