"""The node's side of secure aggregation: one `SecAggClient` per round, driven by the
coordinator's four stage tasks. The update leaves this module only masked.
"""

from __future__ import annotations

import numpy as np

from fedhealth.crypto import ed25519_generate
from fedhealth.errors import ProtocolError
from fedhealth.secagg.client import SecAggClient
from fedhealth.secagg.config import SecAggConfig
from fedhealth.secagg.keys import KeyBundle
from fedhealth.secagg.server import encode_masked
from fedhealth.v1 import coordinator_pb2 as pb
from fedhealth.v1 import keyserver_pb2 as ks_pb
from fedhealth.v1 import keyserver_pb2_grpc as ks_grpc
from fedhealth_node.trainer import Trainer


class SecureSession:
    """Holds this node's identity key and the state of the current secure round."""

    def __init__(self, node_id: str, run_id: str, keyserver: ks_grpc.KeyServerStub,
                 trainer: Trainer, timeout_s: float) -> None:
        self.node_id, self.run_id = node_id, run_id
        self.keyserver, self.trainer, self.timeout_s = keyserver, trainer, timeout_s
        self._identity_sk, identity_pk = ed25519_generate()
        self.keyserver.RegisterIdentity(ks_pb.RegisterIdentityRequest(
            run_id=run_id, node_id=node_id, identity_public_key=identity_pk), timeout=timeout_s)
        self._round = -1
        self._client: SecAggClient | None = None
        self._vector: np.ndarray | None = None

    def _current(self, task: pb.Task) -> SecAggClient:
        if self._client is None or task.round != self._round:
            raise ProtocolError(f"secure-aggregation task for round {task.round} without its keys")
        return self._client

    def advertise_keys(self, task: pb.Task) -> dict[str, float]:
        """Train (the privacy ledger may refuse first), then create and publish this
        round's signed keys; the update is kept until it is masked."""
        t = task.advertise_keys
        update, _, stats = self.trainer.fit(t.fit)  # the budget is checked first
        c = t.config
        config = SecAggConfig(run_id=self.run_id, round=task.round, node_ids=tuple(c.node_ids),
                              threshold=int(c.threshold), dim=int(c.dim), clip=float(c.clip),
                              degree=int(c.degree) or None,
                              graph_commitment=bytes(c.graph_commitment) or None)
        self._client = SecAggClient(config, self.node_id, self._identity_sk)
        self._round = task.round
        bundle = self._client.advertise_keys()
        self.keyserver.PublishKeys(ks_pb.PublishKeysRequest(
            run_id=self.run_id, round=task.round, bundle=ks_pb.KeyBundle(
                node_id=bundle.node_id, encryption_public_key=bundle.encryption_public_key,
                masking_public_key=bundle.masking_public_key, signature=bundle.signature)),
            timeout=self.timeout_s)
        flat = np.concatenate([v.ravel() for v in update.values()]).astype(np.float64)
        if t.HasField("hospital_dp"):
            self._vector = hospital_dp_vector(flat, t.hospital_dp)
        else:
            weight = float(t.weight)
            if not 0 < weight <= 1:
                raise ProtocolError(f"sample weight {weight} is outside (0, 1]")
            self._vector = np.append(flat * weight, weight).astype(np.float32)
        if self._vector.shape != (config.dim,):
            raise ProtocolError(f"update has {self._vector.size} values, the round expects {config.dim}")
        return stats

    def share_keys(self, task: pb.Task) -> dict[str, bytes]:
        client = self._current(task)
        roster = self.keyserver.GetRoster(ks_pb.GetRosterRequest(
            run_id=self.run_id, round=task.round, node_ids=list(task.share_keys.node_ids)),
            timeout=self.timeout_s)
        bundles = [KeyBundle(node_id=b.node_id, encryption_public_key=b.encryption_public_key,
                             masking_public_key=b.masking_public_key, signature=b.signature,
                             identity_public_key=b.identity_public_key) for b in roster.bundles]
        return client.share_keys(bundles, bytes(task.share_keys.graph_seed) or None)

    def masked_input(self, task: pb.Task) -> bytes:
        client = self._current(task)
        if self._vector is None:
            raise ProtocolError("no trained update to mask")
        masked = client.masked_input(dict(task.masked_input.shares), self._vector,
                                     prequantized=self._vector.dtype == np.uint32)
        self._vector = None
        return encode_masked(masked)

    def unmask(self, task: pb.Task) -> tuple[dict[str, bytes], dict[str, bytes]]:
        client = self._current(task)
        reply = client.unmask(list(task.unmask.survivors), list(task.unmask.dropped))
        self._client = None
        return reply.self_mask_shares, reply.masking_key_shares




def hospital_dp_vector(update: np.ndarray, h: pb.HospitalDP) -> np.ndarray:
    """The update clipped, scaled, rounded and noised in Z_2^32 (this hospital's share of
    the distributed discrete Gaussian), followed by a count of 1 so the coordinator can
    divide the sum by the number of survivors."""
    from fedhealth.privacy.distributed import DistributedDPConfig, privatize

    cfg = DistributedDPConfig(clip_norm=h.clip_norm, noise_multiplier=h.noise_multiplier,
                              hospitals=int(h.hospitals), max_dropouts=int(h.max_dropouts),
                              scale=h.scale)
    noisy = privatize(update, cfg).astype(np.uint32)
    return np.append(noisy, np.uint32(1))
