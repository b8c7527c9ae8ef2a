"""Waiting for one stage's results: from the nodes asked, until all answered, the deadline
passed, or every node still expected has disconnected."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from fedhealth.errors import ProtocolError


@dataclass
class Outcome:
    """What one stage gathered."""

    results: dict[str, Any] = field(default_factory=dict)
    declined: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    bytes_up: int = 0
    rejected: dict[str, str] = field(default_factory=dict)  # answers the coordinator refused


class Collector:
    """Accepts results for the current task id only; everything else is refused."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._task_id = ""
        self._kind = ""
        self._expected: set[str] = set()
        self._outcome = Outcome()

    def open(self, task_id: str, kind: str, node_ids: list[str]) -> None:
        """Start expecting `kind` results for `task_id` from `node_ids`."""
        with self._cond:
            self._task_id, self._kind = task_id, kind
            self._expected = set(node_ids)
            self._outcome = Outcome()

    def deliver(self, task_id: str, kind: str, node_id: str, result: Any, size: int) -> None:
        """Record a result; `ProtocolError` if it answers no open task of this node."""
        with self._cond:
            if task_id != self._task_id or kind != self._kind:
                raise ProtocolError(f"{kind} result for task {task_id!r} is not expected now")
            if node_id not in self._expected:
                raise ProtocolError(f"node {node_id} was not asked for task {task_id!r}, or answered")
            self._expected.discard(node_id)
            self._outcome.results[node_id] = result
            self._outcome.bytes_up += size
            self._cond.notify_all()

    def decline(self, task_id: str, node_id: str, reason: str) -> None:
        """A node declines its task (e.g. its privacy budget is spent)."""
        with self._cond:
            if task_id != self._task_id or node_id not in self._expected:
                raise ProtocolError(f"node {node_id} has no open task {task_id!r} to decline")
            self._expected.discard(node_id)
            self._outcome.declined[node_id] = reason
            self._cond.notify_all()

    def drop(self, node_id: str) -> None:
        """A node disconnected: stop waiting for it."""
        with self._cond:
            if node_id in self._expected:
                self._expected.discard(node_id)
                self._outcome.missing.append(node_id)
                self._cond.notify_all()

    def wait(self, timeout_s: float) -> Outcome:
        """Block until nothing is expected or the deadline passes; close the stage."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._expected and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(timeout=left)
            self._outcome.missing.extend(sorted(self._expected))
            self._expected = set()
            self._task_id = ""
            return self._outcome
