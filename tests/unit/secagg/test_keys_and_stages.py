"""Signed key bundles and the stage machine."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from fedhealth.crypto import ed25519_generate
from fedhealth.errors import KeyVerificationError, ProtocolError
from fedhealth.secagg.keys import new_round_keys, verify_bundle, verify_roster
from fedhealth.secagg.stages import STAGES, TRANSITIONS, RoundState, Stage, check_transition


def _bundle(node: str, round_: int = 1):
    sk, pk = ed25519_generate()
    _, bundle = new_round_keys(sk, "run", round_, node)
    return bundle, pk


def test_valid_bundle_verifies() -> None:
    b, pk = _bundle("h1")
    verify_bundle(b, "run", 1, pk)


@pytest.mark.parametrize(
    "change",
    [
        {"node_id": "h2"},
        {"masking_public_key": b"\x09" * 32},
        {"encryption_public_key": b"\x09" * 32},
        {"signature": bytes(64)},
    ],
)
def test_tampered_bundle_is_rejected_naming_the_node(change: dict) -> None:
    b, pk = _bundle("h1")
    bad = dataclasses.replace(b, **change)
    with pytest.raises(KeyVerificationError, match=repr(bad.node_id)):
        verify_bundle(bad, "run", 1)


def test_bundle_cannot_be_replayed_in_another_round_or_run() -> None:
    b, pk = _bundle("h1", round_=1)
    with pytest.raises(KeyVerificationError):
        verify_bundle(b, "run", 2, pk)
    with pytest.raises(KeyVerificationError):
        verify_bundle(b, "other-run", 1, pk)


def test_substituted_identity_is_rejected() -> None:
    b, _ = _bundle("h1")
    _, other_pk = ed25519_generate()
    with pytest.raises(KeyVerificationError, match="identity"):
        verify_bundle(b, "run", 1, other_pk)


def test_roster_reports_every_bad_node_at_once() -> None:
    good, _ = _bundle("h1")
    bad2 = dataclasses.replace(_bundle("h2")[0], signature=bytes(64))
    bad3 = dataclasses.replace(_bundle("h3")[0], node_id="h4")
    with pytest.raises(KeyVerificationError) as err:
        verify_roster([good, bad2, bad3], "run", 1)
    assert "'h2'" in str(err.value) and "'h4'" in str(err.value) and "'h1'" not in str(err.value)
    with pytest.raises(KeyVerificationError, match="twice"):
        verify_roster([good, good], "run", 1)


def test_stage_order_and_every_unlisted_transition_is_rejected() -> None:
    assert STAGES[0] is Stage.ADVERTISE_KEYS and STAGES[-1] is Stage.DONE
    allowed = {(a, b) for a, b in zip(STAGES, STAGES[1:], strict=False)}
    allowed |= {(s, Stage.ABORTED) for s in Stage if s not in (Stage.DONE, Stage.ABORTED)}
    assert TRANSITIONS == allowed
    for a, b in itertools.product(Stage, repeat=2):
        if (a, b) in allowed:
            check_transition(a, b)
        else:
            with pytest.raises(ProtocolError):
                check_transition(a, b)


def test_round_state_walks_the_stages() -> None:
    state = RoundState("run", 1)
    for stage in STAGES[1:]:
        state.advance(stage)
    with pytest.raises(ProtocolError):
        state.advance(Stage.ABORTED)
