"""gRPC plumbing shared by the three services: server factory, channels, health, errors.

Servers bind an explicit address (port 0 picks a free one) and return the bound port, so
tests and the local runner never guess ports. Every server carries the standard gRPC
health service. Message sizes are explicit on both sides.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from concurrent import futures
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from fedhealth.errors import ConnectionFailed, FedhealthError

MAX_MESSAGE_BYTES = 512 * 1024 * 1024
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]
SERVER_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.so_reuseport", 0),
]


def create_server(
    host: str,
    port: int,
    register: Iterable[Callable[[grpc.Server], None]],
    *,
    max_workers: int = 32,
    service_names: Iterable[str] = (),
) -> tuple[grpc.Server, int, health.HealthServicer]:
    """Build and start a server with the health service; return it and the bound port."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        options=SERVER_OPTIONS,
    )
    for add in register:
        add(server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise ConnectionFailed(f"cannot bind {host}:{port} (address in use or not local)")
    server.start()
    for name in ["", *service_names]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, bound, health_servicer


def connect(address: str, what: str, timeout_s: float) -> grpc.Channel:
    """Open a channel to `address` and wait until it is ready, or raise naming `what`."""
    channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout_s)
    except grpc.FutureTimeoutError:
        channel.close()
        raise ConnectionFailed(
            f"cannot reach the {what} at {address} (no answer within {timeout_s:g} s)"
        ) from None
    return channel


F = TypeVar("F", bound=Callable[..., Any])


def map_errors(method: F) -> F:
    """Servicer decorator: turn a `FedhealthError` into its gRPC status and message."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except FedhealthError as err:
            context.abort(err.status, str(err))

    return wrapper  # type: ignore[return-value]
