"""Encrypting a node's Shamir shares to a peer: AES-GCM under an HKDF key from X25519.

Plaintext: the owner's share of b_u (35 bytes) || its share of the masking private key
(35 bytes). Key: HKDF-SHA256(X25519(enc_sk_u, enc_pk_v), info=label || run || round ||
sorted pair). Associated data: label || run id || round || sender id || recipient id, so
a ciphertext cannot be replayed to another round, another pair or the other direction.
"""

from __future__ import annotations

from collections.abc import Mapping

from fedhealth.crypto import aead_decrypt, aead_encrypt, hkdf_sha256, x25519_agree_many
from fedhealth.errors import KeyVerificationError
from fedhealth.secagg.masking import encode_fields
from fedhealth.secagg.shamir import SHARE_BYTES, Share

_KEY_INFO = b"fedhealth/secagg/v1/share-encryption-key"
_AD_LABEL = b"fedhealth/secagg/v1/share-ciphertext"


def pair_keys(
    my_enc_sk: bytes, me: str, peers: Mapping[str, bytes], run_id: str, round_: int
) -> dict[str, bytes]:
    """The AES-256-GCM key shared with each peer (by id, from its encryption public key)."""
    ids = list(peers)
    secrets_ = x25519_agree_many(my_enc_sk, [peers[p] for p in ids])
    out = {}
    for peer, secret in zip(ids, secrets_, strict=True):
        lo, hi = sorted((me, peer))
        out[peer] = hkdf_sha256(secret, info=_KEY_INFO + encode_fields(run_id, round_, lo, hi))
    return out


def _ad(run_id: str, round_: int, sender: str, recipient: str) -> bytes:
    """Associated data binding the ciphertext to its round and direction."""
    return _AD_LABEL + encode_fields(run_id, round_, sender, recipient)


def seal(
    key: bytes,
    run_id: str,
    round_: int,
    sender: str,
    recipient: str,
    b_share: Share,
    sk_share: Share,
) -> bytes:
    """Encrypt the sender's two shares for `recipient` under their pair key (98 bytes)."""
    return aead_encrypt(
        key, b_share.to_bytes() + sk_share.to_bytes(), _ad(run_id, round_, sender, recipient)
    )


def open_(
    key: bytes, run_id: str, round_: int, sender: str, recipient: str, blob: bytes
) -> tuple[Share, Share]:
    """Decrypt the shares `sender` sent to `recipient`; tampering raises KeyVerificationError."""
    try:
        plain = aead_decrypt(key, blob, _ad(run_id, round_, sender, recipient))
    except KeyVerificationError as exc:
        raise KeyVerificationError(f"shares from node {sender!r} failed authentication") from exc
    if len(plain) != 2 * SHARE_BYTES:
        raise KeyVerificationError(f"shares from node {sender!r} have the wrong length")
    return Share.from_bytes(plain[:SHARE_BYTES]), Share.from_bytes(plain[SHARE_BYTES:])
