"""Per-round key bundles: two fresh X25519 pairs, signed with the node's Ed25519 identity.

The signature covers a domain label, run id, round, node id and both public keys, so a
bundle cannot be replayed in another run or round or passed off as another node's. The
fields mirror `fedhealth.v1.KeyBundle`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fedhealth.crypto import ed25519_public, ed25519_sign, ed25519_verify, x25519_generate
from fedhealth.errors import KeyVerificationError
from fedhealth.secagg.masking import encode_fields

_SIGNED_LABEL = b"fedhealth/secagg/v1/key-bundle"


@dataclass(frozen=True)
class RoundKeys:
    """A node's private key material for one round (never leaves the node)."""

    encryption_private_key: bytes = field(repr=False)
    encryption_public_key: bytes
    masking_private_key: bytes = field(repr=False)
    masking_public_key: bytes


@dataclass(frozen=True)
class KeyBundle:
    """A node's signed public keys for one round (the `fedhealth.v1.KeyBundle` message)."""

    node_id: str
    encryption_public_key: bytes
    masking_public_key: bytes
    signature: bytes
    identity_public_key: bytes


def signed_message(run_id: str, round_: int, node_id: str, enc_pk: bytes, mask_pk: bytes) -> bytes:
    """The exact bytes a bundle's signature covers (length-prefixed fields)."""
    return _SIGNED_LABEL + encode_fields(run_id, round_, node_id, enc_pk, mask_pk)


def new_round_keys(
    identity_private_key: bytes, run_id: str, round_: int, node_id: str
) -> tuple[RoundKeys, KeyBundle]:
    """Create two fresh X25519 pairs for this round and the signed bundle that publishes them."""
    enc_sk, enc_pk = x25519_generate()
    mask_sk, mask_pk = x25519_generate()
    sig = ed25519_sign(
        identity_private_key, signed_message(run_id, round_, node_id, enc_pk, mask_pk)
    )
    keys = RoundKeys(enc_sk, enc_pk, mask_sk, mask_pk)
    return keys, KeyBundle(node_id, enc_pk, mask_pk, sig, ed25519_public(identity_private_key))


def verify_bundle(
    bundle: KeyBundle, run_id: str, round_: int, identity: bytes | None = None
) -> None:
    """Raise KeyVerificationError naming the node unless its bundle is validly signed.

    `identity` is the node's trusted identity key (from provisioning); when given, the
    bundle's own `identity_public_key` must equal it.
    """
    problems = _bundle_problems(bundle, run_id, round_, identity)
    if problems:
        raise KeyVerificationError("; ".join(problems))


def verify_roster(
    bundles: Sequence[KeyBundle],
    run_id: str,
    round_: int,
    identities: Mapping[str, bytes] | None = None,
) -> dict[str, KeyBundle]:
    """Verify every bundle and return them by node id; raise once listing every bad node."""
    problems: list[str] = []
    by_id: dict[str, KeyBundle] = {}
    seen_keys: dict[bytes, str] = {}
    for b in bundles:
        if b.node_id in by_id:
            problems.append(f"node {b.node_id!r}: published twice")
            continue
        trusted = None if identities is None else identities.get(b.node_id)
        if identities is not None and trusted is None:
            problems.append(f"node {b.node_id!r}: no registered identity key")
            continue
        problems += _bundle_problems(b, run_id, round_, trusted)
        for key in (b.encryption_public_key, b.masking_public_key):
            if key in seen_keys:
                problems.append(f"node {b.node_id!r}: reuses a public key of {seen_keys[key]!r}")
            seen_keys[key] = b.node_id
        by_id[b.node_id] = b
    if problems:
        raise KeyVerificationError("key roster rejected: " + "; ".join(problems))
    return by_id


def _bundle_problems(b: KeyBundle, run_id: str, round_: int, identity: bytes | None) -> list[str]:
    """List what is wrong with one bundle (empty when it verifies)."""
    if identity is not None and identity != b.identity_public_key:
        return [f"node {b.node_id!r}: identity key differs from the registered one"]
    if len(b.encryption_public_key) != 32 or len(b.masking_public_key) != 32:
        return [f"node {b.node_id!r}: public keys must be 32 bytes"]
    if b.encryption_public_key == b.masking_public_key:
        return [f"node {b.node_id!r}: encryption and masking keys must differ"]
    msg = signed_message(run_id, round_, b.node_id, b.encryption_public_key, b.masking_public_key)
    if not ed25519_verify(b.identity_public_key, b.signature, msg):
        return [f"node {b.node_id!r}: bad signature on its round {round_} key bundle"]
    return []
