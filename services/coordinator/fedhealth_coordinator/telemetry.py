"""Prometheus metrics of a federation: rounds, live hospitals, global AUROC, and each
hospital's privacy spend against its budget."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Gauge, start_http_server


class Telemetry:
    """Gauges in a registry of their own, served over HTTP when a port is given."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.round = Gauge("fedhealth_round", "Last completed round", registry=self.registry)
        self.hospitals = Gauge("fedhealth_hospitals_connected", "Hospitals connected",
                               registry=self.registry)
        self.auroc = Gauge("fedhealth_global_auroc", "Global test AUROC after the last round",
                           registry=self.registry)
        self.epsilon = Gauge("fedhealth_privacy_epsilon_spent", "Epsilon spent by a hospital",
                             ["hospital"], registry=self.registry)
        self.budget = Gauge("fedhealth_privacy_epsilon_budget", "A hospital's epsilon budget",
                            ["hospital"], registry=self.registry)
        self.server: Any = None

    def serve(self, host: str, port: int) -> int:
        """Serve /metrics on host:port (0: a free port); return the bound port."""
        self.server, _ = start_http_server(port, addr=host, registry=self.registry)
        return int(self.server.server_port)

    def on_round(self, row: dict[str, Any], connected: int) -> None:
        self.round.set(row["round"])
        self.hospitals.set(connected)
        if isinstance(row.get("auroc"), float) and row["auroc"] == row["auroc"]:
            self.auroc.set(row["auroc"])

    def on_privacy(self, hospital: str, spent: float, budget: float) -> None:
        self.epsilon.labels(hospital=hospital).set(spent)
        self.budget.labels(hospital=hospital).set(budget)

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
