"""ECG signals as model inputs: lead selection, resampling and per-record normalisation.

Models see float32 `(leads, samples)` arrays, leads in the standard order
I, II, III, aVR, aVL, aVF, V1-V6, each lead z-scored over the record's window.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np

STANDARD_LEADS = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")


def lead_indices(sig_names: Sequence[str], wanted: Sequence[str] = STANDARD_LEADS) -> list[int]:
    """Column of each wanted lead in `sig_names`, case-insensitive; KeyError names any missing."""
    index = {name.strip().lower(): i for i, name in enumerate(sig_names)}
    missing = [lead for lead in wanted if lead not in index]
    if missing:
        raise KeyError(f"lead(s) {', '.join(missing)} not among {', '.join(sig_names)}")
    return [index[lead] for lead in wanted]


def resample(signal: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Resample `(leads, samples)` from `fs_in` to `fs_out` Hz with a polyphase filter."""
    if fs_in == fs_out:
        return signal
    from scipy.signal import resample_poly

    ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
    return resample_poly(signal, ratio.numerator, ratio.denominator, axis=-1)


def normalise(signal: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Z-score each lead over the window; a flat lead becomes zeros. NaN samples become 0."""
    signal = np.nan_to_num(np.asarray(signal, dtype=np.float64))
    centred = signal - signal.mean(axis=-1, keepdims=True)
    std = centred.std(axis=-1, keepdims=True)
    return (centred / np.where(std > eps, std, 1.0)).astype(np.float32)


def windows(signal: np.ndarray, fs: float, window_s: float, count: int) -> list[np.ndarray]:
    """Up to `count` consecutive non-overlapping windows of `window_s` seconds from the start."""
    width = int(round(window_s * fs))
    available = signal.shape[-1] // width
    return [signal[..., k * width:(k + 1) * width] for k in range(min(count, available))]
