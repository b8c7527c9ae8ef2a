"""Secure aggregation (Bonawitz et al. 2017) with dropout recovery, and SecAgg+ (Bell et al. 2020).

Pure functions and two state machines, no networking: `SecAggClient` for a hospital node,
`SecAggServer` for the coordinator. Byte formats are fixed-width and documented per module.
"""

from fedhealth.secagg.client import SecAggClient, UnmaskShares
from fedhealth.secagg.config import SecAggConfig
from fedhealth.secagg.keys import KeyBundle, verify_bundle, verify_roster
from fedhealth.secagg.server import Aggregate, SecAggServer, decode_masked, encode_masked
from fedhealth.secagg.stages import STAGES, TRANSITIONS, BelowThreshold, RoundState, Stage

__all__ = [
    "STAGES",
    "TRANSITIONS",
    "Aggregate",
    "BelowThreshold",
    "KeyBundle",
    "RoundState",
    "SecAggClient",
    "SecAggConfig",
    "SecAggServer",
    "Stage",
    "UnmaskShares",
    "decode_masked",
    "encode_masked",
    "verify_bundle",
    "verify_roster",
]
