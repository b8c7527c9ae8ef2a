"""Who has joined, who is still connected, and the task queue of each node.

A node's `Subscribe` stream drains its queue; when the stream ends (the node died or
left), the node is marked disconnected and every waiting collector stops expecting it,
so a dead hospital never holds a round until the deadline unless it hangs silently.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from fedhealth import node_ids
from fedhealth.errors import ProtocolError
from fedhealth.v1 import coordinator_pb2 as pb


def _signature(schema: pb.DataSchema) -> tuple[object, ...]:
    return schema.task, tuple(schema.input_shape), tuple(schema.feature_names)


@dataclass
class Node:
    """A joined hospital."""

    node_id: str
    schema: pb.DataSchema
    n_train: int
    n_test: int
    device: str
    connected: bool = False
    subscribed_once: bool = False
    tasks: queue.Queue[pb.Task | None] = field(default_factory=queue.Queue)


class Registry:
    """Thread-safe table of nodes, with change notification."""

    def __init__(self) -> None:
        self._nodes: dict[str, Node] = {}
        self._cond = threading.Condition()
        self._roster: frozenset[str] | None = None  # set once the run has started

    def join(self, request: pb.JoinRequest) -> Node:
        """Add a node (or refresh one that rejoins after a restart). Once the run has
        started (`close_roster`) only its hospitals may rejoin, with the same data schema."""
        if not node_ids.is_valid(request.node_id):
            raise ProtocolError(f"a node id is {node_ids.RULE}")
        with self._cond:
            node = Node(request.node_id, request.schema, int(request.n_train),
                        int(request.n_test), request.device)
            old = self._nodes.get(request.node_id)
            if old is not None and old.connected:
                raise ProtocolError(f"node {request.node_id} is already connected")
            if self._roster is not None:
                if request.node_id not in self._roster:
                    raise ProtocolError(f"the run has started; {request.node_id} is not one of "
                                        "its hospitals")
                if old is not None and _signature(old.schema) != _signature(request.schema):
                    raise ProtocolError(f"node {request.node_id} rejoined with a different data "
                                        "schema")
            self._nodes[request.node_id] = node
            self._cond.notify_all()
            return node

    def get(self, node_id: str) -> Node:
        with self._cond:
            if node_id not in self._nodes:
                raise ProtocolError(f"unknown node {node_id!r}: join first")
            return self._nodes[node_id]

    def set_connected(self, node_id: str, connected: bool) -> None:
        with self._cond:
            node = self._nodes.get(node_id)
            if node is not None:
                node.connected = connected
                node.subscribed_once = node.subscribed_once or connected
                self._cond.notify_all()

    def nodes(self) -> list[Node]:
        with self._cond:
            return list(self._nodes.values())

    def close_roster(self, node_ids: Iterable[str]) -> None:
        """The run has started with `node_ids`: nobody else joins or gets a task."""
        with self._cond:
            self._roster = frozenset(node_ids)

    def connected_ids(self) -> list[str]:
        with self._cond:
            return sorted(n.node_id for n in self._nodes.values() if n.connected
                          and (self._roster is None or n.node_id in self._roster))

    def wait_for(self, count: int, timeout_s: float) -> list[str]:
        """Block until `count` nodes are connected or the timeout passes; return them."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                ready = sorted(n.node_id for n in self._nodes.values() if n.connected)
                left = deadline - time.monotonic()
                if len(ready) >= count or left <= 0:
                    return ready
                self._cond.wait(timeout=min(left, 1.0))

    def send(self, node_ids: Iterable[str], task: pb.Task) -> int:
        """Queue `task` for each node; return the bytes sent in total."""
        size = task.ByteSize()
        sent = 0
        with self._cond:
            for node_id in node_ids:
                self._nodes[node_id].tasks.put(task)
                sent += size
        return sent

    def close_all(self) -> None:
        """End every subscription stream."""
        with self._cond:
            for node in self._nodes.values():
                node.tasks.put(None)
