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


def test_multiclass_and_multilabel_summaries_match_exact_macro_auroc() -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 3, 600)
    logits = rng.normal(size=(600, 3)) + 2.0 * np.eye(3)[y]
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    s = metrics.Summary.of(y[:300], p[:300], 0.0, "multiclass") + \
        metrics.Summary.of(y[300:], p[300:], 0.0, "multiclass")
    exact = roc_auc_score(y, p, multi_class="ovr", average="macro")
    assert s.auroc() == pytest.approx(exact, abs=1e-3)
    assert metrics.macro_auroc(y, p, "multiclass") == pytest.approx(exact, abs=1e-12)
    assert s.metrics()["accuracy"] == pytest.approx(np.mean(p.argmax(1) == y))
    ym = (rng.random((500, 4)) < 0.3).astype(float)
    pm = 1 / (1 + np.exp(-(rng.normal(size=(500, 4)) + 2 * ym)))
    ym[rng.random((500, 4)) < 0.1] = np.nan  # U-Ignore: missing labels are skipped
    sm = metrics.Summary.of(ym, pm, 0.0, "multilabel")
    per = [roc_auc_score(ym[~np.isnan(ym[:, j]), j], pm[~np.isnan(ym[:, j]), j]) for j in range(4)]
    assert sm.auroc() == pytest.approx(np.mean(per), abs=1e-3)
