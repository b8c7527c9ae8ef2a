"""Masks: expand a 32-byte seed into a uint32 vector with a AES-256-CTR keystream.

The keystream key is HKDF-SHA256(seed, info=label || run id || round || ids), so a mask
is bound to its use, its round and, for pairwise masks, the sorted pair of node ids.
Pairwise sign convention: for the pair (u, v), the node with the smaller id adds the mask
and the other subtracts it, so the two cancel mod 2^32 in the sum.

Masks are added in place into an accumulator through one reused scratch buffer: no
Python loop over elements, no allocation per mask.
"""

from __future__ import annotations

import numpy as np

from fedhealth.crypto import hkdf_sha256, keystream_into

_LABEL_PREFIX = b"fedhealth/secagg/v1/"
SELF_MASK = b"self-mask"
PAIR_MASK = b"pairwise-mask"
_NONCE = bytes(16)  # each key is used for one keystream only, so a fixed nonce is safe


def encode_fields(*fields: bytes | str | int) -> bytes:
    """Unambiguously encode fields: each as a 4-byte big-endian length, then its bytes."""
    out = bytearray()
    for f in fields:
        raw = (
            f.encode("utf-8")
            if isinstance(f, str)
            else f.to_bytes(8, "big")
            if isinstance(f, int)
            else bytes(f)
        )
        out += len(raw).to_bytes(4, "big") + raw
    return bytes(out)


def mask_key(seed: bytes, label: bytes, run_id: str, round_: int, *ids: str) -> bytes:
    """Derive the keystream key of one mask from its seed and what it is bound to."""
    return hkdf_sha256(seed, info=_LABEL_PREFIX + encode_fields(label, run_id, round_, *ids))


def self_mask_key(seed: bytes, run_id: str, round_: int, node_id: str) -> bytes:
    """Keystream key of node `node_id`'s self mask from its seed b_u."""
    return mask_key(seed, SELF_MASK, run_id, round_, node_id)


def pair_mask_key(shared_secret: bytes, run_id: str, round_: int, a: str, b: str) -> bytes:
    """Keystream key of the pairwise mask of nodes a and b from their X25519 secret."""
    lo, hi = sorted((a, b))
    return mask_key(shared_secret, PAIR_MASK, run_id, round_, lo, hi)


def pair_sign(me: str, peer: str) -> int:
    """+1 if `me` adds the pairwise mask it shares with `peer`, -1 if it subtracts it."""
    if me == peer:
        raise ValueError("a node has no pairwise mask with itself")
    return 1 if me < peer else -1


def expand(key: bytes, d: int) -> np.ndarray:
    """Return the mask of length d under `key` as a fresh uint32 vector."""
    out = np.empty(d, dtype="<u4")
    keystream_into(key, _NONCE, out)
    return out


class MaskAccumulator:
    """A uint32 vector to which masks are added or subtracted mod 2^32, in place."""

    def __init__(self, total: np.ndarray) -> None:
        """Work in place on `total` (a contiguous little-endian uint32 vector, not copied)."""
        if total.dtype != np.dtype("<u4") or total.ndim != 1 or not total.flags.c_contiguous:
            raise ValueError("a mask accumulator needs a contiguous 1-D '<u4' vector")
        self.total = total
        self._scratch = np.empty_like(total)

    @classmethod
    def zeros(cls, d: int) -> MaskAccumulator:
        """Start from the zero vector of length d."""
        return cls(np.zeros(d, dtype="<u4"))

    def apply(self, key: bytes, sign: int) -> None:
        """Add (sign=+1) or subtract (sign=-1) the mask under `key`."""
        keystream_into(key, _NONCE, self._scratch)
        if sign > 0:
            np.add(self.total, self._scratch, out=self.total)
        else:
            np.subtract(self.total, self._scratch, out=self.total)
