"""The key server over real gRPC on 127.0.0.1, through the generated stubs."""

from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fedhealth.rpc import connect
from fedhealth.v1 import keyserver_pb2 as pb
from fedhealth.v1 import keyserver_pb2_grpc as pb_grpc
from fedhealth_keyserver.server import create_server
from fedhealth_keyserver.settings import KeyServerSettings


@pytest.fixture
def stub() -> Iterator[tuple[pb_grpc.KeyServerStub, grpc.Channel]]:
    server, port = create_server(KeyServerSettings(port=0))
    channel = connect(f"127.0.0.1:{port}", "keyserver", 10)
    yield pb_grpc.KeyServerStub(channel), channel
    channel.close()
    server.stop(0)


def bundle(node: str, key: bytes = b"e" * 32) -> pb.KeyBundle:
    return pb.KeyBundle(node_id=node, encryption_public_key=key, masking_public_key=b"m" * 32,
                        signature=b"s" * 64)


def test_health_roster_and_substitution_refused(stub) -> None:
    ks, channel = stub
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest(service="fedhealth.v1.KeyServer")).status == \
        health_pb2.HealthCheckResponse.SERVING
    for node in ("a", "b"):
        ks.RegisterIdentity(pb.RegisterIdentityRequest(run_id="r", node_id=node,
                                                       identity_public_key=node.encode() * 32))
        ks.PublishKeys(pb.PublishKeysRequest(run_id="r", round=1, bundle=bundle(node)))
    roster = ks.GetRoster(pb.GetRosterRequest(run_id="r", round=1)).bundles
    assert [b.node_id for b in roster] == ["a", "b"]
    assert roster[0].identity_public_key == b"a" * 32
    with pytest.raises(grpc.RpcError) as err:
        ks.PublishKeys(pb.PublishKeysRequest(run_id="r", round=1, bundle=bundle("a", b"x" * 32)))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        ks.RegisterIdentity(pb.RegisterIdentityRequest(run_id="r", node_id="a",
                                                       identity_public_key=b"z" * 32))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_unregistered_node_and_missing_roster_entries_are_errors(stub) -> None:
    ks, _ = stub
    with pytest.raises(grpc.RpcError) as err:
        ks.PublishKeys(pb.PublishKeysRequest(run_id="r", round=1, bundle=bundle("ghost")))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        ks.GetRoster(pb.GetRosterRequest(run_id="r", round=1, node_ids=["ghost"]))
    assert "ghost" in err.value.details()
