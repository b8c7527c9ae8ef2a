"""Coordinator and hospital clients in one process, over real gRPC on 127.0.0.1."""

import json
import threading
from pathlib import Path

import grpc
import numpy as np
import pytest
from structlog.testing import capture_logs

from fedhealth import logs
from fedhealth.data.registry import SiteSpec, load_site
from fedhealth.rpc import connect
from fedhealth.training.loop import pick_device
from fedhealth.v1 import coordinator_pb2 as pb
from fedhealth.v1 import coordinator_pb2_grpc as pb_grpc
from fedhealth.wire import from_tensor_list, to_tensor_list
from fedhealth_coordinator.server import create_server
from fedhealth_coordinator.settings import CoordinatorSettings
from fedhealth_node.client import NodeClient
from fedhealth_node.settings import NodeSettings
from fedhealth_node.trainer import Trainer


def _federate(tmp_path: Path, trainers: dict[str, Trainer]) -> dict:
    """A plaintext coordinator and one client thread per trainer, 3 rounds; results.json."""
    settings = CoordinatorSettings(port=0, run_dir=tmp_path, hospitals=len(trainers), rounds=3,
                                   round_timeout_s=30, run_id="itest", privacy="none")
    coord = create_server(settings)
    fed_error: list[BaseException] = []

    def federate() -> None:
        try:
            coord.federation.run()
        except BaseException as err:  # noqa: BLE001
            fed_error.append(err)
        finally:
            coord.federation.shutdown()

    fed = threading.Thread(target=federate)
    fed.start()
    codes = {}
    threads = []
    for name, trainer in trainers.items():
        ns = NodeSettings(node_id=name, coordinator=f"127.0.0.1:{coord.port}",
                          require_secure_aggregation=False, require_dp=False)
        client = NodeClient(ns, trainer, logs.get("test"))
        t = threading.Thread(target=lambda c=client, n=name: codes.__setitem__(n, _safe(c.run)))
        t.start()
        threads.append(t)
    fed.join(120)
    assert not fed_error, fed_error
    coord.server.stop(1).wait()
    for t in threads:
        t.join(30)
    assert set(codes.values()) == {0}, codes
    return json.loads((tmp_path / "results.json").read_text())


def _trainer(i: int, n: int, cls: type[Trainer] = Trainer) -> Trainer:
    return cls(load_site("breast_cancer", None, SiteSpec(i, n, "iid", 0)), pick_device("cpu"))


def test_two_hospitals_run_three_rounds(tmp_path: Path) -> None:
    results = _federate(tmp_path, {"h0": _trainer(0, 2), "h1": _trainer(1, 2)})
    assert [r["round"] for r in results["rounds"]] == [1, 2, 3]
    assert all(r["participants"] == ["h0", "h1"] and r["dropped"] == [] for r in results["rounds"])
    assert all(r["bytes_up"] > 0 and r["bytes_down"] > 0 for r in results["rounds"])
    assert results["final"]["auroc"] > 0.9
    assert set(results["baselines"]["local_only"]) == {"h0", "h1"}
    assert results["per_hospital"]["h0"]["n_train"] + results["per_hospital"]["h1"]["n_train"] > 400
    assert (tmp_path / "checkpoints" / "round-0003.npz").is_file()
    with np.load(tmp_path / "checkpoints" / "round-0003.npz") as ck:
        assert any(k.startswith("w/") for k in ck.files)


def _safe(fn):
    try:
        return fn()
    except Exception as err:  # noqa: BLE001
        return repr(err)


def test_results_for_unknown_runs_and_tasks_are_refused(tmp_path: Path) -> None:
    coord = create_server(CoordinatorSettings(port=0, run_dir=tmp_path, hospitals=1, run_id="x",
                                              privacy="none"))
    channel = connect(f"127.0.0.1:{coord.port}", "coordinator", 10)
    stub = pb_grpc.CoordinatorStub(channel)
    plain = pb_grpc.PlainAggregationStub(channel)
    with pytest.raises(grpc.RpcError) as err:
        stub.PushEvaluation(pb.EvaluateResult(header=pb.ResultHeader(run_id="other", node_id="n")))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as err:
        plain.PushUpdate(pb.FitResult(header=pb.ResultHeader(run_id="x", node_id="n", task_id="t")))
    assert "not expected" in err.value.details()
    with pytest.raises(grpc.RpcError):
        list(stub.Subscribe(pb.SubscribeRequest(run_id="x", node_id="never-joined")))
    channel.close()
    coord.server.stop(0)


def test_a_deployed_node_refuses_a_run_without_secure_aggregation_or_dp(tmp_path: Path) -> None:
    """Node defaults: no unmasked update, no training without DP; each refusal names its
    setting. Joining is what is refused, so the coordinator never gets a task answered."""
    from fedhealth.errors import ConfigError

    coord = create_server(CoordinatorSettings(port=0, run_dir=tmp_path, hospitals=1, run_id="d",
                                              privacy="none", join_timeout_s=5))
    site = load_site("breast_cancer", None, SiteSpec(0, 1, "none", 0))
    address = f"127.0.0.1:{coord.port}"
    try:
        for extra, setting in (({}, "require_secure_aggregation"),
                               ({"require_secure_aggregation": False}, "require_dp")):
            client = NodeClient(NodeSettings(node_id="h0", coordinator=address, **extra),
                                Trainer(site, pick_device("cpu")), logs.get("test"))
            with pytest.raises(ConfigError, match=f"privacy 'none'.*\\({setting}\\)"):
                client.run()
    finally:
        coord.server.stop(0)


def test_a_node_without_a_ledger_refuses_a_dp_run_at_join(tmp_path: Path) -> None:
    from fedhealth.errors import ConfigError

    coord = create_server(CoordinatorSettings(port=0, run_dir=tmp_path, hospitals=1, run_id="p",
                                              privacy="dp", join_timeout_s=5))
    site = load_site("breast_cancer", None, SiteSpec(0, 1, "none", 0))
    ns = NodeSettings(node_id="h0", coordinator=f"127.0.0.1:{coord.port}",
                      require_secure_aggregation=False)
    try:
        with pytest.raises(ConfigError, match="ledger_path \\(FEDHEALTH_NODE_LEDGER_PATH\\)"):
            NodeClient(ns, Trainer(site, pick_device("cpu")), logs.get("test")).run()
    finally:
        coord.server.stop(0)


class _HostileTrainer(Trainer):
    """Trains, then corrupts its update a different way each round."""

    calls = 0

    def fit(self, task: pb.FitTask):  # type: ignore[no-untyped-def]
        update, n, stats = super().fit(task)
        self.calls += 1
        name = next(iter(update))
        if self.calls == 1:
            update[name] = update[name] * np.nan
        elif self.calls == 2:
            update[name] = update[name][:1]  # would broadcast silently into the model
        else:
            n = 10 ** 9  # would outweigh every honest hospital
        return update, n, stats


def test_a_hospital_sending_malformed_updates_is_dropped_not_averaged(tmp_path: Path) -> None:
    results = _federate(tmp_path, {"h0": _trainer(0, 3), "h1": _trainer(1, 3),
                                   "h2": _trainer(2, 3, _HostileTrainer)})
    reasons = [r["rejected"].get("h2", "") for r in results["rounds"]]
    assert "NaN or infinite" in reasons[0]
    assert "has shape [1, 30], the model's is [64, 30]" in reasons[1]
    assert "claims 1000000000 training records" in reasons[2]
    for r in results["rounds"]:
        assert r["participants"] == ["h0", "h1"] and "h2" in r["dropped"]
    assert results["final"]["auroc"] > 0.9
    with np.load(tmp_path / "checkpoints" / "round-0003.npz") as ck:
        assert all(np.isfinite(ck[k]).all() for k in ck.files if k.startswith("w/"))


class _BadInitTrainer(Trainer):
    """Answers the init task with NaN weights."""

    def init(self, task: pb.InitTask):  # type: ignore[no-untyped-def]
        weights = from_tensor_list(super().init(task))
        return to_tensor_list({k: v * np.nan for k, v in weights.items()})


def test_unusable_initial_weights_are_skipped_for_the_next_hospital(tmp_path: Path) -> None:
    with capture_logs() as events:
        results = _federate(tmp_path, {"h0": _trainer(0, 2, _BadInitTrainer),
                                       "h1": _trainer(1, 2)})
    rejected = [e for e in events if e["event"] == "init_rejected"]
    assert [e["node"] for e in rejected] == ["h0"] and "not finite" in rejected[0]["reason"]
    assert results["final"]["auroc"] > 0.9


class _BadEvalTrainer(Trainer):
    """Claims a hundred times its test records in every evaluation."""

    def evaluate(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        summary = super().evaluate(*args, **kwargs)
        summary.n *= 100
        return summary


def test_an_impossible_evaluation_summary_is_left_out_of_the_metrics(tmp_path: Path) -> None:
    results = _federate(tmp_path, {"h0": _trainer(0, 2), "h1": _trainer(1, 2, _BadEvalTrainer)})
    for r in results["rounds"]:
        assert r["rejected"]["h1"].startswith("evaluation: evaluation summary over")
        assert r["participants"] == ["h0", "h1"]  # its update was fine
    assert results["final"]["auroc"] > 0.9
    assert results["per_hospital"]["h1"]["auroc"] is None
