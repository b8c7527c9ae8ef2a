"""The node's gRPC side: join, take tasks from the coordinator's stream, push results.

The node only dials out. It answers each task with one unary call; a plaintext model
update goes only through `PlainAggregation.PushUpdate`, which a secure coordinator does
not even serve.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import grpc

from fedhealth import __version__, rpc
from fedhealth.errors import (
    ConfigError,
    ConnectionFailed,
    FedhealthError,
    PrivacyBudgetExhausted,
    ProtocolError,
    RunFailed,
)
from fedhealth.v1 import coordinator_pb2 as pb
from fedhealth.v1 import coordinator_pb2_grpc as pb_grpc
from fedhealth.wire import to_tensor_list
from fedhealth.v1 import keyserver_pb2_grpc as ks_grpc
from fedhealth_node.settings import NodeSettings
from fedhealth_node.trainer import Trainer, schema_pb

if TYPE_CHECKING:  # the secure session loads the crypto stack only for secagg runs
    from fedhealth_node.secure import SecureSession

SECURE_KINDS = ("advertise_keys", "share_keys", "masked_input", "unmask")


class NodeClient:
    """One hospital's connection to the coordinator, for the length of a run."""

    def __init__(self, settings: NodeSettings, trainer: Trainer, log: Any) -> None:
        self.s = settings
        self.trainer = trainer
        self.log = log.bind(node=settings.node_id)
        self.run_id = ""
        self.secure: SecureSession | None = None
        self._channels: list[grpc.Channel] = []
        self._channel: grpc.Channel | None = None

    def _header(self, task: pb.Task) -> pb.ResultHeader:
        return pb.ResultHeader(run_id=self.run_id, round=task.round, task_id=task.task_id,
                               node_id=self.s.node_id)

    def run(self) -> int:
        """Join and serve tasks until the coordinator says shut down; return an exit code."""
        channel = rpc.connect(self.s.coordinator, "coordinator", self.s.connect_timeout_s)
        self._channel = channel
        try:
            return self._serve(channel)
        finally:
            for extra in self._channels:
                extra.close()
            channel.close()

    def _serve(self, channel: grpc.Channel) -> int:
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
        secure = "secagg" in reply.privacy
        if self.s.require_secure_aggregation and not secure:
            raise ConfigError(f"the coordinator runs privacy {reply.privacy!r}, but this hospital "
                              "requires secure aggregation (require_secure_aggregation)")
        if self.s.require_dp and not {"dp", "hdp"} & set(reply.privacy.split("+")):
            raise ConfigError(f"the coordinator runs privacy {reply.privacy!r}, but this hospital "
                              "requires differential privacy (require_dp)")
        if "dp" in reply.privacy.split("+") and self.trainer.privacy is None:
            raise ConfigError(f"the run trains with DP-SGD ({reply.privacy}): set this hospital's "
                              "privacy ledger, ledger_path (FEDHEALTH_NODE_LEDGER_PATH)")
        if secure:
            self.secure = self._secure_session(reply.run_id)
        try:
            for task in stub.Subscribe(pb.SubscribeRequest(run_id=self.run_id,
                                                           node_id=self.s.node_id)):
                kind = task.WhichOneof("kind")
                if kind == "shutdown":
                    self.log.info("shutdown", reason=task.shutdown.reason)
                    if task.shutdown.failed:
                        raise RunFailed(f"the coordinator ended the run: {task.shutdown.reason}")
                    return 0
                self._handle_safely(kind, task, stub, plain)
        except grpc.RpcError as err:
            raise _rpc_error(err, f"lost the coordinator at {self.s.coordinator}") from None
        raise ConnectionFailed(f"the coordinator at {self.s.coordinator} closed the task stream")

    def _handle_safely(self, kind: str | None, task: pb.Task, stub: pb_grpc.CoordinatorStub,
                       plain: pb_grpc.PlainAggregationStub) -> None:
        """Run one task; a refused or late answer is logged and the node stays in the run."""
        try:
            self._handle(kind, task, stub, plain)
        except FedhealthError as err:
            self.log.error("task_refused", task=kind, round=task.round, error=str(err))
        except grpc.RpcError as err:
            if err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                raise
            self.log.warning("result_not_accepted", task=kind, round=task.round,
                             code=err.code().name, detail=err.details())

    def _secure_session(self, run_id: str) -> SecureSession:
        if not self.s.keyserver:
            raise ConfigError("the run uses secure aggregation: set keyserver "
                              "(FEDHEALTH_NODE_KEYSERVER) to the key server's host:port")
        from fedhealth_node.secure import SecureSession

        channel = rpc.connect(self.s.keyserver, "keyserver", self.s.connect_timeout_s)
        self._channels.append(channel)
        return SecureSession(self.s.node_id, run_id, ks_grpc.KeyServerStub(channel),
                             self.trainer, self.s.connect_timeout_s)

    def _handle_secure(self, kind: str, task: pb.Task, header: pb.ResultHeader,
                       timeout: float) -> None:
        sec = self.secure
        if sec is None:
            raise ProtocolError(f"{kind} task in a run without secure aggregation")
        agg = pb_grpc.SecureAggregationStub(self._channel)
        if kind == "advertise_keys":
            sec.advertise_keys(task)
            agg.PushKeysPublished(pb.KeysPublished(header=header), timeout=timeout)
        elif kind == "share_keys":
            agg.PushShares(pb.EncryptedShares(header=header, shares=sec.share_keys(task)),
                           timeout=timeout)
        elif kind == "masked_input":
            agg.PushMaskedInput(pb.MaskedInput(header=header, masked=sec.masked_input(task)),
                                timeout=timeout)
        else:
            self_shares, key_shares = sec.unmask(task)
            agg.PushUnmaskShares(pb.UnmaskShares(header=header, self_mask_shares=self_shares,
                                                 masking_key_shares=key_shares), timeout=timeout)

    def _handle(self, kind: str | None, task: pb.Task, stub: pb_grpc.CoordinatorStub,
                plain: pb_grpc.PlainAggregationStub) -> None:
        start = time.perf_counter()
        header = self._header(task)
        timeout = max(task.deadline_s, 1.0)
        try:
            self._dispatch(kind, task, header, timeout, stub, plain)
        except PrivacyBudgetExhausted as err:
            stub.Decline(pb.DeclineRequest(header=header, reason=str(err)), timeout=timeout)
            self.log.info("declined", task=kind, round=task.round, reason=str(err))
            return
        self.log.info("task_done", task=kind, round=task.round,
                      seconds=round(time.perf_counter() - start, 4))

    def _dispatch(self, kind: str | None, task: pb.Task, header: pb.ResultHeader, timeout: float,
                  stub: pb_grpc.CoordinatorStub, plain: pb_grpc.PlainAggregationStub) -> None:
        if self.s.require_dp and not trains_privately(kind, task):
            stub.Decline(pb.DeclineRequest(header=header, reason="refuses to train without "
                                           "differential privacy: this hospital requires it"),
                         timeout=timeout)
            self.log.warning("refused_non_private_training", task=kind, round=task.round)
        elif kind in SECURE_KINDS:
            self._handle_secure(kind, task, header, timeout)
        elif kind == "fit" and (self.secure is not None or self.s.require_secure_aggregation):
            stub.Decline(pb.DeclineRequest(header=header, reason="refuses to send a plaintext "
                                           "update: this hospital requires secure aggregation"),
                         timeout=timeout)
        elif kind == "init":
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
            report = self.trainer.privacy.report() if self.trainer.privacy else None
            stub.PushEvaluation(pb.EvaluateResult(header=header, summary=summary, privacy=report),
                                timeout=timeout)
        elif kind == "local_baseline":
            summary = self.trainer.local_baseline(task.local_baseline)
            stub.PushEvaluation(pb.EvaluateResult(header=header, summary=summary, baseline=True),
                                timeout=timeout)
        else:
            raise ProtocolError(f"unknown task kind {kind!r} from the coordinator")


def _rpc_error(err: grpc.RpcError, what: str) -> FedhealthError:
    code = err.code() if hasattr(err, "code") else None
    detail = err.details() if hasattr(err, "details") else str(err)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                grpc.StatusCode.CANCELLED):
        return ConnectionFailed(f"{what}: {detail}")
    return ProtocolError(f"{what}: {detail}")


def trains_privately(kind: str | None, task: pb.Task) -> bool:
    """False for a task that would train on the hospital's records without DP: a fit
    without DP-SGD settings, a secure fit with neither DP-SGD nor hospital-level noise, or
    a local-only baseline (always non-private). Tasks that do not train pass."""
    if kind == "local_baseline":
        return False
    if kind == "fit":
        return task.fit.config.HasField("dp")
    if kind == "advertise_keys":
        t = task.advertise_keys
        return t.fit.config.HasField("dp") or (t.HasField("hospital_dp")
                                               and t.hospital_dp.noise_multiplier > 0)
    return True
