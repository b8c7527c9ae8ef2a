"""Masks: pairwise masks cancel mod 2^32, masks are bound to their labels, keystream-exact."""

from __future__ import annotations

import itertools

import numpy as np
from fedhealth.crypto import keystream, x25519_agree, x25519_generate
from fedhealth.secagg.masking import (
    MaskAccumulator,
    expand,
    pair_mask_key,
    pair_sign,
    self_mask_key,
)
from hypothesis import given, settings
from hypothesis import strategies as st

node_ids = st.lists(
    st.text("abcdefgh0123456789", min_size=1, max_size=6), min_size=2, max_size=7, unique=True
)


@settings(max_examples=25, deadline=None)
@given(ids=node_ids, d=st.integers(1, 300), round_=st.integers(0, 2**32 - 1))
def test_pairwise_masks_cancel_mod_2_32(ids: list[str], d: int, round_: int) -> None:
    keys = {u: x25519_generate() for u in ids}
    total = MaskAccumulator.zeros(d)
    for u, v in itertools.permutations(ids, 2):
        secret = x25519_agree(keys[u][0], keys[v][1])
        total.apply(pair_mask_key(secret, "run", round_, u, v), pair_sign(u, v))
    assert not total.total.any()


def test_mask_is_the_keystream_as_little_endian_uint32() -> None:
    key = b"\x07" * 32
    assert expand(key, 1000).tobytes() == keystream(key, bytes(16), 4000)
    assert expand(key, 1000).dtype == np.dtype("<u4")


def test_masks_are_bound_to_run_round_and_ids() -> None:
    seed = b"\x01" * 32
    base = self_mask_key(seed, "run", 1, "a")
    assert (
        len(
            {
                base,
                self_mask_key(seed, "run", 2, "a"),
                self_mask_key(seed, "run2", 1, "a"),
                self_mask_key(seed, "run", 1, "b"),
                pair_mask_key(seed, "run", 1, "a", "b"),
            }
        )
        == 5
    )
    assert pair_mask_key(seed, "run", 1, "a", "b") == pair_mask_key(seed, "run", 1, "b", "a")
    # length-prefixed fields: ("ab", "c") and ("a", "bc") must not collide
    assert pair_mask_key(seed, "r", 1, "ab", "c") != pair_mask_key(seed, "r", 1, "a", "bc")
