"""SecAgg+ neighbour graph: a random k-regular graph chosen from a committed seed.

The coordinator draws a 32-byte seed and publishes commitment = SHA-256(seed) before keys
are advertised; it reveals the seed at share-keys, and every node checks it against the
commitment, so the coordinator cannot pick the graph after seeing the keys.

Construction (Bell et al. 2020): a Harary graph H(k, n) - each node joined to the k/2
nearest on each side of a ring, plus the opposite node when k is odd - over a random
ordering of the sorted node ids derived from the seed. If k and n are both odd, k-regular
is impossible and the degree is k+1. k >= n-1 gives the complete graph (plain SecAgg).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Sequence

from fedhealth.crypto import hkdf_sha256, random_bytes
from fedhealth.errors import ConfigError, KeyVerificationError

SEED_BYTES = 32


def new_seed() -> tuple[bytes, bytes]:
    """Draw a graph seed from the OS CSPRNG; return (seed, commitment) - publish only the latter."""
    seed = random_bytes(SEED_BYTES)
    return seed, commit(seed)


def commit(seed: bytes) -> bytes:
    """Commitment to a graph seed: SHA-256(seed)."""
    return hashlib.sha256(seed).digest()


def verify_reveal(commitment: bytes, seed: bytes) -> None:
    """Raise KeyVerificationError unless `seed` opens `commitment`."""
    if len(seed) != SEED_BYTES or not hmac.compare_digest(commit(seed), commitment):
        raise KeyVerificationError(
            "the revealed graph seed does not match the coordinator's commitment"
        )


def recommended_degree(n: int) -> int:
    """A degree of order log n (3 * ceil(log2 n), at least 4 and at most n - 1)."""
    return min(n - 1, max(4, 3 * math.ceil(math.log2(max(n, 2)))))


def neighbours(
    node_ids: Sequence[str], degree: int, seed: bytes | None
) -> dict[str, frozenset[str]]:
    """Return each node's neighbour set; complete when degree >= n - 1 (seed then unused)."""
    ids = sorted(node_ids)
    n = len(ids)
    if len(set(ids)) != n:
        raise ConfigError("node ids must be distinct")
    if degree < 1:
        raise ConfigError(f"graph degree must be >= 1, got {degree}")
    if degree >= n - 1:
        return {u: frozenset(v for v in ids if v != u) for u in ids}
    if seed is None or len(seed) != SEED_BYTES:
        raise ConfigError("a SecAgg+ graph needs the 32-byte seed the coordinator committed to")
    order = _shuffle(ids, seed)
    pos = {u: i for i, u in enumerate(order)}
    half = degree // 2
    odd = degree % 2 == 1
    if odd and n % 2 == 1:
        half, odd = half + 1, False  # k-regular impossible: use k + 1
    out: dict[str, set[str]] = {u: set() for u in ids}
    for u in ids:
        i = pos[u]
        offsets = list(range(1, half + 1)) + list(range(-half, 0))
        if odd:
            offsets.append(n // 2)
        for off in offsets:
            v = order[(i + off) % n]
            out[u].add(v)
            out[v].add(u)
    return {u: frozenset(vs) for u, vs in out.items()}


def _shuffle(ids: list[str], seed: bytes) -> list[str]:
    """Fisher-Yates shuffle driven by an HKDF stream of the seed (unbiased by rejection)."""
    stream = hkdf_sha256(seed, info=b"fedhealth/secagg/v1/graph-order", length=8 * 255)
    words = [int.from_bytes(stream[i : i + 8], "big") for i in range(0, len(stream), 8)]
    order = list(ids)
    counter = 0
    for i in range(len(order) - 1, 0, -1):
        bound = (2**64 // (i + 1)) * (i + 1)
        while True:
            if counter == len(words):  # very large n: extend the stream
                more = hkdf_sha256(
                    seed + counter.to_bytes(8, "big"),
                    info=b"fedhealth/secagg/v1/graph-order",
                    length=8 * 255,
                )
                words += [int.from_bytes(more[k : k + 8], "big") for k in range(0, len(more), 8)]
            w = words[counter]
            counter += 1
            if w < bound:
                break
        j = w % (i + 1)
        order[i], order[j] = order[j], order[i]
    return order
