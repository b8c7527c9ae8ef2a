"""Summable preprocessing statistics: merging equals pooling, and no test-row leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedhealth.data.preprocess import NumericStats, Preprocessor, merge
from fedhealth.errors import DataError


def _frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    x = rng.lognormal(3, 1, n)
    x[rng.random(n) < 0.2] = np.nan
    return pd.DataFrame({"lab": x, "ward": rng.choice(["ICU", "ER", None], n)})


def test_merged_stats_equal_pooled_stats(rng: np.random.Generator) -> None:
    a, b = _frame(rng, 50), _frame(rng, 70)
    p = Preprocessor(["lab"], ["ward"])
    merged = merge([p.local_stats(a), p.local_stats(b)])
    pooled = p.local_stats(pd.concat([a, b]))
    assert merged.rows == pooled.rows == 120
    assert merged.numeric["lab"].count == pooled.numeric["lab"].count
    assert merged.numeric["lab"].total == pytest.approx(pooled.numeric["lab"].total)
    assert np.array_equal(merged.numeric["lab"].hist, pooled.numeric["lab"].hist)
    assert merged.categorical == pooled.categorical


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=200))
def test_histogram_median_within_one_percent(values: list[float]) -> None:
    s = NumericStats.of(np.array(values))
    true = float(np.sort(values)[(len(values) - 1) // 2])  # lower median, as the bins give
    assert abs(s.median - true) <= 0.011 * abs(true) + 0.011
    assert s.mean == pytest.approx(np.mean(values), rel=1e-9, abs=1e-6)


def test_transform_uses_training_stats_only(rng: np.random.Generator) -> None:
    train = pd.DataFrame({"lab": [1.0, 2.0, 3.0, np.nan], "ward": ["ICU", "ICU", "ER", None]})
    test = pd.DataFrame({"lab": [1000.0, np.nan], "ward": ["OR", "ICU"]})
    p = Preprocessor(["lab"], ["ward"]).fit(train)
    assert p.feature_names == ["lab", "lab:missing", "ward=ICU", "ward=ER", "ward=<other>",
                               "ward=<missing>"]
    x = p.transform(test)
    # the test row's 1000 is scaled with the training mean/std, and the gap gets the
    # training median (about 2), not anything from the test rows
    assert x[0, 0] == pytest.approx((1000 - 2) / 1.0)
    assert x[1, 0] == pytest.approx((p.stats.numeric["lab"].median - 2) / 1.0)
    assert x[1, 1] == 1.0
    assert x[0, 4] == 1.0  # unseen ward -> <other>
    assert x[1, 2] == 1.0


def test_unfitted_and_mismatched_stats_are_refused(rng: np.random.Generator) -> None:
    p = Preprocessor(["lab"], ["ward"])
    with pytest.raises(DataError, match="not fitted"):
        p.transform(_frame(rng, 5))
    other = Preprocessor(["lab"], []).local_stats(_frame(rng, 5))
    with pytest.raises(DataError, match="disagree"):
        merge([p.local_stats(_frame(rng, 5)), other])
    with pytest.raises(DataError, match="ward"):
        p.local_stats(pd.DataFrame({"lab": [1.0]}))
