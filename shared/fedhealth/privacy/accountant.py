"""Privacy accounting through Opacus's accountants; no epsilon formula is written here.

A history is a list of `(noise_multiplier, sample_rate, steps)` entries, one per round
of Poisson-sampled Gaussian DP-SGD, exactly Opacus's `accountant.history` format. RDP
(Mironov 2017 with the Balle et al. 2020 conversion, Opacus's default orders) is the
default: conservative and what auditors expect. PRV (Gopi et al. 2021) is tighter;
Opacus reports the upper end of its error interval, so it is still a guarantee.

RDP orders: the integers 2..256. Opacus and dp-accounting compute the sampled-Gaussian
RDP at integer orders identically (to ~1e-13 relative) but differ at fractional orders
(Opacus's default list has 1.1..10.9): there the two libraries' epsilons disagree by up to
~1e-3 relative, Opacus lower. Integer orders make every reported epsilon reproducible by
an independent library to 1e-6 and cost about 0.3-1% more epsilon than Opacus's default
orders in the usual regime (none where the optimal order is an integer anyway).
`independent_rdp_epsilon` is that independent check, with dp-accounting.
PRV has no second implementation; dp-accounting's PLD accountant agrees only to within
PRV's `eps_error` (0.01).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from opacus.accountants import PRVAccountant, RDPAccountant
from opacus.accountants.utils import get_noise_multiplier

from fedhealth.errors import ConfigError

KINDS = ("rdp", "prv")
ORDERS: tuple[int, ...] = tuple(range(2, 257))
Entry = tuple[float, float, int]  # (noise_multiplier, sample_rate, steps)


def _check(history: Iterable[Sequence[float]], delta: float, kind: str) -> list[Entry]:
    problems = []
    if kind not in KINDS:
        problems.append(f"unknown accountant {kind!r}; use one of {KINDS}")
    if not 0 < delta < 1:
        problems.append(f"delta must be in (0, 1), not {delta}")
    out: list[Entry] = []
    for i, entry in enumerate(history):
        sigma, q, steps = float(entry[0]), float(entry[1]), int(entry[2])
        if not (sigma > 0 and math.isfinite(sigma)):
            problems.append(f"entry {i}: noise_multiplier must be > 0, not {sigma}")
        if not 0 < q <= 1:
            problems.append(f"entry {i}: sample_rate must be in (0, 1], not {q}")
        if steps < 0:
            problems.append(f"entry {i}: steps must be >= 0, not {steps}")
        if steps > 0:
            out.append((sigma, q, steps))
    if problems:
        raise ConfigError("privacy accounting: " + "; ".join(problems))
    return out


def epsilon(history: Iterable[Sequence[float]], delta: float, kind: str = "rdp") -> float:
    """Epsilon spent by `history` at `delta` under the `kind` accountant (0 when empty)."""
    merged: dict[tuple[float, float], int] = {}
    for sigma, q, steps in _check(history, delta, kind):
        merged[(sigma, q)] = merged.get((sigma, q), 0) + steps  # exact: same mechanism
    entries = [(sigma, q, steps) for (sigma, q), steps in merged.items()]
    if not entries:
        return 0.0
    if kind == "rdp":
        acc = RDPAccountant()
        acc.history = list(entries)
        return float(acc.get_epsilon(delta=delta, alphas=list(ORDERS)))
    acc = PRVAccountant()
    acc.history = list(entries)
    return float(acc.get_epsilon(delta=delta))


def calibrate_noise(target_epsilon: float, delta: float, sample_rate: float, steps: int,
                    kind: str = "rdp", tolerance: float = 0.01) -> float:
    """Smallest noise multiplier (to `tolerance` in epsilon) whose whole plan costs
    at most `target_epsilon`: `steps` Poisson-sampled steps at `sample_rate`.

    The result spends between `target_epsilon - tolerance` and `target_epsilon`.
    """
    _check([(1.0, sample_rate, steps)], delta, kind)
    if not target_epsilon > 0 or steps < 1:
        raise ConfigError(f"calibration needs target_epsilon > 0 and steps >= 1, "
                          f"not {target_epsilon}, {steps}")
    sigma = float(get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta,
                                       sample_rate=sample_rate, steps=int(steps),
                                       accountant=kind, epsilon_tolerance=tolerance,
                                       **({"alphas": list(ORDERS)} if kind == "rdp" else {})))
    spent = epsilon([(sigma, sample_rate, steps)], delta, kind)
    if spent > target_epsilon:  # fail closed if the library's search ever overshoots
        raise ConfigError(f"noise calibration overshot: {spent} > {target_epsilon}")
    return sigma


def independent_rdp_epsilon(history: Iterable[Sequence[float]], delta: float) -> float:
    """The RDP epsilon of `history` recomputed with dp-accounting over Opacus's orders."""
    from dp_accounting import dp_event
    from dp_accounting.rdp import rdp_privacy_accountant as rdp

    acc = rdp.RdpAccountant(orders=list(ORDERS))
    for sigma, q, steps in _check(history, delta, "rdp"):
        acc.compose(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), steps)
    return float(acc.get_epsilon(delta))
