"""SecAgg+ graph: regular, symmetric, seed-determined, complete for k >= n-1; commitments."""

from __future__ import annotations

import pytest
from fedhealth.errors import ConfigError, KeyVerificationError
from fedhealth.secagg import graph
from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 60), k=st.integers(1, 70), seed=st.binary(min_size=32, max_size=32))
def test_graph_is_symmetric_and_near_regular(n: int, k: int, seed: bytes) -> None:
    ids = [f"node-{i}" for i in range(n)]
    g = graph.neighbours(ids, k, seed)
    assert set(g) == set(ids)
    for u, vs in g.items():
        assert u not in vs
        assert all(u in g[v] for v in vs)
    degrees = {len(vs) for vs in g.values()}
    if k >= n - 1:
        assert degrees == {n - 1}
    else:
        expected = k + 1 if (k % 2 and n % 2) else k
        assert degrees == {expected}
    assert graph.neighbours(list(reversed(ids)), k, seed) == g  # depends on ids, not their order


def test_different_seeds_give_different_graphs() -> None:
    ids = [f"h{i}" for i in range(40)]
    graphs = {frozenset(graph.neighbours(ids, 6, bytes([i]) * 32).items()) for i in range(5)}
    assert len(graphs) == 5


def test_sparse_graph_needs_a_seed() -> None:
    with pytest.raises(ConfigError):
        graph.neighbours([f"h{i}" for i in range(10)], 4, None)


def test_commit_and_reveal() -> None:
    seed, commitment = graph.new_seed()
    graph.verify_reveal(commitment, seed)
    with pytest.raises(KeyVerificationError):
        graph.verify_reveal(commitment, bytes(32))


def test_recommended_degree_is_logarithmic() -> None:
    assert graph.recommended_degree(5) == 4
    assert graph.recommended_degree(100) == 21
    assert graph.recommended_degree(1000) == 30
