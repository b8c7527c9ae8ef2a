"""Binary classification metrics, exact and from summable score histograms.

Federated evaluation never ships a prediction: each hospital sends histograms of its
scores (in logit bins) per true class plus confusion counts, and the coordinator sums
them. AUROC and AUPRC from histograms treat scores within one bin as tied; with
`N_BINS` bins over logits in [-LOGIT_RANGE, LOGIT_RANGE] the error is far below 1e-3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

N_BINS = 4096
LOGIT_RANGE = 16.0
THRESHOLD = 0.5


def auroc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Exact AUROC (Mann-Whitney U with ties counted half); NaN when one class is absent."""
    y = np.asarray(y_true).astype(bool).ravel()
    s = np.asarray(score, dtype=np.float64).ravel()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def auprc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Average precision (step-wise area under the precision-recall curve)."""
    y = np.asarray(y_true).astype(bool).ravel()
    s = np.asarray(score, dtype=np.float64).ravel()
    if y.sum() == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.where(np.diff(s))[0]
    idx = np.r_[distinct, len(s) - 1]
    tps = np.cumsum(y)[idx]
    fps = (idx + 1) - tps
    return _average_precision(tps.astype(float), fps.astype(float))


def _average_precision(tps: np.ndarray, fps: np.ndarray) -> float:
    """AP from cumulative TP/FP counts at descending thresholds."""
    if tps.size == 0 or tps[-1] == 0:
        return float("nan")
    precision = tps / np.maximum(tps + fps, 1)
    recall = tps / tps[-1]
    recall_prev = np.r_[0.0, recall[:-1]]
    return float(np.sum((recall - recall_prev) * precision))


def logit_bins(prob: np.ndarray) -> np.ndarray:
    """Histogram bin index of each probability, binned uniformly in logit space."""
    p = np.clip(np.asarray(prob, dtype=np.float64), 1e-12, 1 - 1e-12)
    logit = np.log(p) - np.log1p(-p)
    pos = (logit + LOGIT_RANGE) / (2 * LOGIT_RANGE) * N_BINS
    return np.clip(pos.astype(np.int64), 0, N_BINS - 1)


@dataclass
class Summary:
    """Summable statistics of a model on one or more held-out splits."""

    n: int = 0
    loss_sum: float = 0.0
    brier_sum: float = 0.0
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    hist_pos: np.ndarray = field(default_factory=lambda: np.zeros(N_BINS, dtype=np.int64))
    hist_neg: np.ndarray = field(default_factory=lambda: np.zeros(N_BINS, dtype=np.int64))

    @classmethod
    def of(cls, y_true: np.ndarray, prob: np.ndarray, loss_sum: float) -> Summary:
        """Summarise predictions `prob` for binary labels `y_true`."""
        y = np.asarray(y_true).astype(bool).ravel()
        p = np.asarray(prob, dtype=np.float64).ravel()
        pred = p >= THRESHOLD
        bins = logit_bins(p)
        return cls(
            n=int(y.size),
            loss_sum=float(loss_sum),
            brier_sum=float(np.sum((p - y) ** 2)),
            tp=int(np.sum(pred & y)),
            fp=int(np.sum(pred & ~y)),
            tn=int(np.sum(~pred & ~y)),
            fn=int(np.sum(~pred & y)),
            hist_pos=np.bincount(bins[y], minlength=N_BINS).astype(np.int64),
            hist_neg=np.bincount(bins[~y], minlength=N_BINS).astype(np.int64),
        )

    def __add__(self, other: Summary) -> Summary:
        return Summary(
            n=self.n + other.n,
            loss_sum=self.loss_sum + other.loss_sum,
            brier_sum=self.brier_sum + other.brier_sum,
            tp=self.tp + other.tp,
            fp=self.fp + other.fp,
            tn=self.tn + other.tn,
            fn=self.fn + other.fn,
            hist_pos=self.hist_pos + other.hist_pos,
            hist_neg=self.hist_neg + other.hist_neg,
        )

    def auroc(self) -> float:
        """AUROC from the histograms (same-bin pairs count half)."""
        pos, neg = self.hist_pos.astype(np.float64), self.hist_neg.astype(np.float64)
        n_pos, n_neg = pos.sum(), neg.sum()
        if n_pos == 0 or n_neg == 0:
            return float("nan")
        neg_below = np.cumsum(neg) - neg
        return float(np.sum(pos * (neg_below + 0.5 * neg)) / (n_pos * n_neg))

    def auprc(self) -> float:
        """Average precision from the histograms, thresholds at bin edges (high to low)."""
        tps = np.cumsum(self.hist_pos[::-1]).astype(np.float64)
        fps = np.cumsum(self.hist_neg[::-1]).astype(np.float64)
        keep = (self.hist_pos[::-1] + self.hist_neg[::-1]) > 0
        return _average_precision(tps[keep], fps[keep])

    def metrics(self) -> dict[str, float]:
        """Every headline metric; NaN where undefined (e.g. no positive case)."""
        nan = float("nan")
        n = self.n
        return {
            "loss": self.loss_sum / n if n else nan,
            "auroc": self.auroc(),
            "auprc": self.auprc(),
            "accuracy": (self.tp + self.tn) / n if n else nan,
            "sensitivity": self.tp / (self.tp + self.fn) if self.tp + self.fn else nan,
            "specificity": self.tn / (self.tn + self.fp) if self.tn + self.fp else nan,
            "brier": self.brier_sum / n if n else nan,
        }


def is_number(x: float) -> bool:
    """True for a finite float."""
    return isinstance(x, (int, float)) and math.isfinite(x)
