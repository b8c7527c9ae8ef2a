"""Thin gRPC servicers: protobuf in, calls into the registry and collector, protobuf out."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from typing import Any

import grpc

from fedhealth import logs
from fedhealth.errors import ProtocolError
from fedhealth.rpc import map_errors
from fedhealth.v1 import coordinator_pb2 as pb
from fedhealth.v1 import coordinator_pb2_grpc as pb_grpc
from fedhealth_coordinator.collect import Collector
from fedhealth_coordinator.nodes import Registry

_POLL_S = 1.0


def deliver(collector: Collector, run_id: str, kind: str, request: Any) -> pb.Ack:
    """Hand a result (any message with a `header`) to the open stage's collector."""
    h = request.header
    if h.run_id != run_id:
        raise ProtocolError(f"{kind} result for run {h.run_id!r}; this coordinator runs {run_id!r}")
    collector.deliver(h.task_id, kind, h.node_id, request, request.ByteSize())
    return pb.Ack()


class CoordinatorServicer(pb_grpc.CoordinatorServicer):
    """Join, the task stream, and the result RPCs that never carry a model update."""

    def __init__(self, run_id: str, rounds: int, privacy: str, registry: Registry,
                 collector: Collector) -> None:
        self.run_id, self.rounds, self.privacy = run_id, rounds, privacy
        self.registry, self.collector = registry, collector
        self.log = logs.get("servicer").bind(run=run_id)

    def _check_run(self, run_id: str) -> None:
        if run_id != self.run_id:
            raise ProtocolError(f"message for run {run_id!r}; this coordinator runs {self.run_id!r}")

    @map_errors
    def Join(self, request: pb.JoinRequest, context: grpc.ServicerContext) -> pb.JoinReply:
        self.registry.join(request)
        self.log.info("node_joined", node=request.node_id, n_train=request.n_train,
                      n_test=request.n_test, device=request.device, version=request.version)
        return pb.JoinReply(run_id=self.run_id, rounds=self.rounds, privacy=self.privacy)

    def Subscribe(self, request: pb.SubscribeRequest,
                  context: grpc.ServicerContext) -> Iterator[pb.Task]:
        try:
            self._check_run(request.run_id)
            node = self.registry.get(request.node_id)
        except ProtocolError as err:
            context.abort(err.status, str(err))
        node_id = request.node_id

        def gone() -> None:
            self.registry.set_connected(node_id, False)
            self.collector.drop(node_id)
            self.log.info("node_disconnected", node=node_id)

        context.add_callback(gone)
        self.registry.set_connected(node_id, True)
        while context.is_active():
            try:
                task = node.tasks.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if task is None:
                return
            yield task
            if task.WhichOneof("kind") == "shutdown":
                return

    @map_errors
    def PushStats(self, request: pb.StatsResult, context: grpc.ServicerContext) -> pb.Ack:
        if request.HasField("schema"):
            kind = "preprocess"
        else:
            kind = "init" if len(request.init_weights.tensors) else "stats"
        return deliver(self.collector, self.run_id, kind, request)

    @map_errors
    def PushEvaluation(self, request: pb.EvaluateResult, context: grpc.ServicerContext) -> pb.Ack:
        kind = "local_baseline" if request.baseline else "evaluate"
        return deliver(self.collector, self.run_id, kind, request)

    @map_errors
    def Decline(self, request: pb.DeclineRequest, context: grpc.ServicerContext) -> pb.Ack:
        self._check_run(request.header.run_id)
        self.collector.decline(request.header.task_id, request.header.node_id, request.reason)
        self.log.info("node_declined", node=request.header.node_id, round=request.header.round,
                      reason=request.reason)
        return pb.Ack()


class PlainAggregationServicer(pb_grpc.PlainAggregationServicer):
    """Plaintext updates; registered only when the run has no secure aggregation."""

    def __init__(self, run_id: str, collector: Collector) -> None:
        self.run_id, self.collector = run_id, collector

    @map_errors
    def PushUpdate(self, request: pb.FitResult, context: grpc.ServicerContext) -> pb.Ack:
        return deliver(self.collector, self.run_id, "fit", request)


class SecureAggregationServicer(pb_grpc.SecureAggregationServicer):
    """Keys-published acks, encrypted shares, masked inputs and unmask shares."""

    def __init__(self, run_id: str, collector: Collector) -> None:
        self.run_id, self.collector = run_id, collector

    @map_errors
    def PushKeysPublished(self, request: pb.KeysPublished, context: grpc.ServicerContext) -> pb.Ack:
        return deliver(self.collector, self.run_id, "advertise_keys", request)

    @map_errors
    def PushShares(self, request: pb.EncryptedShares, context: grpc.ServicerContext) -> pb.Ack:
        return deliver(self.collector, self.run_id, "share_keys", request)

    @map_errors
    def PushMaskedInput(self, request: pb.MaskedInput, context: grpc.ServicerContext) -> pb.Ack:
        return deliver(self.collector, self.run_id, "collect_masked_input", request)

    @map_errors
    def PushUnmaskShares(self, request: pb.UnmaskShares, context: grpc.ServicerContext) -> pb.Ack:
        return deliver(self.collector, self.run_id, "unmask", request)
