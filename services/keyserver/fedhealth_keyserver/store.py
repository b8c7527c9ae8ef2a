"""The key store: identities bound on first use, one key bundle per node and round.

It holds public material only. A node id keeps the identity key it first registered
(a different key for the same id is refused), and a bundle, once published for a round,
cannot be replaced: both rules stop a key-substitution attack through this service.
"""

from __future__ import annotations

import threading

from fedhealth.errors import KeyVerificationError, ProtocolError
from fedhealth.v1 import keyserver_pb2 as pb

KEY_BYTES = 32


class KeyStore:
    """Thread-safe in-memory store of identities and per-round bundles."""

    def __init__(self, max_nodes_per_round: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._identities: dict[tuple[str, str], bytes] = {}
        self._bundles: dict[tuple[str, int], dict[str, pb.KeyBundle]] = {}
        self._max = max_nodes_per_round

    def register(self, run_id: str, node_id: str, identity: bytes) -> None:
        if not run_id or not node_id:
            raise ProtocolError("identity registration needs a run id and a node id")
        if len(identity) != KEY_BYTES:
            raise KeyVerificationError(f"node {node_id}: identity key must be {KEY_BYTES} bytes")
        with self._lock:
            known = self._identities.setdefault((run_id, node_id), identity)
        if known != identity:
            raise KeyVerificationError(f"node {node_id} already has a different identity key")

    def publish(self, run_id: str, round_: int, bundle: pb.KeyBundle) -> None:
        node_id = bundle.node_id
        for name in ("encryption_public_key", "masking_public_key"):
            if len(getattr(bundle, name)) != KEY_BYTES:
                raise KeyVerificationError(f"node {node_id}: {name} must be {KEY_BYTES} bytes")
        if not bundle.signature:
            raise KeyVerificationError(f"node {node_id}: key bundle is not signed")
        with self._lock:
            identity = self._identities.get((run_id, node_id))
            if identity is None:
                raise KeyVerificationError(f"node {node_id} has no registered identity in run {run_id}")
            stored = pb.KeyBundle()
            stored.CopyFrom(bundle)
            stored.identity_public_key = identity
            roster = self._bundles.setdefault((run_id, round_), {})
            old = roster.get(node_id)
            if old is not None and old.SerializeToString(deterministic=True) != stored.SerializeToString(deterministic=True):
                raise KeyVerificationError(f"node {node_id} already published other keys for round {round_}")
            if old is None and len(roster) >= self._max:
                raise ProtocolError(f"round {round_} already has {self._max} key bundles")
            roster[node_id] = stored

    def roster(self, run_id: str, round_: int, node_ids: list[str]) -> list[pb.KeyBundle]:
        with self._lock:
            roster = dict(self._bundles.get((run_id, round_), {}))
        wanted = node_ids or sorted(roster)
        missing = [n for n in wanted if n not in roster]
        if missing:
            raise ProtocolError(f"round {round_}: no keys published by {', '.join(missing)}")
        return [roster[n] for n in wanted]
