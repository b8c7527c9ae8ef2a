import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from fedhealth import metrics


@pytest.mark.parametrize("seed", range(5))
def test_exact_metrics_match_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    p = np.round(rng.random(300) * 0.5 + 0.4 * y, 2)  # ties on purpose
    assert metrics.auroc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert metrics.auprc(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_histogram_summaries_sum_and_approximate_exact_metrics(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 1000)
    p = 1 / (1 + np.exp(-(rng.normal(size=1000) + 1.5 * y)))
    halves = [metrics.Summary.of(y[:400], p[:400], 0.0), metrics.Summary.of(y[400:], p[400:], 0.0)]
    total = halves[0] + halves[1]
    assert total.n == 1000 and total.tp + total.fp + total.tn + total.fn == 1000
    assert total.auroc() == pytest.approx(roc_auc_score(y, p), abs=1e-3)
    assert total.auprc() == pytest.approx(average_precision_score(y, p), abs=2e-3)
    m = total.metrics()
    assert m["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert m["accuracy"] == pytest.approx(np.mean((p >= 0.5) == y), abs=1e-12)


def test_one_class_gives_nan_not_a_crash() -> None:
    s = metrics.Summary.of(np.zeros(5), np.linspace(0.1, 0.9, 5), 1.0)
    m = s.metrics()
    assert np.isnan(m["auroc"]) and np.isnan(m["sensitivity"]) and m["specificity"] >= 0
    assert np.isnan(metrics.auroc(np.ones(3), np.ones(3)))
