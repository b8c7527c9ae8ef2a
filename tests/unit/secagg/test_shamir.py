"""Shamir: the field is prime, any t shares reconstruct, t-1 do not, batch equals single."""

from __future__ import annotations

import random

import pytest
from fedhealth.errors import ProtocolError
from fedhealth.secagg import shamir
from fedhealth.secagg.shamir import PRIME, Share
from hypothesis import given, settings
from hypothesis import strategies as st

secrets32 = st.binary(min_size=32, max_size=32)


def _probably_prime(n: int, rounds: int = 40) -> bool:
    """Miller-Rabin with fixed pseudo-random bases (error < 4^-40)."""
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    rnd = random.Random(0)
    for _ in range(rounds):
        x = pow(rnd.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def test_field_is_prime_and_holds_any_32_byte_secret() -> None:
    assert PRIME > 2**256 and _probably_prime(PRIME)
    assert not _probably_prime(PRIME + 2)


@settings(max_examples=40, deadline=None)
@given(secret=secrets32, n=st.integers(2, 30), data=st.data())
def test_any_t_shares_reconstruct_and_t_minus_1_do_not(
    secret: bytes, n: int, data: st.DataObject
) -> None:
    t = data.draw(st.integers(2, n))
    xs = data.draw(st.lists(st.integers(1, 65535), min_size=n, max_size=n, unique=True))
    shares = shamir.split(secret, t, xs)
    chosen = data.draw(st.permutations(shares))[:t]
    assert shamir.reconstruct(chosen, t) == secret
    # t-1 shares interpolate a different polynomial: the value at 0 is not the secret.
    fewer = chosen[: t - 1]
    lam = shamir.lagrange_at_zero([s.x for s in fewer])
    guess = sum(c * s.y for c, s in zip(lam, fewer, strict=True)) % PRIME
    assert guess != int.from_bytes(secret, "big")
    with pytest.raises(ProtocolError):
        shamir.reconstruct(fewer, t)


def test_batch_reconstruction_reuses_one_set_of_coefficients() -> None:
    xs = list(range(1, 101))
    t = 51
    secrets_ = [bytes([i]) * 32 for i in range(100)]
    all_shares = [shamir.split(s, t, xs) for s in secrets_]
    holders = xs[40:91]
    ys = [[sh[x - 1].y for x in holders] for sh in all_shares]
    assert shamir.reconstruct_batch(holders, ys, t) == secrets_


def test_share_bytes_roundtrip_and_validation() -> None:
    s = shamir.split(b"\xff" * 32, 3, [1, 2, 65535])[2]
    raw = s.to_bytes()
    assert len(raw) == shamir.SHARE_BYTES == 35 and Share.from_bytes(raw) == s
    with pytest.raises(ProtocolError):
        Share.from_bytes(raw[:-1])
    with pytest.raises(ProtocolError):
        Share.from_bytes(bytes(2) + raw[2:])  # x = 0 would be the secret itself
    with pytest.raises(ValueError):
        shamir.split(b"x" * 32, 2, [1, 1, 2])
