"""The node side of a secure-aggregation round, as a small state machine.

advertise_keys -> share_keys -> masked_input -> unmask. The node never sends its update
in the clear: `masked_input` returns the quantized update plus its self mask and its
pairwise masks with the neighbours that shared keys. In `unmask` it reveals, per peer,
either the share of the self-mask seed (peer survived) or the share of the masking key
(peer dropped) - never both, which would let the server unmask that peer's input.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fedhealth.crypto import random_bytes, x25519_agree_many
from fedhealth.errors import ProtocolError
from fedhealth.secagg import shamir, shares
from fedhealth.secagg.config import SecAggConfig
from fedhealth.secagg.keys import KeyBundle, RoundKeys, new_round_keys, verify_roster
from fedhealth.secagg.masking import MaskAccumulator, pair_mask_key, pair_sign, self_mask_key
from fedhealth.secagg.shamir import Share
from fedhealth.secagg.stages import RoundState, Stage


@dataclass(frozen=True)
class UnmaskShares:
    """A node's answer to the unmask request: 35-byte shares keyed by the secret's owner."""

    self_mask_shares: dict[str, bytes]  # owner (a survivor) -> share of its seed b_u
    masking_key_shares: dict[str, bytes]  # owner (a dropped node) -> share of its masking key


class SecAggClient:
    """One node's view of one round; each method is one stage and may be called once."""

    def __init__(
        self,
        config: SecAggConfig,
        node_id: str,
        identity_private_key: bytes,
        identities: Mapping[str, bytes] | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        """`identities`: trusted identity keys (else the bundles' own); `rng`: rounding coins."""
        self.config = config
        self.node_id = node_id
        self._x = config.index(node_id)
        self._identity = identity_private_key
        self._identities = identities
        self._rng = rng
        self.state = RoundState(config.run_id, config.round)
        self._keys: RoundKeys | None = None
        self._roster: dict[str, KeyBundle] = {}
        self._neighbours: frozenset[str] = frozenset()
        self._seed: bytes = b""
        self._held: dict[str, tuple[Share, Share]] = {}  # owner -> (b share, masking-key share)
        self._pair_keys: dict[str, bytes] = {}  # peer -> AES-GCM key for shares
        self.timings: dict[str, float] = {}  # seconds spent quantizing and masking, for metrics

    def advertise_keys(self) -> KeyBundle:
        """Stage 0: create this round's two X25519 pairs; return the signed bundle to publish."""
        self.state.expect(Stage.ADVERTISE_KEYS)
        self._keys, bundle = new_round_keys(
            self._identity, self.config.run_id, self.config.round, self.node_id
        )
        self.state.advance(Stage.SHARE_KEYS)
        return bundle

    def share_keys(
        self, roster: Sequence[KeyBundle], graph_seed: bytes | None = None
    ) -> dict[str, bytes]:
        """Stage 1: verify the roster, draw b_u, and return encrypted shares by recipient id."""
        self.state.expect(Stage.SHARE_KEYS)
        keys = self._require_keys()
        cfg = self.config
        by_id = verify_roster(roster, cfg.run_id, cfg.round, self._identities)
        unknown = sorted(set(by_id) - set(cfg.node_ids))
        if unknown:
            raise ProtocolError(f"roster holds nodes not invited to this round: {unknown}")
        mine = by_id.get(self.node_id)
        if mine is None or mine.masking_public_key != keys.masking_public_key:
            raise ProtocolError(f"node {self.node_id!r}: the roster lacks this node's own keys")
        self._roster = by_id
        self._neighbours = cfg.neighbours(graph_seed)[self.node_id] & by_id.keys()
        holders = sorted(self._neighbours | {self.node_id})
        if len(holders) < cfg.threshold:
            raise self.state.abort(
                f"{len(holders)} share holders for node {self.node_id!r}, need {cfg.threshold}"
            )
        self._seed = random_bytes(shamir.SECRET_BYTES)
        xs = [cfg.index(h) for h in holders]
        b_shares = shamir.split(self._seed, cfg.threshold, xs)
        sk_shares = shamir.split(keys.masking_private_key, cfg.threshold, xs)
        self._pair_keys = shares.pair_keys(
            keys.encryption_private_key,
            self.node_id,
            {v: by_id[v].encryption_public_key for v in sorted(self._neighbours)},
            cfg.run_id,
            cfg.round,
        )
        out: dict[str, bytes] = {}
        for holder, bs, ks in zip(holders, b_shares, sk_shares, strict=True):
            if holder == self.node_id:
                self._held[holder] = (bs, ks)
                continue
            out[holder] = shares.seal(
                self._pair_keys[holder], cfg.run_id, cfg.round, self.node_id, holder, bs, ks
            )
        self.state.advertised = frozenset(by_id)
        self.state.advance(Stage.COLLECT_MASKED_INPUT)
        return out

    def masked_input(self, received: Mapping[str, bytes], update: np.ndarray, *,
                     prequantized: bool = False) -> np.ndarray:
        """Stage 2: store peers' shares; return the masked, quantized update as uint32 (4 B/value).

        `received`: ciphertexts addressed to this node, by sender. `update`: float32 vector of
        length `dim` - the weighted update with the sample weight as its last element; or,
        with `prequantized`, a uint32 vector already in Z_2^32 (hospital-level DP encodes
        and noises its update itself, so the noise survives quantization).
        """
        self.state.expect(Stage.COLLECT_MASKED_INPUT)
        keys = self._require_keys()
        cfg = self.config
        update = np.asarray(update)
        if prequantized and update.dtype != np.uint32:
            raise ProtocolError(f"a prequantized update must be uint32, not {update.dtype}")
        if update.shape != (cfg.dim,):
            raise ProtocolError(f"update must have shape ({cfg.dim},), got {update.shape}")
        strangers = sorted(set(received) - self._neighbours)
        if strangers:
            raise ProtocolError(f"node {self.node_id!r} got shares from non-neighbours {strangers}")
        for sender, blob in received.items():
            b_share, k_share = shares.open_(
                self._pair_keys[sender], cfg.run_id, cfg.round, sender, self.node_id, blob
            )
            if b_share.x != self._x or k_share.x != self._x:
                raise ProtocolError(f"shares from node {sender!r} carry another holder's index")
            self._held[sender] = (b_share, k_share)
        peers = sorted(received)
        if len(peers) + 1 < cfg.threshold:
            raise self.state.abort(
                f"only {len(peers) + 1} of node {self.node_id!r}'s holders shared keys"
            )
        start = time.perf_counter()
        acc = MaskAccumulator(update.copy() if prequantized
                              else cfg.quantizer.quantize(update, self._rng))
        quantized = time.perf_counter()
        acc.apply(self_mask_key(self._seed, cfg.run_id, cfg.round, self.node_id), +1)
        agreed = x25519_agree_many(
            keys.masking_private_key, [self._roster[p].masking_public_key for p in peers]
        )
        for peer, secret in zip(peers, agreed, strict=True):
            acc.apply(
                pair_mask_key(secret, cfg.run_id, cfg.round, self.node_id, peer),
                pair_sign(self.node_id, peer),
            )
        self.timings = {"quantize_s": quantized - start, "mask_s": time.perf_counter() - quantized}
        self.state.shared = frozenset(peers) | {self.node_id}
        self.state.advance(Stage.UNMASK)
        return acc.total

    def unmask(self, survivors: Iterable[str], dropped: Iterable[str]) -> UnmaskShares:
        """Stage 3: reveal b-shares of survivors and masking-key shares of dropped nodes.

        Refuses (ProtocolError) if the lists overlap, if this node is not a survivor, if a
        peer it masked with is in neither list, or if there are fewer than t survivors.
        """
        self.state.expect(Stage.UNMASK)
        alive, gone = frozenset(survivors), frozenset(dropped)
        problems = []
        both = sorted(alive & gone)
        if both:
            problems.append(f"asked for both secrets of {both}")
        if self.node_id not in alive:
            problems.append("this node is not listed as a survivor")
        unlisted = sorted(self.state.shared - alive - gone)
        if unlisted:
            problems.append(f"peers {unlisted} are neither survivors nor dropped")
        if len(alive) < self.config.threshold:
            problems.append(
                f"{len(alive)} survivors is below the threshold {self.config.threshold}"
            )
        if problems:
            self.state.advance(Stage.ABORTED)
            raise ProtocolError(f"node {self.node_id!r} refuses to unmask: " + "; ".join(problems))
        reply = UnmaskShares(
            self_mask_shares={o: s[0].to_bytes() for o, s in self._held.items() if o in alive},
            masking_key_shares={o: s[1].to_bytes() for o, s in self._held.items() if o in gone},
        )
        self.state.advance(Stage.DONE)
        self._held.clear()  # drop every secret this round no longer needs
        self._pair_keys.clear()
        self._seed = b""
        return reply

    def _require_keys(self) -> RoundKeys:
        """This round's private keys (created by advertise_keys)."""
        if self._keys is None:
            raise ProtocolError("keys not advertised yet")
        return self._keys
