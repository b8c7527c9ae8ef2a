"""Clip and stochastically round float updates to fixed point in Z_{2^32}, with headroom.

Each value x is clipped to [-clip, clip] and mapped to an integer q in [-L, L] with
L = floor((2^31 - 1) / max_summands), stored as its two's-complement uint32. A sum of
up to `max_summands` such values lies in [-(2^31 - 1), 2^31 - 1], so the mod-2^32 sum
read back as int32 is the exact integer sum: it cannot wrap.

Stochastic rounding (round up with probability equal to the fractional part) is unbiased,
and each value's rounding error is below one step 1/scale, with scale = L / clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedhealth.crypto import keystream_into, random_bytes
from fedhealth.errors import ConfigError, ProtocolError

_INT32_MAX = 2**31 - 1
# Slack for float64 rounding of x*scale (|x*scale| < 2^31, 53-bit mantissa): 2^31 * 2^-52.
_FLOAT_SLACK = 2.0**-21
_BLOCK = 1 << 17


@dataclass(frozen=True)
class Quantizer:
    """Fixed-point code for one round: clip range and the most summands the sum may hold."""

    clip: float
    max_summands: int

    def __post_init__(self) -> None:
        """Refuse a range or summand count that would leave no precision or could wrap."""
        problems = []
        if not (np.isfinite(self.clip) and self.clip > 0):
            problems.append(f"clip must be a finite positive number, got {self.clip!r}")
        if not (isinstance(self.max_summands, int) and 1 <= self.max_summands <= 2**20):
            problems.append(f"max_summands must be an int in [1, 2^20], got {self.max_summands!r}")
        if problems:
            raise ConfigError("; ".join(problems))

    @property
    def levels(self) -> int:
        """L: the largest |q| one summand may take so that max_summands of them cannot wrap."""
        return _INT32_MAX // self.max_summands

    @property
    def scale(self) -> float:
        """Integer steps per unit: q = x * scale before rounding."""
        return self.levels / self.clip

    def error_bound(self, n_summands: int) -> float:
        """Largest |dequantized sum - sum of clipped inputs| for a sum of `n_summands` values.

        Each stochastic rounding moves a value by less than one step (1/scale); float64
        evaluation of x*scale adds at most 2^-21 of a step. Errors add over summands.
        """
        return n_summands * (1.0 + _FLOAT_SLACK) / self.scale

    def quantize(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Clip `x` to [-clip, clip] and stochastically round it to uint32 (two's complement).

        `rng` supplies the rounding coins (tests pass a seeded one to predict the output);
        by default the coins come from a AES-256-CTR keystream under a fresh OS-random key.
        """
        x = np.asarray(x)
        if x.ndim != 1:
            raise ProtocolError(f"quantize expects a flat vector, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ProtocolError("update holds NaN or infinite values; refusing to quantize")
        out = np.empty(x.size, dtype=np.int32)
        coins = _Coins(x.size, rng)
        block = min(_BLOCK, x.size)
        y, low = np.empty(block), np.empty(block)
        for start in range(0, x.size, _BLOCK):  # cache-sized blocks: ~2x faster than whole arrays
            xb = x[start : start + _BLOCK]
            yb, lb = y[: xb.size], low[: xb.size]
            yb[:] = xb  # to float64 first: clipping float32 would round the clip bound to float32
            np.clip(yb, -self.clip, self.clip, out=yb)
            yb *= self.scale
            np.floor(yb, out=lb)
            yb -= lb  # fractional part in [0, 1)
            lb += coins.take(xb.size) < yb  # round up with probability = fractional part
            np.clip(lb, -self.levels, self.levels, out=lb)
            out[start : start + xb.size] = lb
        return out.view(np.uint32)

    def dequantize(self, total: np.ndarray) -> np.ndarray:
        """Map a mod-2^32 sum of quantized vectors back to the float64 sum of the inputs."""
        total = np.asarray(total, dtype=np.uint32)
        return total.view(np.int32).astype(np.float64) / self.scale


class _Coins:
    """Uniform floats in [0, 1), drawn block by block from `rng` or a fresh AES-256-CTR keystream."""

    def __init__(self, n: int, rng: np.random.Generator | None) -> None:
        """Prepare `n` coins; without `rng`, the keystream key comes from the OS CSPRNG."""
        self._rng = rng
        self._pos = 0
        if rng is None:
            self._words = np.empty(n, dtype="<u4")
            keystream_into(random_bytes(32), bytes(16), self._words)
            self._buf = np.empty(min(n, _BLOCK))

    def take(self, k: int) -> np.ndarray:
        """The next k coins."""
        if self._rng is not None:
            return self._rng.random(k)
        out = self._buf[:k]
        np.multiply(self._words[self._pos : self._pos + k], 2.0**-32, out=out)
        self._pos += k
        return out
