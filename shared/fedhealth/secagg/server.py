"""The coordinator side of a secure-aggregation round: route, sum, unmask, dequantize.

The server only ever handles public keys, ciphertexts it cannot open, masked uint32
vectors and, at unmask, t shares per secret - there is no method that takes an unmasked
update. Below t nodes at any stage it moves to ABORTED and raises `BelowThreshold`, so the
caller drops the round and leaves the model untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fedhealth.crypto import x25519_agree_many, x25519_public
from fedhealth.errors import FedhealthError, ProtocolError
from fedhealth.secagg import shamir
from fedhealth.secagg.config import SecAggConfig
from fedhealth.secagg.keys import KeyBundle, verify_roster
from fedhealth.secagg.masking import MaskAccumulator, pair_mask_key, pair_sign, self_mask_key
from fedhealth.secagg.shamir import Share
from fedhealth.secagg.stages import RoundState, Stage


@dataclass(frozen=True)
class Aggregate:
    """The round's result: the float sum of the survivors' (weighted) updates and their weights."""

    total: np.ndarray  # float64, length dim - 1: sum of weighted updates
    weight: float  # sum of the appended weights: divide `total` by it for the weighted mean
    survivors: tuple[str, ...]
    error_bound: float  # max |total_i - exact sum of clipped inputs_i| from quantization
    quantized_sum: np.ndarray  # uint32, length dim: the unmasked mod-2^32 sum, for audits and tests

    def mean(self) -> np.ndarray:
        """The weighted mean update, total / weight."""
        if not self.weight > 0:
            raise ProtocolError(f"summed weight is {self.weight}; cannot form a mean")
        return self.total / self.weight


class SecAggServer:
    """The coordinator's state for one round; call the stages in order."""

    def __init__(
        self,
        config: SecAggConfig,
        graph_seed: bytes | None = None,
        identities: Mapping[str, bytes] | None = None,
    ) -> None:
        """`graph_seed`: the SecAgg+ seed committed to in `config`; `identities`: trusted keys."""
        self.config = config
        self.graph = config.neighbours(graph_seed)
        self.graph_seed = graph_seed
        self._identities = identities
        self.state = RoundState(config.run_id, config.round)
        self._roster: dict[str, KeyBundle] = {}
        self._outbox: dict[str, dict[str, bytes]] = {}
        self._sum = np.zeros(config.dim, dtype="<u4")
        self._replies: dict[str, tuple[dict[str, Share], dict[str, Share]]] = {}

    # -- stage 0 -------------------------------------------------------------------------

    def collect_keys(self, bundles: Sequence[KeyBundle]) -> list[KeyBundle]:
        """Verify the published bundles; return the roster to send to every node."""
        self.state.expect(Stage.ADVERTISE_KEYS)
        by_id = verify_roster(bundles, self.config.run_id, self.config.round, self._identities)
        unknown = sorted(set(by_id) - set(self.config.node_ids))
        if unknown:
            raise ProtocolError(f"keys from nodes not invited to this round: {unknown}")
        self._roster = by_id
        self.state.advertised = frozenset(by_id)
        self._need(len(by_id), "nodes advertised keys")
        self.state.advance(Stage.SHARE_KEYS)
        return [by_id[i] for i in sorted(by_id)]

    # -- stage 1 -------------------------------------------------------------------------

    def add_shares(self, sender: str, ciphertexts: Mapping[str, bytes]) -> None:
        """Take one node's encrypted shares (by recipient) for routing."""
        self.state.expect(Stage.SHARE_KEYS)
        if sender not in self.state.advertised or sender in self._outbox:
            raise ProtocolError(f"unexpected shares from node {sender!r}")
        expected = self.graph[sender] & self.state.advertised
        if set(ciphertexts) != expected:
            raise ProtocolError(f"node {sender!r} sent shares to the wrong set of peers")
        self._outbox[sender] = dict(ciphertexts)

    def route_shares(self) -> dict[str, dict[str, bytes]]:
        """Close share-keys: return, for each node that shared, the ciphertexts addressed to it."""
        self.state.expect(Stage.SHARE_KEYS)
        u2 = frozenset(self._outbox)
        self.state.shared = u2
        self._need(len(u2), "nodes shared keys")
        inbox: dict[str, dict[str, bytes]] = {u: {} for u in sorted(u2)}
        for sender, cts in self._outbox.items():
            for recipient, blob in cts.items():
                if recipient in u2:
                    inbox[recipient][sender] = blob
        self._outbox.clear()
        self.state.advance(Stage.COLLECT_MASKED_INPUT)
        return inbox

    # -- stage 2 -------------------------------------------------------------------------

    def add_masked_input(self, node_id: str, masked: np.ndarray | bytes) -> None:
        """Add one node's masked vector (uint32 array or 4*dim little-endian bytes) to the sum."""
        self.state.expect(Stage.COLLECT_MASKED_INPUT)
        if node_id not in self.state.shared or node_id in self.state.masked:
            raise ProtocolError(f"unexpected masked input from node {node_id!r}")
        vec = decode_masked(masked, self.config.dim)
        np.add(self._sum, vec, out=self._sum)
        self.state.masked = self.state.masked | {node_id}

    def unmask_request(self) -> tuple[list[str], list[str]]:
        """Close masked-input collection; return (survivors, dropped) to send to survivors."""
        self.state.expect(Stage.COLLECT_MASKED_INPUT)
        self._need(len(self.state.masked), "nodes sent masked inputs")
        self.state.advance(Stage.UNMASK)
        return sorted(self.state.masked), sorted(self.state.shared - self.state.masked)

    # -- stage 3 -------------------------------------------------------------------------

    def add_unmask_shares(
        self,
        node_id: str,
        self_mask_shares: Mapping[str, bytes],
        masking_key_shares: Mapping[str, bytes],
    ) -> None:
        """Take one survivor's shares: of survivors' seeds and of dropped nodes' masking keys."""
        self.state.expect(Stage.UNMASK)
        if node_id not in self.state.masked or node_id in self._replies:
            raise ProtocolError(f"unexpected unmask shares from node {node_id!r}")
        alive = self.state.masked
        gone = self.state.shared - alive
        if not set(self_mask_shares) <= alive or not set(masking_key_shares) <= gone:
            raise ProtocolError(f"node {node_id!r} sent shares for the wrong nodes")
        x = self.config.index(node_id)
        parsed = (
            {o: Share.from_bytes(s) for o, s in self_mask_shares.items()},
            {o: Share.from_bytes(s) for o, s in masking_key_shares.items()},
        )
        if any(s.x != x for d in parsed for s in d.values()):
            raise ProtocolError(f"node {node_id!r} sent shares with another holder's index")
        self._replies[node_id] = parsed

    def finish(self) -> Aggregate:
        """Reconstruct the secrets, remove the masks, dequantize; return the Aggregate."""
        self.state.expect(Stage.UNMASK)
        self.state.responded = frozenset(self._replies)
        self._need(len(self._replies), "survivors sent unmask shares")
        try:
            return self._unmask()
        except FedhealthError as exc:
            if self.state.stage is not Stage.ABORTED:
                self.state.abort(str(exc))
            raise

    def _unmask(self) -> Aggregate:
        """Remove the survivors' self masks and their pairwise masks with dropped nodes."""
        cfg = self.config
        alive = sorted(self.state.masked)
        gone = sorted(self.state.shared - self.state.masked)
        seeds = self._reconstruct(alive, 0)
        masking_keys = self._reconstruct(gone, 1)
        acc = MaskAccumulator(self._sum)
        for u in alive:
            acc.apply(self_mask_key(seeds[u], cfg.run_id, cfg.round, u), -1)
        for v in gone:
            sk = masking_keys[v]
            if x25519_public(sk) != self._roster[v].masking_public_key:
                raise ProtocolError(
                    f"shares of node {v!r}'s masking key do not match its public key"
                )
            peers = sorted(self.graph[v] & self.state.masked)
            agreed = x25519_agree_many(sk, [self._roster[u].masking_public_key for u in peers])
            for u, secret in zip(peers, agreed, strict=True):
                # u applied pair_sign(u, v) * mask; remove it.
                acc.apply(pair_mask_key(secret, cfg.run_id, cfg.round, u, v), -pair_sign(u, v))
        values = cfg.quantizer.dequantize(acc.total)
        self.state.advance(Stage.DONE)
        bound = cfg.quantizer.error_bound(len(alive))
        return Aggregate(values[:-1], float(values[-1]), tuple(alive), bound, acc.total)

    def abort(self, reason: str) -> None:
        """Abort the round from outside (for instance on a timeout)."""
        self.state.abort(reason)

    def _reconstruct(self, owners: Sequence[str], which: int) -> dict[str, bytes]:
        """Recover secret `which` (0: seed b_u, 1: masking key) of each owner, batched."""
        t = self.config.threshold
        groups: dict[tuple[int, ...], list[tuple[str, list[int]]]] = {}
        for owner in owners:
            held = sorted(
                (s.x, s.y) for r in self._replies.values() if (s := r[which].get(owner)) is not None
            )
            if len(held) < t:
                raise self.state.abort(f"{len(held)} shares of node {owner!r}'s secret, need {t}")
            xs = tuple(x for x, _ in held[:t])
            groups.setdefault(xs, []).append((owner, [y for _, y in held[:t]]))
        out: dict[str, bytes] = {}
        for xs, items in groups.items():
            secrets_ = shamir.reconstruct_batch(xs, [ys for _, ys in items], t)
            out.update({owner: s for (owner, _), s in zip(items, secrets_, strict=True)})
        return out

    def _need(self, count: int, what: str) -> None:
        """Abort the round (raising BelowThreshold) if count < t."""
        if count < self.config.threshold:
            raise self.state.abort(f"only {count} {what}, need {self.config.threshold}")


def encode_masked(masked: np.ndarray) -> bytes:
    """Wire form of a masked vector: little-endian uint32, 4 bytes per value."""
    return np.ascontiguousarray(masked, dtype="<u4").tobytes()


def decode_masked(data: np.ndarray | bytes, dim: int) -> np.ndarray:
    """Parse a masked vector from `encode_masked` bytes or a uint32 array, checking its length."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        if len(data) != 4 * dim:
            raise ProtocolError(f"masked input must be {4 * dim} bytes, got {len(data)}")
        return np.frombuffer(data, dtype="<u4")
    arr = np.asarray(data)
    if arr.dtype != np.uint32 or arr.shape != (dim,):
        raise ProtocolError(
            f"masked input must be uint32 of shape ({dim},), got {arr.dtype} {arr.shape}"
        )
    return arr
