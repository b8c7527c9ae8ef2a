"""The node's gRPC side: join, take tasks from the coordinator's stream, push results.

The node only dials out. It answers each task with one unary call; a plaintext model
update goes only through `PlainAggregation.PushUpdate`, which a secure coordinator does
not even serve.
"""

from __future__ import annotations

import time
from typing import Any

import grpc

from fedhealth import __version__, rpc
from fedhealth.errors import ConnectionFailed, FedhealthError, ProtocolError, RunFailed
from fedhealth.v1 import coordinator_pb2 as pb
from fedhealth.v1 import coordinator_pb2_grpc as pb_grpc
from fedhealth.wire import to_tensor_list
from fedhealth_node.settings import NodeSettings
from fedhealth_node.trainer import Trainer, schema_pb


class NodeClient:
    """One hospital's connection to the coordinator, for the length of a run."""

    def __init__(self, settings: NodeSettings, trainer: Trainer, log: Any) -> None:
        self.s = settings
        self.trainer = trainer
        self.log = log.bind(node=settings.node_id)
        self.run_id = ""

    def _header(self, task: pb.Task) -> pb.ResultHeader:
        return pb.ResultHeader(run_id=self.run_id, round=task.round, task_id=task.task_id,
                               node_id=self.s.node_id)

    def run(self) -> int:
        """Join and serve tasks until the coordinator says shut down; return an exit code."""
        channel = rpc.connect(self.s.coordinator, "coordinator", self.s.connect_timeout_s)
        with channel:
            stub = pb_grpc.CoordinatorStub(channel)
            plain = pb_grpc.PlainAggregationStub(channel)
            try:
                reply = stub.Join(pb.JoinRequest(
                    node_id=self.s.node_id, n_train=self.trainer.n_train, n_test=self.trainer.n_test,
                    device=self.trainer.device.type, version=__version__,
                    schema=schema_pb(self.trainer.site.schema)),
                    timeout=self.s.connect_timeout_s)
            except grpc.RpcError as err:
                raise _rpc_error(err, f"coordinator at {self.s.coordinator} refused the join") from None
            self.run_id = reply.run_id
            self.log.info("joined", run=reply.run_id, rounds=reply.rounds, privacy=reply.privacy)
            try:
                for task in stub.Subscribe(pb.SubscribeRequest(run_id=self.run_id,
                                                               node_id=self.s.node_id)):
                    kind = task.WhichOneof("kind")
                    if kind == "shutdown":
                        self.log.info("shutdown", reason=task.shutdown.reason)
                        if task.shutdown.failed:
                            raise RunFailed(f"the coordinator ended the run: {task.shutdown.reason}")
                        return 0
                    self._handle(kind, task, stub, plain)
            except grpc.RpcError as err:
                raise _rpc_error(err, f"lost the coordinator at {self.s.coordinator}") from None
        raise ConnectionFailed(f"the coordinator at {self.s.coordinator} closed the task stream")

    def _handle(self, kind: str | None, task: pb.Task, stub: pb_grpc.CoordinatorStub,
                plain: pb_grpc.PlainAggregationStub) -> None:
        start = time.perf_counter()
        header = self._header(task)
        timeout = max(task.deadline_s, 1.0)
        if kind == "init":
            stub.PushStats(pb.StatsResult(header=header, init_weights=self.trainer.init(task.init)),
                           timeout=timeout)
        elif kind == "preprocess":
            blob, schema = self.trainer.preprocess(task.preprocess)
            stub.PushStats(pb.StatsResult(header=header, preprocess_stats=blob, schema=schema),
                           timeout=timeout)
        elif kind == "stats":
            n, s, sq = self.trainer.stats()
            stub.PushStats(pb.StatsResult(header=header, count=n, sum=s, sum_sq=sq), timeout=timeout)
        elif kind == "fit":
            update, n, stats = self.trainer.fit(task.fit)
            plain.PushUpdate(pb.FitResult(header=header, update=to_tensor_list(update),
                                          num_examples=n, metrics=stats), timeout=timeout)
        elif kind == "evaluate":
            summary = self.trainer.evaluate(task.evaluate.model, task.evaluate.weights,
                                            task.evaluate.standardizer)
            stub.PushEvaluation(pb.EvaluateResult(header=header, summary=summary), timeout=timeout)
        elif kind == "local_baseline":
            summary = self.trainer.local_baseline(task.local_baseline)
            stub.PushEvaluation(pb.EvaluateResult(header=header, summary=summary, baseline=True),
                                timeout=timeout)
        else:
            raise ProtocolError(f"unknown task kind {kind!r} from the coordinator")
        self.log.info("task_done", task=kind, round=task.round,
                      seconds=round(time.perf_counter() - start, 4))


def _rpc_error(err: grpc.RpcError, what: str) -> FedhealthError:
    code = err.code() if hasattr(err, "code") else None
    detail = err.details() if hasattr(err, "details") else str(err)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                grpc.StatusCode.CANCELLED):
        return ConnectionFailed(f"{what}: {detail}")
    return ProtocolError(f"{what}: {detail}")
