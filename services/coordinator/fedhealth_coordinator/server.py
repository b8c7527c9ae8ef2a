"""Coordinator process: `create_server` (testable, port 0) and `serve` (SIGTERM-aware)."""

from __future__ import annotations

import signal
import threading
import uuid
from dataclasses import dataclass
from types import FrameType

import grpc

from fedhealth import atomic, logs
from fedhealth.errors import FedhealthError
from fedhealth.rpc import create_server as make_grpc_server
from fedhealth.v1 import coordinator_pb2 as pb
from fedhealth.v1 import coordinator_pb2_grpc as pb_grpc
from fedhealth_coordinator.collect import Collector
from fedhealth_coordinator.nodes import Registry
from fedhealth_coordinator.rounds import Federation
from fedhealth_coordinator.servicer import (
    CoordinatorServicer,
    PlainAggregationServicer,
    SecureAggregationServicer,
)
from fedhealth_coordinator.settings import CoordinatorSettings
from fedhealth_coordinator.telemetry import Telemetry


@dataclass
class Coordinator:
    """A started coordinator: its gRPC server, bound port and federation."""

    server: grpc.Server
    port: int
    federation: Federation
    registry: Registry
    telemetry: Telemetry


def create_server(settings: CoordinatorSettings) -> Coordinator:
    """Build the federation and start serving; nothing runs rounds until `run` is called."""
    run_id = settings.run_id or uuid.uuid4().hex[:12]
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    registry, collector = Registry(), Collector()
    federation = Federation(settings, registry, collector, run_id)
    coord = CoordinatorServicer(run_id, settings.rounds, settings.privacy, registry, collector)
    services = [lambda s: pb_grpc.add_CoordinatorServicer_to_server(coord, s)]
    names = [pb.DESCRIPTOR.services_by_name["Coordinator"].full_name]
    if "secagg" in settings.privacy:
        secure = SecureAggregationServicer(run_id, collector)
        services.append(lambda s: pb_grpc.add_SecureAggregationServicer_to_server(secure, s))
        names.append(pb.DESCRIPTOR.services_by_name["SecureAggregation"].full_name)
    else:
        plain = PlainAggregationServicer(run_id, collector)
        services.append(lambda s: pb_grpc.add_PlainAggregationServicer_to_server(plain, s))
        names.append(pb.DESCRIPTOR.services_by_name["PlainAggregation"].full_name)
    server, port, _ = make_grpc_server(settings.host, settings.port, services,
                                       max_workers=settings.hospitals + 16, service_names=names)
    if settings.port_file:
        atomic.write_text(settings.port_file, f"{port}\n")
    telemetry = Telemetry()
    federation.on_privacy = telemetry.on_privacy
    federation.on_round = telemetry.on_round
    if settings.metrics_port >= 0:
        metrics_port = telemetry.serve(settings.host, settings.metrics_port)
        atomic.write_text(settings.run_dir / "metrics.port", f"{metrics_port}\n")
    return Coordinator(server, port, federation, registry, telemetry)


def run(settings: CoordinatorSettings) -> int:
    """Serve, run the federation to the end, shut the nodes down; return an exit code."""
    log = logs.get("coordinator")
    coordinator = create_server(settings)
    log.info("serving", port=coordinator.port, run=coordinator.federation.run_id,
             hospitals=settings.hospitals, rounds=settings.rounds)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal", signum=signum)
        stop.set()
        coordinator.registry.close_all()
        coordinator.server.stop(grace=2.0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    code, failure = 0, ""
    try:
        coordinator.federation.run()
        if settings.export_model:
            from fedhealth import modelfile

            modelfile.export_run(settings.run_dir)
    except FedhealthError as err:
        code, failure = (err.exit_code, str(err))
        if stop.is_set():
            failure = "stopped by signal"
    coordinator.federation.shutdown(failure)
    if failure:
        log.error("run_failed", error=failure)
    else:
        log.info("run_complete", run_dir=str(settings.run_dir))
    coordinator.server.stop(grace=3.0).wait()
    coordinator.telemetry.close()
    return code if not stop.is_set() else (code or 1)


