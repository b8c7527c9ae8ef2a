"""Hospital-level DP on the coordinator: calibrate the distributed discrete Gaussian's
noise multiplier to the run's target, build each round's task, account for the rounds
whose noisy sum was used (fedhealth.privacy.distributed does the mathematics)."""

from __future__ import annotations

from typing import Any

from fedhealth.errors import ConfigError
from fedhealth.privacy import distributed
from fedhealth.v1 import coordinator_pb2 as pb
from fedhealth_coordinator.settings import CoordinatorSettings

SCALE = 2.0 ** 10  # integer steps per unit of the clipped update


def _config(s: CoordinatorSettings, noise: float, hospitals: int) -> distributed.DistributedDPConfig:
    n = max(2, hospitals)
    return distributed.DistributedDPConfig(s.hospital_clip, noise, n,
                                           min(s.max_dropouts, n - 1), SCALE)


def calibrate(s: CoordinatorSettings, dim: int) -> float:
    """The smallest noise multiplier (to 0.1%) whose planned rounds stay within epsilon."""
    def eps(z: float) -> float:
        return distributed.epsilon(_config(s, z, s.hospitals), dim, s.rounds, s.delta)

    lo, hi = 1e-3, 1e3
    if eps(hi) > s.epsilon:
        raise ConfigError(f"hospital-level DP cannot reach epsilon {s.epsilon} in {s.rounds} rounds")
    while hi / lo > 1.001:
        mid = (lo * hi) ** 0.5
        lo, hi = (lo, mid) if eps(mid) <= s.epsilon else (mid, hi)
    return hi


def task(s: CoordinatorSettings, noise: float, hospitals: int) -> pb.HospitalDP:
    """What each hospital of a round needs to privatize its update."""
    cfg = _config(s, noise, hospitals)
    return pb.HospitalDP(clip_norm=cfg.clip_norm, noise_multiplier=noise, hospitals=cfg.hospitals,
                         max_dropouts=cfg.max_dropouts, scale=cfg.scale)


def report(s: CoordinatorSettings, noise: float, dim: int, rounds: int) -> dict[str, Any]:
    """The results.json privacy block of hospital-level DP after `rounds` used rounds."""
    cfg = _config(s, noise, s.hospitals)
    return {
        "epsilon": distributed.epsilon(cfg, dim, rounds, s.delta) if rounds else 0.0,
        "delta": s.delta, "budget_epsilon": s.epsilon, "noise_multiplier": noise,
        "clip_norm": s.hospital_clip, "max_dropouts": cfg.max_dropouts, "rounds": rounds,
        "accountant": "distributed discrete Gaussian zCDP (Kairouz et al. 2021), "
                      "composed with dp-accounting's RDP accountant",
    }
