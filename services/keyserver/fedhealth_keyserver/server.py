"""Key server process: thin servicer, `create_server` for tests, `run` for the command."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import grpc

from fedhealth import atomic, logs
from fedhealth.rpc import create_server as make_grpc_server
from fedhealth.rpc import map_errors
from fedhealth.v1 import keyserver_pb2 as pb
from fedhealth.v1 import keyserver_pb2_grpc as pb_grpc
from fedhealth_keyserver.settings import KeyServerSettings
from fedhealth_keyserver.store import KeyStore


class KeyServerServicer(pb_grpc.KeyServerServicer):
    """Converts protobuf to store calls; the store holds the rules."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self.log = logs.get("keyserver")

    @map_errors
    def RegisterIdentity(self, request: pb.RegisterIdentityRequest,
                         context: grpc.ServicerContext) -> pb.RegisterIdentityReply:
        self.store.register(request.run_id, request.node_id, request.identity_public_key)
        self.log.info("identity_registered", run=request.run_id, node=request.node_id)
        return pb.RegisterIdentityReply()

    @map_errors
    def PublishKeys(self, request: pb.PublishKeysRequest,
                    context: grpc.ServicerContext) -> pb.PublishKeysReply:
        self.store.publish(request.run_id, request.round, request.bundle)
        self.log.info("keys_published", run=request.run_id, round=request.round,
                      node=request.bundle.node_id)
        return pb.PublishKeysReply()

    @map_errors
    def GetRoster(self, request: pb.GetRosterRequest,
                  context: grpc.ServicerContext) -> pb.GetRosterReply:
        return pb.GetRosterReply(bundles=self.store.roster(request.run_id, request.round,
                                                           list(request.node_ids)))


def create_server(settings: KeyServerSettings) -> tuple[grpc.Server, int]:
    """Start serving on settings.host:port (0 = free port); return the server and port."""
    servicer = KeyServerServicer(KeyStore(settings.max_nodes_per_round))
    name = pb.DESCRIPTOR.services_by_name["KeyServer"].full_name
    server, port, _ = make_grpc_server(
        settings.host, settings.port, [lambda s: pb_grpc.add_KeyServerServicer_to_server(servicer, s)],
        service_names=[name])
    if settings.port_file:
        atomic.write_text(settings.port_file, f"{port}\n")
    return server, port


def run(settings: KeyServerSettings) -> int:
    """Serve until SIGTERM or SIGINT."""
    server, port = create_server(settings)
    logs.get("keyserver").info("serving", port=port)
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    done.wait()
    server.stop(grace=2.0).wait()
    logs.get("keyserver").info("stopped")
    return 0
