"""Who may join: well-formed ids, and once the run has started only its hospitals."""

from __future__ import annotations

import pytest

from fedhealth.errors import ProtocolError
from fedhealth.v1 import coordinator_pb2 as pb
from fedhealth_coordinator.nodes import Registry

SCHEMA = pb.DataSchema(task="binary", input_shape=[30], feature_names=["a"] * 30)


def _join(reg: Registry, node_id: str, schema: pb.DataSchema = SCHEMA) -> None:
    reg.join(pb.JoinRequest(node_id=node_id, schema=schema, n_train=10, n_test=2))
    reg.set_connected(node_id, True)


@pytest.mark.parametrize("bad", ["", "../etc", "a b", "x" * 129, "h\n1", "h;1"])
def test_malformed_node_ids_are_refused(bad: str) -> None:
    with pytest.raises(ProtocolError, match="node id"):
        Registry().join(pb.JoinRequest(node_id=bad))


def test_after_the_roster_closes_only_its_hospitals_rejoin_with_the_same_schema() -> None:
    reg = Registry()
    _join(reg, "h0")
    _join(reg, "h1")
    reg.close_roster(["h0"])  # h1 connected, but was not in the run
    assert reg.connected_ids() == ["h0"]
    with pytest.raises(ProtocolError, match="not one of its hospitals"):
        _join(reg, "intruder")
    with pytest.raises(ProtocolError, match="already connected"):
        _join(reg, "h0")
    reg.set_connected("h0", False)  # h0 restarts
    with pytest.raises(ProtocolError, match="different data schema"):
        _join(reg, "h0", pb.DataSchema(task="binary", input_shape=[31]))
    _join(reg, "h0")
    assert reg.connected_ids() == ["h0"]


def test_node_ids_follow_one_rule_on_both_sides() -> None:
    from fedhealth_node.settings import NodeSettings

    _join(Registry(), "site-Hôpital_1.a")
    assert NodeSettings(node_id="site-Hôpital_1.a").node_id == "site-Hôpital_1.a"
