"""Quantization: bounded error (hypothesis), no wrap at the extremes, fail-closed checks."""

from __future__ import annotations

import numpy as np
import pytest
from fedhealth.errors import ConfigError, ProtocolError
from fedhealth.secagg.quantize import Quantizer
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

floats = st.floats(-1e4, 1e4, allow_nan=False, width=32)


@settings(max_examples=40, deadline=None)
@given(
    clip=st.floats(1e-3, 1e3),
    n=st.integers(1, 2**20),
    data=st.data(),
    seed=st.integers(0, 2**32 - 1),
)
def test_sum_error_is_within_the_stated_bound(
    clip: float, n: int, data: st.DataObject, seed: int
) -> None:
    q = Quantizer(clip, n)
    k = data.draw(st.integers(1, min(n, 12)))
    xs = [data.draw(arrays(np.float32, 8, elements=floats)) for _ in range(k)]
    rng = np.random.default_rng(seed)
    total = np.zeros(8, dtype=np.uint32)
    for x in xs:
        total += q.quantize(x, rng)  # uint32 addition wraps mod 2^32
    exact = sum(np.clip(x.astype(np.float64), -clip, clip) for x in xs)
    assert np.all(np.abs(q.dequantize(total) - exact) <= q.error_bound(k))


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_full_sum_at_the_clip_edge_does_not_wrap(sign: float) -> None:
    n = 37
    q = Quantizer(2.5, n)
    total = np.zeros(4, dtype=np.uint32)
    for _ in range(n):
        total += q.quantize(np.full(4, sign * 1e9, dtype=np.float32))  # clipped to +-2.5
    np.testing.assert_allclose(q.dequantize(total), sign * 2.5 * n, atol=q.error_bound(n))


def test_default_rounding_coins_are_unbiased() -> None:
    q = Quantizer(1.0, 1000)  # one step is ~4.7e-4
    x = np.full(200_000, 0.3 / q.scale, dtype=np.float64)  # 0.3 of a step
    mean_q = q.quantize(x).view(np.int32).mean()
    assert abs(mean_q - 0.3) < 0.01


def test_seeded_rounding_is_reproducible() -> None:
    q = Quantizer(1.0, 10)
    x = np.linspace(-1, 1, 1000, dtype=np.float32)
    a = q.quantize(x, np.random.default_rng(5))
    b = q.quantize(x, np.random.default_rng(5))
    assert a.dtype == np.uint32 and np.array_equal(a, b)


def test_non_finite_input_is_refused() -> None:
    with pytest.raises(ProtocolError):
        Quantizer(1.0, 3).quantize(np.array([0.0, np.nan], dtype=np.float32))


def test_bad_settings_are_refused_together() -> None:
    with pytest.raises(ConfigError, match="clip.*max_summands"):
        Quantizer(float("inf"), 0)
