"""An in-process round: drive SecAggClients and a SecAggServer without a network.

For tests, the benchmark and local runs; the coordinator wires the same calls over gRPC.
Nodes in `drop_after_share` share keys and then vanish (the hard case for recovery).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import numpy as np

from fedhealth.crypto import ed25519_generate
from fedhealth.secagg.client import SecAggClient
from fedhealth.secagg.config import SecAggConfig
from fedhealth.secagg.server import Aggregate, SecAggServer


@dataclass
class Timings:
    """Seconds in masked_input per node (and its quantize, mask parts) and in finish(); bytes."""

    masked_input: dict[str, float] = field(default_factory=dict)
    quantize: dict[str, float] = field(default_factory=dict)
    mask: dict[str, float] = field(default_factory=dict)
    share_bytes: dict[str, int] = field(default_factory=dict)
    server_unmask: float = 0.0
    upload_bytes: dict[str, int] = field(default_factory=dict)


def make_clients(
    config: SecAggConfig, rngs: Mapping[str, np.random.Generator] | None = None
) -> tuple[dict[str, SecAggClient], dict[str, bytes]]:
    """One client per node with a fresh identity key; returns (clients, identity public keys)."""
    keys = {node: ed25519_generate() for node in config.node_ids}
    identities = {node: pk for node, (_, pk) in keys.items()}  # as provisioned to every node
    clients = {
        node: SecAggClient(config, node, sk, identities, None if rngs is None else rngs[node])
        for node, (sk, _) in keys.items()
    }
    return clients, identities


def run_round(
    config: SecAggConfig,
    updates: Mapping[str, np.ndarray],
    graph_seed: bytes | None = None,
    drop_after_share: Collection[str] = (),
    rngs: Mapping[str, np.random.Generator] | None = None,
    timings: Timings | None = None,
) -> Aggregate:
    """Run one full round in process and return the server's Aggregate (raises BelowThreshold)."""
    clients, identities = make_clients(config, rngs)
    server = SecAggServer(config, graph_seed=graph_seed, identities=identities)
    roster = server.collect_keys([c.advertise_keys() for c in clients.values()])
    for node, c in clients.items():
        outgoing = c.share_keys(roster, graph_seed)
        if timings is not None:
            timings.share_bytes[node] = sum(len(b) for b in outgoing.values())
        server.add_shares(node, outgoing)
    inbox = server.route_shares()
    for node in inbox:
        if node in drop_after_share:
            continue
        update = updates[node]
        start = time.perf_counter()
        masked = clients[node].masked_input(inbox[node], update)
        if timings is not None:
            timings.masked_input[node] = time.perf_counter() - start
            timings.upload_bytes[node] = masked.nbytes
            timings.quantize[node] = clients[node].timings["quantize_s"]
            timings.mask[node] = clients[node].timings["mask_s"]
        server.add_masked_input(node, masked)
    survivors, dropped = server.unmask_request()
    for node in survivors:
        reply = clients[node].unmask(survivors, dropped)
        server.add_unmask_shares(node, reply.self_mask_shares, reply.masking_key_shares)
    start = time.perf_counter()
    result = server.finish()
    if timings is not None:
        timings.server_unmask = time.perf_counter() - start
    return result
