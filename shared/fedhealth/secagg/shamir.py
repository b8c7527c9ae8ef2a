"""t-of-n Shamir secret sharing of 32-byte secrets over the prime field GF(2^256 + 297).

Big-int arithmetic, one polynomial per secret. Reconstruction uses exactly t shares; the
Lagrange coefficients at 0 depend only on the holders' x-coordinates, so
`reconstruct_batch` computes them once and reuses them for every secret those holders
share (the server reconstructs ~n secrets from the same t survivors).

Wire format of one share: x as 2-byte big-endian, then y as 33-byte big-endian (35 bytes).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from fedhealth.errors import ProtocolError

PRIME = 2**256 + 297  # the smallest prime above 2^256 (checked by a Miller-Rabin test)
SECRET_BYTES = 32
_X_BYTES = 2
_Y_BYTES = 33
SHARE_BYTES = _X_BYTES + _Y_BYTES
MAX_HOLDERS = 2**16 - 1


@dataclass(frozen=True)
class Share:
    """One point (x, y) of a secret's polynomial; x is the holder's 1-based index."""

    x: int
    y: int

    def to_bytes(self) -> bytes:
        """Serialise as 35 bytes: x (2, big-endian) || y (33, big-endian)."""
        return self.x.to_bytes(_X_BYTES, "big") + self.y.to_bytes(_Y_BYTES, "big")

    @classmethod
    def from_bytes(cls, data: bytes) -> Share:
        """Parse 35 bytes written by `to_bytes`, refusing out-of-range coordinates."""
        if len(data) != SHARE_BYTES:
            raise ProtocolError(f"a Shamir share is {SHARE_BYTES} bytes, got {len(data)}")
        x = int.from_bytes(data[:_X_BYTES], "big")
        y = int.from_bytes(data[_X_BYTES:], "big")
        if not (1 <= x <= MAX_HOLDERS) or y >= PRIME:
            raise ProtocolError("Shamir share coordinates out of range")
        return cls(x, y)


def split(secret: bytes, threshold: int, xs: Sequence[int]) -> list[Share]:
    """Split a 32-byte secret so that any `threshold` of the shares at `xs` recover it."""
    if len(secret) != SECRET_BYTES:
        raise ValueError(f"secrets are {SECRET_BYTES} bytes, got {len(secret)}")
    _check_xs(xs)
    if not 1 <= threshold <= len(xs):
        raise ValueError(f"threshold {threshold} must be in [1, {len(xs)}]")
    coeffs = [int.from_bytes(secret, "big")]
    coeffs += [secrets.randbelow(PRIME) for _ in range(threshold - 1)]
    return [Share(x, _eval(coeffs, x)) for x in xs]


def lagrange_at_zero(xs: Sequence[int]) -> list[int]:
    """Return the coefficients l_i with f(0) = sum(l_i * f(x_i)) mod p, for distinct xs."""
    _check_xs(xs)
    out = []
    for i, xi in enumerate(xs):
        num, den = 1, 1
        for j, xj in enumerate(xs):
            if j != i:
                num = num * xj % PRIME
                den = den * (xj - xi) % PRIME
        out.append(num * pow(den, -1, PRIME) % PRIME)
    return out


def reconstruct(shares: Sequence[Share], threshold: int) -> bytes:
    """Recover a secret from its first `threshold` shares; fewer raises ProtocolError."""
    return reconstruct_batch([s.x for s in shares[:threshold]], [[s.y for s in shares]], threshold)[
        0
    ]


def reconstruct_batch(
    xs: Sequence[int], ys: Sequence[Sequence[int]], threshold: int
) -> list[bytes]:
    """Recover many secrets shared with the same holders: ys[k][i] is holder xs[i]'s share of k.

    Uses the first `threshold` holders; the Lagrange coefficients are computed once.
    """
    if len(xs) < threshold:
        raise ProtocolError(f"{len(xs)} shares cannot recover a {threshold}-of-n secret")
    xs = list(xs[:threshold])
    lam = lagrange_at_zero(xs)
    out = []
    for row in ys:
        if len(row) < threshold:
            raise ProtocolError(f"{len(row)} shares cannot recover a {threshold}-of-n secret")
        value = sum(c * y for c, y in zip(lam, row[:threshold], strict=True)) % PRIME
        if value >= 2 ** (8 * SECRET_BYTES):
            raise ProtocolError("Shamir reconstruction gave an out-of-range secret: bad shares")
        out.append(value.to_bytes(SECRET_BYTES, "big"))
    return out


def _eval(coeffs: Sequence[int], x: int) -> int:
    """Evaluate the polynomial with `coeffs` (constant first) at x, by Horner's rule."""
    acc = 0
    for c in reversed(coeffs):
        acc = (acc * x + c) % PRIME
    return acc


def _check_xs(xs: Sequence[int]) -> None:
    """Refuse repeated or out-of-range x-coordinates (x = 0 would reveal the secret)."""
    if len(set(xs)) != len(xs) or any(not 1 <= x <= MAX_HOLDERS for x in xs):
        raise ValueError("share x-coordinates must be distinct integers in [1, 65535]")
