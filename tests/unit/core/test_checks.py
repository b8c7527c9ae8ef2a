"""The coordinator's checks on what a hospital sends, each refusal naming the problem."""

from __future__ import annotations

import numpy as np
import pytest

from fedhealth import metrics
from fedhealth.errors import ProtocolError
from fedhealth.v1 import coordinator_pb2 as pb
from fedhealth.wire import to_tensor_list
from fedhealth_coordinator.checks import accept_stats, accept_update
from fedhealth_coordinator.evaluation import summary_from_proto

MODEL = {"w": np.zeros((3, 2), np.float32), "b": np.zeros(3, np.float32)}


def _result(update: dict[str, np.ndarray], n: int = 10) -> pb.FitResult:
    return pb.FitResult(update=to_tensor_list(update), num_examples=n)


def test_a_well_formed_update_is_accepted() -> None:
    update = {"w": np.ones((3, 2), np.float32), "b": np.ones(3, np.float32)}
    got, n = accept_update(_result(update), MODEL, n_train=10)
    assert n == 10 and np.array_equal(got["w"], update["w"])


@pytest.mark.parametrize(("update", "n", "match"), [
    ({"w": np.ones((3, 2), np.float32)}, 5, "missing \\['b'\\]"),
    ({**MODEL, "extra": np.ones(1, np.float32)}, 5, "unexpected \\['extra'\\]"),
    ({"w": np.ones((2, 3), np.float32), "b": np.ones(3, np.float32)}, 5, "shape \\[2, 3\\]"),
    ({"w": np.full((3, 2), np.inf, np.float32), "b": np.ones(3, np.float32)}, 5, "infinite"),
    (MODEL, 0, "claims 0 training records"),
    (MODEL, 11, "claims 11 training records; the hospital joined with 10"),
])
def test_malformed_updates_are_refused(update: dict, n: int, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        accept_update(_result(update, n), MODEL, n_train=10)


def test_truncated_tensor_bytes_are_refused() -> None:
    result = _result(MODEL)
    result.update.tensors[0].data = result.update.tensors[0].data[:-4]
    with pytest.raises(ProtocolError, match="bytes, expected"):
        accept_update(result, MODEL, n_train=10)


def _stats(count: int = 10, s: tuple = (1.0, 2.0), sq: tuple = (3.0, 4.0)) -> pb.StatsResult:
    return pb.StatsResult(count=count, sum=list(s), sum_sq=list(sq))


def test_well_formed_statistics_are_accepted() -> None:
    accept_stats(_stats(), n_features=2, n_train=10)


@pytest.mark.parametrize(("stats", "match"), [
    (_stats(count=0), "over 0 records"),
    (_stats(count=11), "over 11 records; the hospital joined with 10"),
    (_stats(s=(1.0,)), "for 1/2 features, the data has 2"),
    (_stats(s=(float("nan"), 1.0)), "NaN"),
    (_stats(sq=(-1.0, 1.0)), "negative"),
])
def test_malformed_statistics_are_refused(stats: pb.StatsResult, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        accept_stats(stats, n_features=2, n_train=10)


def _summary(**kw: object) -> pb.EvalSummary:
    base = dict(n=10, loss_sum=1.0, brier_sum=0.5, tp=3, fp=1, tn=5, fn=1, correct=8, n_labels=1,
                hist_pos=[0] * metrics.N_BINS, hist_neg=[0] * metrics.N_BINS)
    return pb.EvalSummary(**{**base, **kw})


def test_a_possible_evaluation_summary_is_accepted() -> None:
    hist = [0] * metrics.N_BINS
    hist[7] = 4
    s = summary_from_proto(_summary(hist_pos=hist), "binary", n_labels=1, max_records=10)
    assert s.n == 10 and int(s.hist_pos.sum()) == 4


@pytest.mark.parametrize(("kw", "match"), [
    ({"n": 11}, "over 11 records"),
    ({"correct": 11}, "11 correct"),
    ({"tp": 20}, "confusion counts exceed"),
    ({"loss_sum": float("nan")}, "not finite"),
    ({"brier_sum": -1.0}, "negative"),
    ({"n_labels": 2}, "for 2 labels, the model predicts 1"),
    ({"hist_pos": [2 ** 63 + 1] + [0] * (metrics.N_BINS - 1)}, "more than 10 records"),
    ({"hist_neg": [1] * 5}, "has 5 bins"),
])
def test_impossible_evaluation_summaries_are_refused(kw: dict, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        summary_from_proto(_summary(**kw), "binary", n_labels=1, max_records=10)
