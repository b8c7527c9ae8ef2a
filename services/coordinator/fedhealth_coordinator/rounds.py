"""The federation, as an ordered sequence of named stages.

JOIN -> STATS -> INIT -> (FIT -> EVALUATE -> CHECKPOINT) x rounds -> LOCAL_BASELINES
-> SHUTDOWN. Each stage sends one task to a set of nodes and waits for their results
with a deadline; a node that disconnects or misses the deadline is listed as dropped
for that round and the federation goes on while enough hospitals remain.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from fedhealth import atomic, logs, metrics
from fedhealth.data.base import Schema
from fedhealth.data.tabular import standardizer
from fedhealth.errors import ConfigError, ProtocolError, RunFailed
from fedhealth.models.registry import ModelSpec, n_outputs, spec_for
from fedhealth.strategy import Strategy, weighted_mean
from fedhealth.v1 import coordinator_pb2 as pb
from fedhealth.wire import from_tensor_list, to_tensor_list
from fedhealth_coordinator import checkpoint, hospital_dp
from fedhealth_coordinator.collect import Collector, Outcome
from fedhealth_coordinator.evaluation import (
    auroc_or_none,
    privacy_from_proto,
    schema_from_proto,
    summary_from_proto,
)
from fedhealth_coordinator.nodes import Registry
from fedhealth_coordinator.settings import CoordinatorSettings
from fedhealth_coordinator.checks import accept_stats, accept_update


class Stage(str, Enum):
    """Stages of a federation run."""

    JOIN = "join"
    PREPROCESS = "preprocess"
    STATS = "stats"
    INIT = "init"
    FIT = "fit"
    EVALUATE = "evaluate"
    LOCAL_BASELINE = "local_baseline"
    SHUTDOWN = "shutdown"

@dataclass
class RunState:
    """What the federation knows between stages."""

    schema: Schema | None = None
    spec: ModelSpec | None = None
    standardizer: pb.Standardizer = field(default_factory=pb.Standardizer)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    initial: dict[str, np.ndarray] = field(default_factory=dict)
    round: int = 0

class Federation:
    """Runs the configured rounds over the nodes in `registry`."""

    def __init__(self, settings: CoordinatorSettings, registry: Registry,
                 collector: Collector, run_id: str) -> None:
        self.s = settings
        self.registry = registry
        self.collector = collector
        self.run_id = run_id
        self.state = RunState()
        self.strategy = Strategy(settings.strategy, settings.server_lr)
        self.rng = np.random.default_rng(settings.seed)
        self.log = logs.get("federation").bind(run=run_id)
        self.secure: Any = None
        self.exhausted: set[str] = set()
        self.hdp_noise = 0.0  # hospital-level DP noise multiplier, calibrated before round 1
        self.hdp_rounds = 0
        self.on_privacy: Any = None  # callback(node, spent, budget), e.g. Prometheus gauges
        self.on_round: Any = None  # callback(row, connected hospitals)
        if "secagg" in settings.privacy:
            from fedhealth.rpc import connect
            from fedhealth.v1 import keyserver_pb2_grpc
            from fedhealth_coordinator.secure_round import SecureRound

            channel = connect(settings.keyserver, "keyserver", settings.join_timeout_s)
            self.secure = SecureRound(self, keyserver_pb2_grpc.KeyServerStub(channel))
        self.results: dict[str, Any] = {
            "run_id": run_id,
            "config": json.loads(settings.model_dump_json()),
            "rounds": [], "final": {}, "per_hospital": {},
            "baselines": {"pooled": None, "local_only": {}}, "privacy": {},
        }

    # -- stage plumbing -------------------------------------------------------------
    def new_task_id(self, round_: int, name: str) -> str:
        return f"r{round_}-{name}-{uuid.uuid4().hex[:8]}"

    def task_with_id(self, round_: int, task_id: str, **kind: Any) -> pb.Task:
        return pb.Task(run_id=self.run_id, round=round_, deadline_s=self.s.round_timeout_s,
                       task_id=task_id, **kind)

    def new_task(self, round_: int, **kind: Any) -> pb.Task:
        return self.task_with_id(round_, self.new_task_id(round_, next(iter(kind))), **kind)

    _task = new_task

    def stage_each(self, kind: str, tasks: dict[str, pb.Task]) -> tuple[Outcome, int]:
        """Send each node its own task (one task id) and collect the `kind` results."""
        task_ids = {t.task_id for t in tasks.values()}
        if len(task_ids) > 1:
            raise ProtocolError("one stage, one task id")
        if not tasks:
            return Outcome(), 0
        self.collector.open(task_ids.pop(), kind, sorted(tasks))
        down = sum(self.registry.send([n], t) for n, t in tasks.items())
        outcome = self.collector.wait(self.s.round_timeout_s)
        if outcome.missing:
            self.log.warning("nodes_missing", stage=kind, round=next(iter(tasks.values())).round,
                             nodes=outcome.missing)
        return outcome, down

    def node_train_count(self, node_id: str) -> int:
        return self.registry.get(node_id).n_train

    def _stage(self, stage: Stage, node_ids: list[str], task: pb.Task) -> tuple[Outcome, int]:
        self.collector.open(task.task_id, stage.value, node_ids)
        bytes_down = self.registry.send(node_ids, task)
        outcome = self.collector.wait(self.s.round_timeout_s)
        if outcome.missing:
            self.log.warning("nodes_missing", stage=stage.value, round=task.round,
                             nodes=outcome.missing)
        return outcome, bytes_down

    def _task_kind(self) -> str:
        return self.state.schema.task if self.state.schema else "binary"

    def _live(self) -> list[str]:
        return self.registry.connected_ids()

    def _need(self, ids: list[str], what: str) -> None:
        floor = max(1, self.s.min_hospitals)
        if len(ids) < floor:
            raise RunFailed(f"{what}: {len(ids)} hospital(s) left, fewer than the {floor} needed")

    # -- stages ---------------------------------------------------------------------
    def join(self) -> list[str]:
        ids = self.registry.wait_for(self.s.hospitals, self.s.join_timeout_s)
        if len(ids) < self.s.hospitals:
            raise RunFailed(f"only {len(ids)} of {self.s.hospitals} hospitals joined within "
                            f"{self.s.join_timeout_s:g} s: {', '.join(ids) or 'none'}")
        nodes = {n.node_id: n for n in self.registry.nodes()}
        first = nodes[ids[0]]
        for node_id in ids[1:]:
            other = nodes[node_id].schema
            if (other.task, list(other.input_shape), list(other.feature_names)) != (
                    first.schema.task, list(first.schema.input_shape), list(first.schema.feature_names)):
                raise RunFailed(f"hospital {node_id} reports a data schema different from {ids[0]}")
        self._set_schema(first.schema)
        self.registry.close_roster(ids)
        self.log.info("joined", nodes=ids, dataset=first.schema.dataset)
        return ids

    def _set_schema(self, schema: pb.DataSchema) -> None:
        self.state.schema = schema_from_proto(schema)
        try:
            params = json.loads(self.s.model_params or "{}")
        except json.JSONDecodeError as err:
            raise ConfigError(f"model_params is not a JSON object: {err}") from None
        self.state.spec = spec_for(self.state.schema, self.s.model or None, **params)

    def preprocess(self, ids: list[str]) -> None:
        """Fit preprocessing (imputation, vocabularies, normalisation) from every hospital's
        summable statistics, so that all of them bind the same transform."""
        outcome, _ = self._stage(Stage.PREPROCESS, ids, self.new_task(0, preprocess=pb.PreprocessTask()))
        blobs = {n: r.preprocess_stats for n, r in outcome.results.items() if r.preprocess_stats}
        if not blobs:
            return
        from fedhealth.data.preprocess import merge, stats_from_bytes, stats_to_bytes

        merged = stats_to_bytes(merge([stats_from_bytes(b) for b in blobs.values()]))
        outcome, _ = self._stage(Stage.PREPROCESS, sorted(blobs),
                                 self.new_task(0, preprocess=pb.PreprocessTask(merged_stats=merged)))
        schemas = {n: r.schema for n, r in outcome.results.items()}
        self._need(list(schemas), "preprocessing")
        first_id = sorted(schemas)[0]
        for node_id, schema in schemas.items():
            if list(schema.input_shape) != list(schemas[first_id].input_shape):
                raise RunFailed(f"hospital {node_id} reports input shape {list(schema.input_shape)} "
                                f"after preprocessing, {first_id} {list(schemas[first_id].input_shape)}")
        self._set_schema(schemas[first_id])

    def stats(self, ids: list[str]) -> None:
        """Federated feature scaling for tabular data: sums, sums of squares and counts."""
        if self.state.schema is None or self.state.schema.modality != "tabular":
            return
        outcome, _ = self._stage(Stage.STATS, ids, self.new_task(0, stats=pb.StatsTask()))
        n_features = int(np.prod(self.state.schema.input_shape))
        rows = []
        for node_id, r in outcome.results.items():
            try:
                accept_stats(r, n_features, self.node_train_count(node_id))
            except ProtocolError as err:
                self.log.warning("stats_rejected", node=node_id, reason=str(err))
                continue
            rows.append(r)
        self._need(rows, "feature statistics")
        n = float(sum(r.count for r in rows))
        total = np.sum([np.asarray(r.sum) for r in rows], axis=0)
        total_sq = np.sum([np.asarray(r.sum_sq) for r in rows], axis=0)
        mean, scale = standardizer(n, total, total_sq)
        self.state.standardizer = pb.Standardizer(mean=mean.tolist(), scale=scale.tolist())

    def init(self, ids: list[str]) -> None:
        """Initial weights, built by one hospital from the spec and the run seed."""
        assert self.state.spec is not None
        spec = pb.ModelSpec(arch=self.state.spec.arch, params_json=self.state.spec.to_json())
        for node_id in ids:
            outcome, _ = self._stage(Stage.INIT, [node_id],
                                     self.new_task(0, init=pb.InitTask(model=spec, seed=self.s.seed)))
            if node_id not in outcome.results:
                continue
            try:
                weights = from_tensor_list(outcome.results[node_id].init_weights)
                if not weights or not all(np.isfinite(w).all() for w in weights.values()):
                    raise ProtocolError("initial weights are empty or not finite")
            except ProtocolError as err:
                self.log.warning("init_rejected", node=node_id, reason=str(err))
                continue
            self.state.weights, self.state.initial = weights, dict(weights)
            return
        raise RunFailed("no hospital returned usable initial weights")

    def _model_pb(self) -> pb.ModelSpec:
        assert self.state.spec is not None
        return pb.ModelSpec(arch=self.state.spec.arch, params_json=self.state.spec.to_json())

    def _train_config(self, round_: int, epochs: int | None = None,
                      private: bool = True) -> pb.TrainConfig:
        cfg = pb.TrainConfig(local_epochs=epochs or self.s.local_epochs,
                             batch_size=self.s.batch_size, learning_rate=self.s.learning_rate,
                             optimizer=self.s.optimizer, proximal_mu=self.s.proximal_mu,
                             seed=self.s.seed * 100_003 + round_)
        if private and "dp" in self.s.privacy.split("+"):
            cfg.dp.CopyFrom(pb.DPConfig(target_epsilon=self.s.epsilon, delta=self.s.delta,
                                        accountant=self.s.accountant,
                                        max_grad_norm=self.s.max_grad_norm,
                                        planned_rounds=self.s.rounds))
        return cfg

    def _eligible(self) -> list[str]:
        """Connected hospitals that still have privacy budget."""
        return [n for n in self._live() if n not in self.exhausted]

    def fit_round(self, round_: int) -> dict[str, Any]:
        start = time.perf_counter()
        live = self._eligible()
        self._need(live, f"round {round_}")
        k = max(1, int(round(self.s.fraction_fit * len(live))))
        chosen = sorted(self.rng.choice(live, size=k, replace=False).tolist())
        fit = pb.FitTask(model=self._model_pb(), weights=to_tensor_list(self.state.weights),
                         config=self._train_config(round_), standardizer=self.state.standardizer)
        extra: dict[str, Any] = {}
        rejected: dict[str, str] = {}
        if self.secure is not None:
            hdp = None
            if self.hdp_noise:
                hdp = hospital_dp.task(self.s, self.hdp_noise, len(chosen))
            sec = self.secure.run(round_, chosen, fit, hdp)
            if hdp is not None and sec.mean_update is not None:
                self.hdp_rounds += 1
            mean_update, participants, dropped = sec.mean_update, sec.survivors, sec.dropped
            up, down, declined = sec.bytes_up, sec.bytes_down, sec.declined
            extra = {"secagg_aborted": sec.aborted or None,
                     "quantization_error_bound": sec.error_bound
                     if mean_update is not None and sec.error_bound == sec.error_bound else None}
        else:
            outcome, down = self._stage(Stage.FIT, chosen, self.new_task(round_, fit=fit))
            accepted: dict[str, tuple[dict[str, Any], int]] = {}
            for node_id, result in outcome.results.items():
                try:
                    accepted[node_id] = accept_update(result, self.state.weights,
                                                      self.node_train_count(node_id))
                except ProtocolError as err:
                    rejected[node_id] = str(err)
                    self.log.warning("update_rejected", round=round_, node=node_id, reason=str(err))
            participants = sorted(accepted)
            dropped = sorted(set(outcome.missing) | set(outcome.declined) | set(rejected))
            up, declined, mean_update = outcome.bytes_up, outcome.declined, None
            if accepted:
                mean_update = weighted_mean([u for u, _ in accepted.values()],
                                            [n for _, n in accepted.values()])
        exhausted_before = sorted(self.exhausted)
        for node_id, reason in declined.items():
            if reason.startswith("budget exhausted"):
                self.exhausted.add(node_id)
        if mean_update is not None:
            self.state.weights = self.strategy.apply(self.state.weights, mean_update)
        else:
            self.log.warning("round_without_update", round=round_)
        summary, eval_out, eval_down = self.evaluate(round_)
        row = {
            "round": round_,
            "participants": participants,
            "dropped": dropped,
            "declined": declined,
            "rejected": {**rejected, **eval_out.rejected},  # refused updates and summaries
            "exhausted": exhausted_before,  # not asked: their privacy budget is spent
            "duration_s": round(time.perf_counter() - start, 4),
            "bytes_up": up + eval_out.bytes_up,
            "bytes_down": down + eval_down,
            **summary.metrics(),
            **extra,
        }
        self.results["per_hospital"] = self._per_hospital(eval_out)
        spent = self._privacy(eval_out)
        if self.hdp_noise:
            level = self._hospital_level_privacy()
            row["epsilon"] = level["epsilon"]
        elif spent:
            row["epsilon"] = max(spent.values())
            row["epsilon_per_hospital"] = spent
        return row

    def calibrate_hospital_dp(self) -> None:
        dim = int(sum(v.size for v in self.state.weights.values()))
        self.hdp_noise = hospital_dp.calibrate(self.s, dim)
        self.log.info("hospital_dp_calibrated", noise_multiplier=self.hdp_noise)

    def _hospital_level_privacy(self) -> dict[str, Any]:
        dim = int(sum(v.size for v in self.state.weights.values()))
        level = hospital_dp.report(self.s, self.hdp_noise, dim, self.hdp_rounds)
        self.results["privacy"]["hospital_level"] = level
        return level

    def _privacy(self, outcome: Outcome) -> dict[str, float]:
        """Keep each hospital's latest privacy report; return epsilon spent per hospital."""
        spent = {}
        for node_id, r in sorted(outcome.results.items()):
            if r.HasField("privacy"):
                p = r.privacy
                self.results["privacy"][node_id] = privacy_from_proto(p)
                spent[node_id] = p.epsilon
                if self.on_privacy is not None:
                    self.on_privacy(node_id, p.epsilon, p.budget_epsilon)
        return spent

    def evaluate(self, round_: int) -> tuple[metrics.Summary, Outcome, int]:
        live = self._live()
        task = self.new_task(round_, evaluate=pb.EvaluateTask(
            model=self._model_pb(), weights=to_tensor_list(self.state.weights),
            standardizer=self.state.standardizer))
        outcome, down = self._stage(Stage.EVALUATE, live, task)
        return sum(self._summaries(outcome).values(), metrics.Summary()), outcome, down

    def _summaries(self, outcome: Outcome) -> dict[str, metrics.Summary]:
        """Each hospital's evaluation summary; one that cannot come from this model and that
        hospital's test data is moved from `outcome.results` to `outcome.rejected`."""
        assert self.state.schema is not None and self.state.spec is not None
        labels = int(self.state.spec.params.get("n_outputs", n_outputs(self.state.schema)))
        out = {}
        for node_id in sorted(outcome.results):
            try:
                out[node_id] = summary_from_proto(
                    outcome.results[node_id].summary, self._task_kind(), labels,
                    self.registry.get(node_id).n_test)
            except ProtocolError as err:
                outcome.rejected[node_id] = f"evaluation: {err}"
                del outcome.results[node_id]
                self.log.warning("evaluation_rejected", node=node_id, reason=str(err))
        return out

    def _per_hospital(self, outcome: Outcome) -> dict[str, Any]:
        nodes = {n.node_id: n for n in self.registry.nodes()}
        out = {}
        for node_id, node in sorted(nodes.items()):
            res = outcome.results.get(node_id)
            out[node_id] = {"n_train": node.n_train, "n_test": node.n_test,
                            "auroc": float(res.summary.local_auroc) if res else None}
        return out

    def local_baselines(self) -> None:
        live = self._live()
        task = self.new_task(self.s.rounds, local_baseline=pb.LocalBaselineTask(
            model=self._model_pb(), weights=to_tensor_list(self.state.initial),
            config=self._train_config(0, self.s.rounds * self.s.local_epochs),
            standardizer=self.state.standardizer))
        outcome, _ = self._stage(Stage.LOCAL_BASELINE, live, task)
        self.results["baselines"]["local_only"] = {
            node_id: {**s.metrics(), "auroc": auroc_or_none(outcome.results[node_id])}
            for node_id, s in self._summaries(outcome).items()
        }

    # -- the whole run ---------------------------------------------------------------
    def run(self) -> None:
        ids = self.join()
        self.preprocess(ids)
        self.stats(ids)
        self.init(ids)
        atomic.write_json(self.s.run_dir / "model_spec.json", self.model_info())
        if self.s.privacy.startswith("hdp"):
            self.calibrate_hospital_dp()
        checkpoint.write_results(self.s.run_dir, self.results)
        for round_ in range(1, self.s.rounds + 1):
            self.state.round = round_
            if self.exhausted and len(self._eligible()) < max(1, self.s.min_hospitals):
                self.results["stopped_early"] = (
                    f"before round {round_}: too few hospitals with privacy budget left "
                    f"({len(self._eligible())}; exhausted: {', '.join(sorted(self.exhausted))})")
                self.log.warning("stopped_early", reason=self.results["stopped_early"])
                break
            row = self.fit_round(round_)
            self.results["rounds"].append(row)
            self.results["final"] = {k: row[k] for k in
                                     ("auroc", "auprc", "accuracy", "sensitivity", "specificity",
                                      "brier", "loss")}
            checkpoint.save_checkpoint(self.s.run_dir, round_, self.state.weights,
                                       self.strategy.state, {"run_id": self.run_id})
            checkpoint.write_results(self.s.run_dir, self.results)
            if self.on_round is not None:
                self.on_round(row, len(self._live()))
            self.log.info("round_complete", round=round_, rounds=self.s.rounds,
                          participants=len(row["participants"]), dropped=row["dropped"],
                          auroc=row["auroc"], loss=row["loss"], duration_s=row["duration_s"])
        if self.s.local_baselines and self.s.privacy not in ("dp", "dp+secagg", "hdp+secagg"):
            self.local_baselines()
        elif self.s.local_baselines:
            # Training on a hospital's records outside DP-SGD would spend privacy that no
            # ledger accounts for, so DP runs report no local-only baseline.
            self.results["baselines"]["local_only"] = None
        checkpoint.write_results(self.s.run_dir, self.results)

    def shutdown(self, failure: str = "") -> None:
        """Tell every connected node the run is over (and whether it failed)."""
        self.registry.send(self.registry.connected_ids(), pb.Task(
            run_id=self.run_id, task_id="shutdown",
            shutdown=pb.ShutdownTask(reason=failure or "run complete", failed=bool(failure))))

    def model_info(self) -> dict[str, Any]:
        """What model.pt needs besides the weights: spec, schema and standardizer."""
        assert self.state.spec is not None and self.state.schema is not None
        sch = self.state.schema
        return {"arch": self.state.spec.arch, "params": self.state.spec.params,
                "schema": {"dataset": sch.dataset, "modality": sch.modality, "task": sch.task,
                           "feature_names": list(sch.feature_names),
                           "label_names": list(sch.label_names),
                           "input_shape": list(sch.input_shape)},
                "mean": list(self.state.standardizer.mean) or None,
                "scale": list(self.state.standardizer.scale) or None}
