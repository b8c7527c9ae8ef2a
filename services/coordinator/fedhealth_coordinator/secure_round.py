"""One FIT round under secure aggregation, as its four named stages.

ADVERTISE_KEYS -> SHARE_KEYS -> COLLECT_MASKED_INPUT -> UNMASK. The coordinator routes
encrypted shares, sums masked vectors mod 2^32 and learns only the weighted mean update
of the survivors. Any stage that leaves fewer than t nodes aborts the round: the global
model is untouched and the next round starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from fedhealth.errors import FedhealthError, ProtocolError
from fedhealth.secagg import graph
from fedhealth.secagg.config import SecAggConfig
from fedhealth.secagg.keys import KeyBundle
from fedhealth.secagg.server import SecAggServer
from fedhealth.secagg.stages import Stage as SecStage
from fedhealth.v1 import coordinator_pb2 as pb
from fedhealth.v1 import keyserver_pb2 as ks_pb
from fedhealth.v1 import keyserver_pb2_grpc as ks_grpc

if TYPE_CHECKING:
    from fedhealth_coordinator.rounds import Federation

STAGES = (SecStage.ADVERTISE_KEYS, SecStage.SHARE_KEYS, SecStage.COLLECT_MASKED_INPUT,
          SecStage.UNMASK)


@dataclass
class SecureOutcome:
    """What a secure round produced: the mean update (None if aborted) and the accounting."""

    mean_update: dict[str, np.ndarray] | None
    survivors: list[str]
    dropped: list[str]
    bytes_up: int = 0
    bytes_down: int = 0
    aborted: str = ""
    error_bound: float = 0.0
    declined: dict[str, str] = field(default_factory=dict)


def flatten(weights: dict[str, np.ndarray]) -> tuple[list[tuple[str, tuple[int, ...]]], int]:
    """The layout of a flattened update: names with shapes, and the total length."""
    layout = [(k, tuple(v.shape)) for k, v in weights.items()]
    return layout, int(sum(int(np.prod(s, dtype=np.int64)) for _, s in layout))


def unflatten(vector: np.ndarray, layout: list[tuple[str, tuple[int, ...]]]) -> dict[str, np.ndarray]:
    out, start = {}, 0
    for name, shape in layout:
        size = int(np.prod(shape, dtype=np.int64))
        out[name] = vector[start:start + size].reshape(shape).astype(np.float32)
        start += size
    return out


def threshold(n: int, fraction: float) -> int:
    """t for n nodes: at least a majority, at least `fraction` of n."""
    return min(n, max(n // 2 + 1, math.ceil(fraction * n)))


class SecureRound:
    """Runs the four stages for one round through the federation's task plumbing."""

    def __init__(self, fed: Federation, keyserver: ks_grpc.KeyServerStub) -> None:
        self.fed = fed
        self.keyserver = keyserver

    def run(self, round_: int, chosen: list[str], fit: pb.FitTask,
            hospital_dp: pb.HospitalDP | None = None) -> SecureOutcome:
        s = self.fed.s
        layout, size = flatten(self.fed.state.weights)
        n = len(chosen)
        degree = s.secagg_degree if 0 < s.secagg_degree < n - 1 else 0
        seed, commitment = graph.new_seed() if degree else (None, None)
        cfg = SecAggConfig(run_id=self.fed.run_id, round=round_, node_ids=tuple(chosen),
                           threshold=threshold(n if not degree else self._holders(n, degree),
                                               s.secagg_threshold),
                           dim=size + 1, clip=s.secagg_clip, degree=degree or None,
                           graph_commitment=commitment)
        server = SecAggServer(cfg, graph_seed=seed)
        out = SecureOutcome(None, [], list(chosen))
        try:
            counts = {n_id: self.fed.node_train_count(n_id) for n_id in chosen}
            total = float(sum(counts.values())) or 1.0
            proto_cfg = pb.SecAggConfig(node_ids=list(cfg.node_ids), threshold=cfg.threshold,
                                        dim=cfg.dim, clip=cfg.clip, degree=degree,
                                        graph_commitment=commitment or b"")
            task_id = self.fed.new_task_id(round_, "advertise_keys")
            tasks = {n_id: self.fed.task_with_id(round_, task_id, advertise_keys=pb.AdvertiseKeysTask(
                config=proto_cfg, fit=fit, weight=counts[n_id] / total, hospital_dp=hospital_dp))
                for n_id in chosen}
            res = self._stage(SecStage.ADVERTISE_KEYS, tasks, out)
            published = sorted(res)
            roster = self.keyserver.GetRoster(ks_pb.GetRosterRequest(
                run_id=self.fed.run_id, round=round_, node_ids=published), timeout=s.round_timeout_s)
            server.collect_keys([bundle_from_proto(b) for b in roster.bundles])

            task = self.fed.new_task(round_, share_keys=pb.ShareKeysTask(
                node_ids=published, graph_seed=seed or b""))
            res = self._stage(SecStage.SHARE_KEYS, {n_id: task for n_id in published}, out)
            for node_id, r in sorted(res.items()):
                server.add_shares(node_id, dict(r.shares))
            inbox = server.route_shares()

            task_id = self.fed.new_task_id(round_, "masked_input")
            tasks = {n_id: self.fed.task_with_id(round_, task_id, masked_input=pb.MaskedInputTask(
                shares=inbox.get(n_id, {}))) for n_id in sorted(res)}
            res = self._stage(SecStage.COLLECT_MASKED_INPUT, tasks, out)
            for node_id, r in sorted(res.items()):
                server.add_masked_input(node_id, r.masked)

            survivors, dropped = server.unmask_request()
            task = self.fed.new_task(round_, unmask=pb.UnmaskTask(survivors=survivors, dropped=dropped))
            res = self._stage(SecStage.UNMASK, {n_id: task for n_id in survivors}, out)
            for node_id, r in sorted(res.items()):
                server.add_unmask_shares(node_id, dict(r.self_mask_shares),
                                         dict(r.masking_key_shares))
            agg = server.finish()
            mean = agg.mean() if hospital_dp is None else _hospital_dp_mean(agg.quantized_sum,
                                                                          hospital_dp,
                                                                          len(agg.survivors))
        except FedhealthError as err:
            out.aborted = str(err)
            self.fed.log.warning("secure_round_aborted", round=round_, reason=str(err))
            return out
        out.mean_update = unflatten(mean, layout)
        out.survivors = sorted(agg.survivors)
        out.dropped = sorted(set(chosen) - set(agg.survivors))
        # The quantizer's bound describes float inputs; hospital-level DP encodes its own.
        out.error_bound = float(agg.error_bound / agg.weight) if hospital_dp is None else float("nan")
        return out

    @staticmethod
    def _holders(n: int, degree: int) -> int:
        return degree + 2 if (degree % 2 == 1 and n % 2 == 1) else degree + 1

    def _stage(self, stage: SecStage, tasks: dict[str, pb.Task], out: SecureOutcome) -> dict[str, object]:
        outcome, down = self.fed.stage_each(stage.value, tasks)
        out.bytes_up += outcome.bytes_up
        out.bytes_down += down
        out.declined.update(outcome.declined)
        return outcome.results


def _hospital_dp_mean(total: np.ndarray, h: pb.HospitalDP, survivors: int) -> np.ndarray:
    """The noisy mean of the survivors' clipped updates, from the unmasked Z_2^32 sum.

    Fails closed: with fewer survivors than the noise shares were sized for, the aggregate
    carries less than the target noise, so the round's result is not used."""
    from fedhealth.privacy.distributed import DistributedDPConfig, decode

    planned = int(h.hospitals) - int(h.max_dropouts)
    if survivors < planned:
        raise ProtocolError(f"{survivors} survivors, fewer than the {planned} the hospital-level "
                            f"noise was sized for: the round's sum is not private enough to use")
    cfg = DistributedDPConfig(clip_norm=h.clip_norm, noise_multiplier=h.noise_multiplier,
                              hospitals=int(h.hospitals), max_dropouts=int(h.max_dropouts),
                              scale=h.scale)
    count = int(total[-1])
    if count != survivors:
        raise ProtocolError(f"hospital count in the sum is {count}, expected {survivors}")
    return decode(np.asarray(total[:-1], dtype=np.uint64), cfg) / count


def bundle_from_proto(b: ks_pb.KeyBundle) -> KeyBundle:
    return KeyBundle(node_id=b.node_id, encryption_public_key=b.encryption_public_key,
                     masking_public_key=b.masking_public_key, signature=b.signature,
                     identity_public_key=b.identity_public_key)
