"""The PhysioNet/CinC 2019 normalised utility score, as summable per-hospital sums.

Follows the official `evaluate_sepsis_score.py` (`compute_prediction_utility` and the
normalisation in `evaluate_scores`): per patient, hour t earns a reward for an early
true alarm around t_sepsis = argmax(labels) + 6, a small cost for a false alarm, and a
penalty for a late miss. The score is (U_obs - U_inaction) / (U_best - U_inaction),
where U_best raises the alarm exactly on [t_sepsis - 12, t_sepsis + 3] and U_inaction
never does. The three totals add across patients and hospitals, so each hospital
sends its `utility_sums` and the coordinator adds them before normalising.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

DT_EARLY, DT_OPTIMAL, DT_LATE = -12, -6, 3
MAX_U_TP, MIN_U_FN, U_FP, U_TN = 1.0, -2.0, -0.05, 0.0


def prediction_utility(labels: Sequence[float], predictions: Sequence[float]) -> float:
    """Utility of one patient's hourly 0/1 `predictions` against hourly `labels`."""
    y = np.asarray(labels, dtype=float)
    p = np.asarray(predictions, dtype=float)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"labels {y.shape} and predictions {p.shape} must be equal 1-D shapes")
    if not np.isin(y, (0, 1)).all() or not np.isin(p, (0, 1)).all():
        raise ValueError("labels and predictions must be 0 or 1")
    septic = bool(y.any())
    t_sepsis = float(np.argmax(y) - DT_OPTIMAL) if septic else np.inf
    m1 = MAX_U_TP / (DT_OPTIMAL - DT_EARLY)
    b1 = -m1 * DT_EARLY
    m2 = -MAX_U_TP / (DT_LATE - DT_OPTIMAL)
    b2 = -m2 * DT_LATE
    m3 = MIN_U_FN / (DT_LATE - DT_OPTIMAL)
    b3 = -m3 * DT_OPTIMAL
    total = 0.0
    for t in range(len(y)):
        if t > t_sepsis + DT_LATE:
            continue
        alarm = bool(p[t])
        if not septic:
            total += U_FP if alarm else U_TN
        elif t <= t_sepsis + DT_OPTIMAL:
            total += max(m1 * (t - t_sepsis) + b1, U_FP) if alarm else 0.0
        else:
            total += (m2 * (t - t_sepsis) + b2) if alarm else (m3 * (t - t_sepsis) + b3)
    return total


def best_predictions(labels: Sequence[float]) -> np.ndarray:
    """The optimal alarm: 1 on [t_sepsis - 12, t_sepsis + 3] for a septic patient."""
    y = np.asarray(labels, dtype=float)
    best = np.zeros(len(y))
    if y.any():
        t_sepsis = int(np.argmax(y)) - DT_OPTIMAL
        best[max(0, t_sepsis + DT_EARLY): min(t_sepsis + DT_LATE + 1, len(y))] = 1
    return best


def utility_sums(labels_per_patient: Iterable[Sequence[float]],
                 predictions_per_patient: Iterable[Sequence[float]]
                 ) -> tuple[float, float, float]:
    """(U_obs, U_best, U_inaction) over these patients; add them across hospitals."""
    obs = best = inaction = 0.0
    for labels, predictions in zip(labels_per_patient, predictions_per_patient, strict=True):
        obs += prediction_utility(labels, predictions)
        best += prediction_utility(labels, best_predictions(labels))
        inaction += prediction_utility(labels, np.zeros(len(labels)))
    return obs, best, inaction


def add_sums(sums: Iterable[tuple[float, float, float]]) -> tuple[float, float, float]:
    """Element-wise total of several hospitals' `utility_sums`."""
    arr = np.array(list(sums), dtype=float).reshape(-1, 3)
    obs, best, inaction = arr.sum(axis=0)
    return float(obs), float(best), float(inaction)


def normalized_utility(sums: tuple[float, float, float]) -> float:
    """(U_obs - U_inaction) / (U_best - U_inaction); NaN when no patient is septic."""
    obs, best, inaction = sums
    if best == inaction:
        return float("nan")
    return (obs - inaction) / (best - inaction)
