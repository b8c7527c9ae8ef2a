"""Logs carry ids, counts and metrics: never a tensor, a key, a share or a patient value."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
from structlog.testing import capture_logs

from fedhealth import logs
from fedhealth.data.registry import SiteSpec, load_site
from fedhealth.training.loop import pick_device
from fedhealth_coordinator.server import create_server
from fedhealth_coordinator.settings import CoordinatorSettings
from fedhealth_keyserver.server import create_server as create_keyserver
from fedhealth_keyserver.settings import KeyServerSettings
from fedhealth_node.client import NodeClient
from fedhealth_node.settings import NodeSettings
from fedhealth_node.trainer import Trainer


def _scalar_or_short(value: object) -> bool:
    if isinstance(value, (bytes, bytearray, np.ndarray)):
        return False
    if isinstance(value, (list, tuple)):
        return len(value) <= 20 and all(isinstance(v, str) for v in value)
    if isinstance(value, dict):
        return len(value) <= 20 and all(_scalar_or_short(v) for v in value.values())
    return value is None or isinstance(value, (str, int, float, bool))


def test_a_secure_federation_logs_no_tensor_key_or_record(tmp_path: Path) -> None:
    ks_server, ks_port = create_keyserver(KeyServerSettings(port=0))
    coord = create_server(CoordinatorSettings(
        port=0, run_dir=tmp_path, hospitals=3, rounds=2, run_id="logs", privacy="secagg",
        keyserver=f"127.0.0.1:{ks_port}", local_baselines=False, round_timeout_s=30))
    sites = [load_site("breast_cancer", None, SiteSpec(i, 3, "iid", 0)) for i in range(3)]
    with capture_logs() as events:
        threads = [threading.Thread(target=coord.federation.run)]
        for i, site in enumerate(sites):
            ns = NodeSettings(node_id=f"h{i}", coordinator=f"127.0.0.1:{coord.port}",
                              keyserver=f"127.0.0.1:{ks_port}", require_dp=False)
            client = NodeClient(ns, Trainer(site, pick_device("cpu")), logs.get("node"))
            threads.append(threading.Thread(target=client.run, daemon=True))
        for t in threads:
            t.start()
        threads[0].join(120)
        coord.federation.shutdown()
        for t in threads[1:]:
            t.join(30)
    coord.server.stop(0)
    ks_server.stop(0)
    assert any(e["event"] == "round_complete" for e in events)
    for e in events:
        assert all(_scalar_or_short(v) for v in e.values()), e
    text = json.dumps(events, default=str)
    record = sites[0].source.features(sites[0].train_idx[:5]).ravel()
    telltale = [f"{v:g}" for v in record if v >= 100 and "." in f"{v:g}"]  # e.g. a perimeter
    assert telltale
    for value in telltale:
        assert value not in text
