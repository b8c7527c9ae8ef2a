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


def _zeros(k: int = 1) -> np.ndarray:
    return np.zeros((k, N_BINS), dtype=np.int64)


@dataclass
class Summary:
    """Summable statistics of a model on one or more held-out splits.

    One histogram row per label: binary tasks have one; multi-class tasks one per class
    (one-vs-rest on the softmax); multi-label tasks one per label (missing labels, NaN,
    are skipped). Confusion counts are summed over labels (micro).
    """

    n: int = 0
    loss_sum: float = 0.0
    brier_sum: float = 0.0
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    hist_pos: np.ndarray = field(default_factory=_zeros)
    hist_neg: np.ndarray = field(default_factory=_zeros)
    correct: int = 0
    task: str = "binary"

    @classmethod
    def of(cls, y_true: np.ndarray, prob: np.ndarray, loss_sum: float,
           task: str = "binary") -> Summary:
        """Summarise predictions `prob` ((n,) or (n, k)) for labels `y_true`."""
        p = np.asarray(prob, dtype=np.float64)
        p = p.reshape(len(p), -1)
        y = np.asarray(y_true, dtype=np.float64)
        if task == "multiclass":
            k = p.shape[1]
            cls_idx = y.reshape(-1).astype(np.int64)
            onehot = np.zeros_like(p)
            onehot[np.arange(len(p)), cls_idx] = 1.0
            pred = np.zeros_like(p, dtype=bool)
            pred[np.arange(len(p)), p.argmax(axis=1)] = True
            y, known = onehot, np.ones_like(p, dtype=bool)
            brier = float(np.sum((p - onehot) ** 2))
            correct = int(np.sum(p.argmax(axis=1) == cls_idx))
        else:
            y = y.reshape(len(p), -1)
            known = ~np.isnan(y)
            y = np.nan_to_num(y)
            pred = p >= THRESHOLD
            k = p.shape[1]
            brier = float(np.sum(((p - y) ** 2)[known]) / k)
            correct = int(np.sum(np.all((pred == y.astype(bool)) | ~known, axis=1)))
        yb = y.astype(bool)
        bins = logit_bins(p)
        hist_pos, hist_neg = _zeros(k), _zeros(k)
        for j in range(k):
            m = known[:, j]
            hist_pos[j] = np.bincount(bins[m & yb[:, j], j], minlength=N_BINS)
            hist_neg[j] = np.bincount(bins[m & ~yb[:, j], j], minlength=N_BINS)
        return cls(
            n=int(len(p)), loss_sum=float(loss_sum), brier_sum=brier,
            tp=int(np.sum(pred & yb & known)), fp=int(np.sum(pred & ~yb & known)),
            tn=int(np.sum(~pred & ~yb & known)), fn=int(np.sum(~pred & yb & known)),
            hist_pos=hist_pos, hist_neg=hist_neg, correct=correct, task=task,
        )

    def __add__(self, other: Summary) -> Summary:
        if self.n == 0:
            return other
        if other.n == 0:
            return self
        return Summary(
            n=self.n + other.n, loss_sum=self.loss_sum + other.loss_sum,
            brier_sum=self.brier_sum + other.brier_sum, tp=self.tp + other.tp,
            fp=self.fp + other.fp, tn=self.tn + other.tn, fn=self.fn + other.fn,
            hist_pos=self.hist_pos + other.hist_pos, hist_neg=self.hist_neg + other.hist_neg,
            correct=self.correct + other.correct, task=self.task,
        )

    def per_label_auroc(self) -> list[float]:
        """AUROC of each label from the histograms (same-bin pairs count half)."""
        out = []
        for pos, neg in zip(self.hist_pos.astype(np.float64), self.hist_neg.astype(np.float64)):
            n_pos, n_neg = pos.sum(), neg.sum()
            if n_pos == 0 or n_neg == 0:
                out.append(float("nan"))
                continue
            neg_below = np.cumsum(neg) - neg
            out.append(float(np.sum(pos * (neg_below + 0.5 * neg)) / (n_pos * n_neg)))
        return out

    def auroc(self) -> float:
        """Macro AUROC over the labels where it is defined."""
        return _nanmean(self.per_label_auroc())

    def auprc(self) -> float:
        """Macro average precision, thresholds at bin edges (high to low)."""
        vals = []
        for pos, neg in zip(self.hist_pos, self.hist_neg):
            keep = (pos[::-1] + neg[::-1]) > 0
            tps = np.cumsum(pos[::-1]).astype(np.float64)[keep]
            fps = np.cumsum(neg[::-1]).astype(np.float64)[keep]
            vals.append(_average_precision(tps, fps))
        return _nanmean(vals)

    def metrics(self) -> dict[str, float]:
        """Every headline metric; NaN where undefined (e.g. no positive case)."""
        nan = float("nan")
        n = self.n
        if self.task == "binary":
            accuracy = (self.tp + self.tn) / n if n else nan
        else:
            accuracy = self.correct / n if n else nan
        return {
            "loss": self.loss_sum / n if n else nan,
            "auroc": self.auroc(),
            "auprc": self.auprc(),
            "accuracy": accuracy,
            "sensitivity": self.tp / (self.tp + self.fn) if self.tp + self.fn else nan,
            "specificity": self.tn / (self.tn + self.fp) if self.tn + self.fp else nan,
            "brier": self.brier_sum / n if n else nan,
        }


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if v == v]
    return float(np.mean(finite)) if finite else float("nan")


def macro_auroc(y_true: np.ndarray, prob: np.ndarray, task: str = "binary") -> float:
    """Exact macro AUROC for any task (one-vs-rest for multi-class, NaN labels skipped)."""
    p = np.asarray(prob, dtype=np.float64)
    p = p.reshape(len(p), -1)
    if task == "multiclass":
        y = np.eye(p.shape[1])[np.asarray(y_true).reshape(-1).astype(np.int64)]
    else:
        y = np.asarray(y_true, dtype=np.float64).reshape(len(p), -1)
    vals = []
    for j in range(p.shape[1]):
        m = ~np.isnan(y[:, j])
        vals.append(auroc(y[m, j], p[m, j]))
    return _nanmean(vals)


def is_number(x: float) -> bool:
    """True for a finite float."""
    return isinstance(x, (int, float)) and math.isfinite(x)
