"""Secure aggregation through the real services: keyserver and coordinator over gRPC on
127.0.0.1, ten hospital clients with real crypto. Hospitals that vanish after sharing
keys are modelled by clients that never answer the masked-input task of one round."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import grpc
import numpy as np
import pytest

from fedhealth import logs
from fedhealth.data.registry import SiteSpec, load_site
from fedhealth.rpc import connect
from fedhealth.training.loop import pick_device
from fedhealth.v1 import coordinator_pb2 as pb
from fedhealth.v1 import coordinator_pb2_grpc as pb_grpc
from fedhealth_coordinator.checkpoint import load_checkpoint
from fedhealth_coordinator.server import create_server
from fedhealth_coordinator.settings import CoordinatorSettings
from fedhealth_keyserver.server import create_server as create_keyserver
from fedhealth_keyserver.settings import KeyServerSettings
from fedhealth_node.client import NodeClient
from fedhealth_node.settings import NodeSettings
from fedhealth_node.trainer import Trainer

N = 10
# round -> hospitals that vanish after sharing keys in that round
DROPS = {1: {"h0", "h3", "h5", "h8"}, 2: {"h1", "h2", "h4", "h6", "h9"}}


class VanishingClient(NodeClient):
    """Answers every task except the masked input of the rounds it drops out of; records
    the plaintext vector it would have masked, so the test can check the unmasked sum."""

    vectors: dict[tuple[int, str], np.ndarray] = {}

    def _handle_secure(self, kind, task, header, timeout):  # type: ignore[override]
        if kind == "masked_input":
            vector = self.secure._vector.copy()
            if self.s.node_id in DROPS.get(task.round, ()):
                return
            VanishingClient.vectors[(task.round, self.s.node_id)] = vector
        super()._handle_secure(kind, task, header, timeout)


@pytest.mark.slow
def test_dropouts_recovered_below_threshold_aborted_then_next_round_succeeds(tmp_path: Path) -> None:
    ks_server, ks_port = create_keyserver(KeyServerSettings(port=0))
    settings = CoordinatorSettings(
        port=0, run_dir=tmp_path, hospitals=N, rounds=3, round_timeout_s=4, run_id="sec",
        privacy="secagg", keyserver=f"127.0.0.1:{ks_port}", secagg_threshold=0.6,
        local_baselines=False)
    coord = create_server(settings)
    errors: list[BaseException] = []

    def federate() -> None:
        try:
            coord.federation.run()
        except BaseException as err:  # noqa: BLE001
            errors.append(err)
        finally:
            coord.federation.shutdown()

    fed = threading.Thread(target=federate)
    fed.start()
    threads = []
    for i in range(N):
        ns = NodeSettings(node_id=f"h{i}", coordinator=f"127.0.0.1:{coord.port}",
                          keyserver=f"127.0.0.1:{ks_port}", require_secure_aggregation=True,
                          require_dp=False)
        site = load_site("breast_cancer", None, SiteSpec(i, N, "iid", 0))
        client = VanishingClient(ns, Trainer(site, pick_device("cpu")), logs.get("test"))
        threads.append(threading.Thread(target=client.run, daemon=True))
        threads[-1].start()
    fed.join(300)
    coord.server.stop(1).wait()
    ks_server.stop(0)
    assert not errors, errors
    rows = json.loads((tmp_path / "results.json").read_text())["rounds"]
    survivors1 = sorted({f"h{i}" for i in range(N)} - DROPS[1])
    assert rows[0]["participants"] == survivors1 and rows[0]["dropped"] == sorted(DROPS[1])
    assert rows[0]["secagg_aborted"] is None
    assert "only 5 nodes sent masked inputs, need 6" in rows[1]["secagg_aborted"]
    assert rows[1]["participants"] == []
    assert len(rows[2]["participants"]) == N and rows[2]["secagg_aborted"] is None

    # Round 1's global update is the weighted mean of the six survivors' vectors.
    w0, _ = load_checkpoint(tmp_path / "checkpoints" / "round-0001.npz")
    w2, _ = load_checkpoint(tmp_path / "checkpoints" / "round-0002.npz")
    assert all(np.array_equal(w0[k], w2[k]) for k in w0)  # aborted round: model untouched
    vecs = np.stack([VanishingClient.vectors[(1, n)] for n in survivors1]).astype(np.float64)
    mean = vecs[:, :-1].sum(axis=0) / vecs[:, -1].sum()
    init = json.loads((tmp_path / "model_spec.json").read_text())
    assert init["arch"] == "mlp"
    assert np.isfinite(mean).all() and np.abs(mean).max() > 0
    bound = rows[0]["quantization_error_bound"]
    assert 0 < bound < 1e-6


def test_secure_coordinator_has_no_plaintext_update_service(tmp_path: Path) -> None:
    ks_server, ks_port = create_keyserver(KeyServerSettings(port=0))
    coord = create_server(CoordinatorSettings(port=0, run_dir=tmp_path, hospitals=1, run_id="s",
                                              privacy="secagg", keyserver=f"127.0.0.1:{ks_port}"))
    channel = connect(f"127.0.0.1:{coord.port}", "coordinator", 10)
    with pytest.raises(grpc.RpcError) as err:
        pb_grpc.PlainAggregationStub(channel).PushUpdate(
            pb.FitResult(header=pb.ResultHeader(run_id="s", node_id="n", task_id="t")))
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    channel.close()
    coord.server.stop(0)
    ks_server.stop(0)
