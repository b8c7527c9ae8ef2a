"""Protobuf results into domain objects: schemas, evaluation summaries, privacy reports."""

from __future__ import annotations

from typing import Any

import numpy as np

from fedhealth import metrics
from fedhealth.data.base import Schema
from fedhealth.errors import ProtocolError
from fedhealth.v1 import coordinator_pb2 as pb


def schema_from_proto(s: pb.DataSchema) -> Schema:
    return Schema(dataset=s.dataset, modality=s.modality, task=s.task,
                  input_shape=tuple(int(v) for v in s.input_shape),
                  feature_names=tuple(s.feature_names), label_names=tuple(s.label_names))


def summary_from_proto(s: pb.EvalSummary, task: str, n_labels: int | None = None,
                       max_records: int | None = None) -> metrics.Summary:
    """A hospital's evaluation summary; histograms must be n_labels x bins. With
    `n_labels` and `max_records` (the labels the model predicts, the test records the
    hospital joined with) a summary that cannot come from that model and data is a
    `ProtocolError`."""
    k = int(s.n_labels) or 1
    if n_labels is not None and k != n_labels:
        raise ProtocolError(f"evaluation summary for {k} labels, the model predicts {n_labels}")
    if max_records is not None:
        _check_counts(s, k, max_records)

    def hist(values: Any) -> np.ndarray:
        arr = np.asarray(values, dtype=np.uint64)
        if arr.size == 0:
            return np.zeros((k, metrics.N_BINS), np.int64)
        if arr.size != k * metrics.N_BINS:
            raise ProtocolError(f"evaluation histogram has {arr.size} bins, expected {k} x {metrics.N_BINS}")
        if max_records is not None and int(arr.reshape(k, -1).sum(axis=1).max()) > max_records:
            raise ProtocolError(f"evaluation histogram counts more than {max_records} records")
        return arr.astype(np.int64).reshape(k, metrics.N_BINS)

    return metrics.Summary(
        n=int(s.n), loss_sum=s.loss_sum, brier_sum=s.brier_sum, tp=int(s.tp), fp=int(s.fp),
        tn=int(s.tn), fn=int(s.fn), hist_pos=hist(s.hist_pos), hist_neg=hist(s.hist_neg),
        correct=int(s.correct), task=task)


def auroc_or_none(r: pb.EvaluateResult) -> float | None:
    v = float(r.summary.local_auroc)
    return v if metrics.is_number(v) else None


def privacy_from_proto(p: pb.PrivacyReport) -> dict[str, Any]:
    """A hospital's privacy report as results.json stores it."""
    return {"epsilon": p.epsilon, "delta": p.delta, "accountant": p.accountant,
            "noise_multiplier": p.noise_multiplier, "sample_rate": p.sample_rate,
            "steps": int(p.steps), "max_grad_norm": p.max_grad_norm,
            "budget_epsilon": p.budget_epsilon, "grad_sample_mode": p.grad_sample_mode}


def _check_counts(s: pb.EvalSummary, k: int, max_records: int) -> None:
    if s.n > max_records or s.correct > s.n:
        raise ProtocolError(f"evaluation summary over {s.n} records ({s.correct} correct); the "
                            f"hospital joined with {max_records} test records")
    if s.tp + s.fp + s.tn + s.fn > s.n * k:
        raise ProtocolError("evaluation confusion counts exceed records x labels")
    if not (np.isfinite([s.loss_sum, s.brier_sum]).all() and s.loss_sum >= 0 and s.brier_sum >= 0):
        raise ProtocolError("evaluation loss or Brier sum is negative or not finite")
