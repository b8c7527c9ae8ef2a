"""The parameters of one secure-aggregation round, checked when built (fail closed)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fedhealth.errors import ConfigError
from fedhealth.secagg import graph
from fedhealth.secagg.quantize import Quantizer


@dataclass(frozen=True)
class SecAggConfig:
    """Everything both sides must agree on before a round starts.

    `node_ids`: the invited nodes. `threshold`: t, shares needed to recover a node's
    secret; each node shares with its neighbours and itself (its "holders"), so t must
    exceed half the holders (no two disjoint groups can both recover) and be at most the
    holder count. `degree`: SecAgg+ neighbour count k (None: complete graph, plain SecAgg).
    `graph_commitment`: SHA-256 of the coordinator's graph seed (needed when k < n - 1).
    `dim`: vector length including the appended weight. `clip`: quantization range.
    """

    run_id: str
    round: int
    node_ids: tuple[str, ...]
    threshold: int
    dim: int
    clip: float
    degree: int | None = None
    graph_commitment: bytes | None = None
    quantizer: Quantizer = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Collect every inconsistency and raise one ConfigError naming all of them."""
        ids = tuple(sorted(self.node_ids))
        object.__setattr__(self, "node_ids", ids)
        n = len(ids)
        problems = []
        if not self.run_id:
            problems.append("run_id is empty")
        if not isinstance(self.round, int) or not 0 <= self.round < 2**32:
            problems.append(f"round must be a uint32, got {self.round!r}")
        if n < 2 or len(set(ids)) != n or any(not i for i in ids):
            problems.append("node_ids must be at least two distinct non-empty ids")
        if n > 65535:
            problems.append("at most 65535 nodes")
        if self.dim < 2:
            problems.append(f"dim must be >= 2 (values plus the weight), got {self.dim}")
        holders = self.holders_per_node
        if not isinstance(self.threshold, int) or not (holders // 2 < self.threshold <= holders):
            problems.append(
                f"threshold must be in ({holders // 2}, {holders}] for {holders} share holders "
                f"per node, got {self.threshold!r}"
            )
        if self.is_sparse and (self.graph_commitment is None or len(self.graph_commitment) != 32):
            problems.append("a SecAgg+ graph (degree < n - 1) needs a 32-byte graph_commitment")
        if problems:
            raise ConfigError("secure aggregation config rejected: " + "; ".join(problems))
        object.__setattr__(self, "quantizer", Quantizer(self.clip, n))

    @property
    def is_sparse(self) -> bool:
        """Whether this is SecAgg+ (neighbours only) rather than the complete graph."""
        return self.degree is not None and self.degree < len(self.node_ids) - 1

    @property
    def holders_per_node(self) -> int:
        """How many nodes hold shares of one node's secrets (its neighbours and itself)."""
        n = len(self.node_ids)
        if not self.is_sparse:
            return n
        k = self.degree or 0
        return k + 2 if (k % 2 == 1 and n % 2 == 1) else k + 1

    def index(self, node_id: str) -> int:
        """The node's Shamir x-coordinate: its 1-based position among the sorted ids."""
        try:
            return self.node_ids.index(node_id) + 1
        except ValueError:
            raise ConfigError(
                f"node {node_id!r} is not part of round {self.run_id}/{self.round}"
            ) from None

    def neighbours(self, seed: bytes | None) -> dict[str, frozenset[str]]:
        """The neighbour graph; for SecAgg+ the revealed seed is checked against the commitment."""
        if self.is_sparse:
            if seed is None or self.graph_commitment is None:
                raise ConfigError("SecAgg+ needs the revealed graph seed")
            graph.verify_reveal(self.graph_commitment, seed)
            return graph.neighbours(self.node_ids, self.degree or 0, seed)
        return graph.neighbours(self.node_ids, len(self.node_ids) - 1, None)
