"""Whole rounds: exactness, dropout recovery, abort below threshold, refusals, confidentiality."""

from __future__ import annotations

import copy
import inspect
import itertools

import numpy as np
import pytest
from fedhealth.errors import KeyVerificationError, ProtocolError
from fedhealth.secagg import BelowThreshold, SecAggConfig, SecAggServer, Stage, graph
from fedhealth.secagg.simulation import make_clients, run_round
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats


def _ids(n: int) -> tuple[str, ...]:
    return tuple(f"hospital-{i:03d}" for i in range(n))


def _updates(ids, d: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for i, u in enumerate(ids):
        w = float(10 + i)
        v = (rng.standard_normal(d) * 0.2 * w).astype(np.float32)
        v[-1] = w
        out[u] = v
    return out


def _expected_quantized(cfg: SecAggConfig, updates, survivors, seeds) -> np.ndarray:
    total = np.zeros(cfg.dim, dtype=np.uint32)
    for u in survivors:
        total += cfg.quantizer.quantize(updates[u], np.random.default_rng(seeds[u]))
    return total


def _check_exact(cfg, updates, drop, graph_seed=None) -> None:
    seeds = {u: i for i, u in enumerate(cfg.node_ids)}
    rngs = {u: np.random.default_rng(s) for u, s in seeds.items()}
    agg = run_round(cfg, updates, graph_seed=graph_seed, drop_after_share=drop, rngs=rngs)
    survivors = [u for u in cfg.node_ids if u not in drop]
    assert agg.survivors == tuple(survivors)
    expected = _expected_quantized(cfg, updates, survivors, seeds)
    assert np.array_equal(agg.quantized_sum, expected)  # bit for bit
    exact = sum(np.clip(updates[u].astype(np.float64), -cfg.clip, cfg.clip) for u in survivors)
    assert np.all(np.abs(np.append(agg.total, agg.weight) - exact) <= agg.error_bound)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(3, 12), d=st.integers(2, 50), data=st.data())
def test_unmasked_sum_is_bit_exact_for_any_dropout_set(n: int, d: int, data: st.DataObject) -> None:
    t = data.draw(st.integers(n // 2 + 1, n))
    ids = _ids(n)
    drop = data.draw(st.sets(st.sampled_from(ids), max_size=n - t))
    cfg = SecAggConfig("run", 7, ids, t, d, clip=40.0)
    _check_exact(cfg, _updates(ids, d, seed=n * 100 + d), drop)


def test_n10_t6_any_four_dropouts_after_share_keys_give_the_exact_sum() -> None:
    ids = _ids(10)
    cfg = SecAggConfig("run", 1, ids, 6, 8, clip=40.0)
    updates = _updates(ids, 8)
    seeds = {u: i for i, u in enumerate(ids)}
    clients, identities = make_clients(cfg)
    server = SecAggServer(cfg, identities=identities)
    roster = server.collect_keys([c.advertise_keys() for c in clients.values()])
    for u, c in clients.items():
        server.add_shares(u, c.share_keys(roster))
    inbox = server.route_shares()
    masked = {}  # each node's upload; a dropped node's is never sent
    for u in ids:
        c = copy.deepcopy(clients[u])
        c._rng = np.random.default_rng(seeds[u])
        masked[u] = (c, c.masked_input(inbox[u], updates[u]))
    for drop in itertools.combinations(ids, 4):  # all 210 sets, from the same shared keys
        srv = copy.deepcopy(server)
        alive = [u for u in ids if u not in drop]
        for u in alive:
            srv.add_masked_input(u, masked[u][1])
        survivors, dropped = srv.unmask_request()
        assert dropped == sorted(drop)
        for u in alive:
            r = copy.deepcopy(masked[u][0]).unmask(survivors, dropped)
            srv.add_unmask_shares(u, r.self_mask_shares, r.masking_key_shares)
        agg = srv.finish()
        assert np.array_equal(agg.quantized_sum, _expected_quantized(cfg, updates, alive, seeds))


def test_n10_t6_five_dropouts_abort_and_the_next_round_succeeds() -> None:
    ids = _ids(10)
    updates = _updates(ids, 8)
    cfg = SecAggConfig("run", 1, ids, 6, 8, clip=40.0)
    with pytest.raises(BelowThreshold, match="only 5"):
        run_round(cfg, updates, drop_after_share=set(ids[2:7]))
    nxt = SecAggConfig("run", 2, ids, 6, 8, clip=40.0)
    _check_exact(nxt, updates, set(ids[2:6]))


def test_secagg_plus_sparse_graph_is_exact_with_dropouts() -> None:
    ids = _ids(30)
    seed, commitment = graph.new_seed()
    cfg = SecAggConfig(
        "run", 3, ids, threshold=5, dim=16, clip=40.0, degree=6, graph_commitment=commitment
    )
    assert cfg.is_sparse and cfg.holders_per_node == 7
    updates = _updates(ids, 16)
    g = graph.neighbours(ids, 6, seed)
    # drop two nodes that are not neighbours of each other's neighbourhoods too heavily
    drop = {ids[0], ids[15]}
    assert all(len((g[u] | {u}) - drop) >= 5 for u in ids)
    _check_exact(cfg, updates, drop, graph_seed=seed)


def test_secagg_plus_refuses_a_graph_seed_that_does_not_open_the_commitment() -> None:
    ids = _ids(12)
    _, commitment = graph.new_seed()
    cfg = SecAggConfig(
        "run", 3, ids, threshold=4, dim=4, clip=1.0, degree=4, graph_commitment=commitment
    )
    with pytest.raises(KeyVerificationError, match="commitment"):
        run_round(cfg, _updates(ids, 4), graph_seed=bytes(32))


def _round_to_unmask(n: int = 5, t: int = 3, drop: frozenset[str] = frozenset()):
    ids = _ids(n)
    cfg = SecAggConfig("run", 1, ids, t, 4, clip=1.0)
    clients, identities = make_clients(cfg)
    server = SecAggServer(cfg, identities=identities)
    roster = server.collect_keys([c.advertise_keys() for c in clients.values()])
    for u, c in clients.items():
        server.add_shares(u, c.share_keys(roster))
    inbox = server.route_shares()
    for u in ids:
        if u not in drop:
            server.add_masked_input(u, clients[u].masked_input(inbox[u], np.zeros(4, np.float32)))
    return ids, clients, server


def test_node_refuses_to_reveal_both_secrets_of_one_peer() -> None:
    ids, clients, _ = _round_to_unmask()
    with pytest.raises(ProtocolError, match="both secrets"):
        clients[ids[0]].unmask(survivors=ids, dropped=[ids[1]])
    assert clients[ids[0]].state.stage is Stage.ABORTED


def test_node_refuses_fewer_than_t_survivors_and_unlisted_peers() -> None:
    ids, clients, _ = _round_to_unmask()
    with pytest.raises(ProtocolError, match="below the threshold"):
        clients[ids[0]].unmask(survivors=ids[:2], dropped=ids[2:])
    with pytest.raises(ProtocolError, match="neither survivors nor dropped"):
        clients[ids[1]].unmask(survivors=ids[:4], dropped=[])
    with pytest.raises(ProtocolError, match="not listed as a survivor"):
        clients[ids[2]].unmask(survivors=ids[3:] + ids[:2], dropped=[ids[2]])


def test_node_answers_only_once() -> None:
    ids, clients, _ = _round_to_unmask(drop=frozenset({_ids(5)[4]}))
    reply = clients[ids[0]].unmask(survivors=ids[:4], dropped=[ids[4]])
    assert set(reply.self_mask_shares) == set(ids[:4]) and set(reply.masking_key_shares) == {ids[4]}
    with pytest.raises(ProtocolError):
        clients[ids[0]].unmask(survivors=ids, dropped=[])


def test_tampered_share_ciphertext_is_detected() -> None:
    ids = _ids(4)
    cfg = SecAggConfig("run", 1, ids, 3, 4, clip=1.0)
    clients, identities = make_clients(cfg)
    server = SecAggServer(cfg, identities=identities)
    roster = server.collect_keys([c.advertise_keys() for c in clients.values()])
    for u, c in clients.items():
        server.add_shares(u, c.share_keys(roster))
    inbox = server.route_shares()
    blob = inbox[ids[0]][ids[1]]
    inbox[ids[0]][ids[1]] = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(KeyVerificationError, match=ids[1]):
        clients[ids[0]].masked_input(inbox[ids[0]], np.zeros(4, np.float32))


def test_server_has_no_way_to_receive_an_unmasked_update() -> None:
    ids, clients, server = _round_to_unmask(drop=frozenset({_ids(5)[4]}))
    public = {
        n for n, _ in inspect.getmembers(SecAggServer, inspect.isfunction) if not n.startswith("_")
    }
    assert public == {
        "collect_keys",
        "add_shares",
        "route_shares",
        "add_masked_input",
        "unmask_request",
        "add_unmask_shares",
        "finish",
        "abort",
    }
    with pytest.raises(ProtocolError):  # a float vector is not a masked input
        server.add_masked_input(ids[4], np.zeros(4, np.float32))


def test_server_aborts_when_too_few_survivors_answer_unmask() -> None:
    ids, clients, server = _round_to_unmask()
    survivors, dropped = server.unmask_request()
    for u in survivors[:2]:
        r = clients[u].unmask(survivors, dropped)
        server.add_unmask_shares(u, r.self_mask_shares, r.masking_key_shares)
    with pytest.raises(BelowThreshold):
        server.finish()
    assert server.state.stage is Stage.ABORTED


def test_single_masked_upload_is_indistinguishable_from_uniform_bytes() -> None:
    ids = _ids(3)
    d = 1 << 16
    cfg = SecAggConfig("run", 1, ids, 2, d, clip=1.0)
    clients, identities = make_clients(cfg)
    server = SecAggServer(cfg, identities=identities)
    roster = server.collect_keys([c.advertise_keys() for c in clients.values()])
    for u, c in clients.items():
        server.add_shares(u, c.share_keys(roster))
    inbox = server.route_shares()
    plain = np.zeros(d, np.float32)  # the most structured input there is
    plain[-1] = 1.0
    masked = clients[ids[0]].masked_input(inbox[ids[0]], plain)
    counts = np.bincount(np.frombuffer(masked.tobytes(), np.uint8), minlength=256)
    assert stats.chisquare(counts).pvalue > 1e-4
    # the test has power: the unmasked quantized vector fails it badly
    q = cfg.quantizer.quantize(plain)
    assert (
        stats.chisquare(np.bincount(np.frombuffer(q.tobytes(), np.uint8), minlength=256)).pvalue
        < 1e-12
    )


def test_prequantized_inputs_sum_exactly() -> None:
    """Hospital-level DP hands masked_input a uint32 vector it encoded itself."""
    import numpy as np

    from fedhealth.secagg.config import SecAggConfig
    from fedhealth.secagg.server import SecAggServer
    from fedhealth.secagg.simulation import make_clients

    cfg = SecAggConfig(run_id="r", round=1, node_ids=("a", "b", "c"), threshold=2, dim=5,
                       clip=1.0)
    clients, identities = make_clients(cfg)
    server = SecAggServer(cfg, identities=identities)
    roster = server.collect_keys([c.advertise_keys() for c in clients.values()])
    for node, c in clients.items():
        server.add_shares(node, c.share_keys(roster))
    inbox = server.route_shares()
    rng = np.random.default_rng(0)
    vectors = {n: rng.integers(0, 2**32, size=5, dtype=np.uint64).astype(np.uint32) for n in clients}
    for node, c in clients.items():
        server.add_masked_input(node, c.masked_input(inbox[node], vectors[node], prequantized=True))
    survivors, dropped = server.unmask_request()
    for node in survivors:
        reply = clients[node].unmask(survivors, dropped)
        server.add_unmask_shares(node, reply.self_mask_shares, reply.masking_key_shares)
    expected = sum(v.astype(np.uint64) for v in vectors.values()) % (1 << 32)
    assert np.array_equal(server.finish().quantized_sum, expected.astype(np.uint32))
