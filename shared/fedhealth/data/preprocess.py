"""Tabular preprocessing fitted from summable statistics, so it can be fitted federatedly.

Each hospital computes `PreprocessStats` on its own training rows: row count, and per
numeric column the count, sum and sum of squares of observed values plus a histogram of
`asinh(value)` in fixed bins; per categorical column the count of each value. Stats of
several hospitals add up (`merge`), and a `Preprocessor` built from the merged stats is
the one every hospital applies. Fitting on one hospital's training split is the same
path with a single stats object, so test rows never shape the transform.

The transform: numeric columns get median imputation (median from the histogram, within
about 1% of the value), a `col:missing` indicator (always, so the layout of numeric
columns does not depend on which hospital had gaps), and z-scoring with the summed
mean and variance; categorical columns are one-hot over a
vocabulary (most frequent values first, at most `max_categories`), with `col=<other>`
for unseen values and `col=<missing>` for blanks.

Note for secure aggregation: the numeric arrays are dense and fixed-size, so they can be
masked and summed as vectors; the category counts are a dict keyed by value, so the
hospitals must first agree on the candidate values (e.g. from the data dictionary).
"""

from __future__ import annotations

import json

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fedhealth.errors import DataError

HIST_LIMIT = 20.0  # asinh range covered: |value| up to sinh(20), about 2.4e8
HIST_BINS = 4000  # bin width 0.01 in asinh space: about 1% of the value
OTHER = "<other>"
MISSING = "<missing>"


@dataclass
class NumericStats:
    """Summable statistics of one numeric column's observed (non-missing) values."""

    count: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    hist: np.ndarray = field(default_factory=lambda: np.zeros(HIST_BINS, dtype=np.int64))

    @classmethod
    def of(cls, values: np.ndarray) -> NumericStats:
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        edges = np.linspace(-HIST_LIMIT, HIST_LIMIT, HIST_BINS + 1)
        bins = np.clip(np.searchsorted(edges, np.arcsinh(v), side="right") - 1, 0, HIST_BINS - 1)
        hist = np.bincount(bins, minlength=HIST_BINS).astype(np.int64)
        return cls(int(v.size), float(v.sum()), float((v * v).sum()), hist)

    def __add__(self, other: NumericStats) -> NumericStats:
        return NumericStats(self.count + other.count, self.total + other.total,
                            self.total_sq + other.total_sq, self.hist + other.hist)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    @property
    def std(self) -> float:
        if self.count < 2:
            return 1.0
        var = (self.total_sq - self.count * self.mean ** 2) / (self.count - 1)
        return float(np.sqrt(var)) if var > 1e-12 else 1.0

    @property
    def median(self) -> float:
        """The (lower) median from the histogram: sinh of the centre of the middle bin."""
        if not self.count:
            return 0.0
        k = int(np.searchsorted(np.cumsum(self.hist), (self.count + 1) // 2))
        width = 2 * HIST_LIMIT / HIST_BINS
        return float(np.sinh(-HIST_LIMIT + (k + 0.5) * width))


@dataclass
class PreprocessStats:
    """Everything a `Preprocessor` is fitted from; `merge` adds several together."""

    rows: int
    numeric: dict[str, NumericStats]
    categorical: dict[str, dict[str, int]]


def merge(stats_list: list[PreprocessStats]) -> PreprocessStats:
    """Sum the stats of several hospitals; their column sets must agree."""
    if not stats_list:
        raise DataError("no preprocessing statistics to merge")
    first = stats_list[0]
    for s in stats_list[1:]:
        if set(s.numeric) != set(first.numeric) or set(s.categorical) != set(first.categorical):
            raise DataError(
                "preprocessing statistics disagree on columns: "
                f"{sorted(first.numeric)}+{sorted(first.categorical)} vs "
                f"{sorted(s.numeric)}+{sorted(s.categorical)}")
    numeric = {c: sum((s.numeric[c] for s in stats_list[1:]), first.numeric[c])
               for c in first.numeric}
    categorical = {}
    for c in first.categorical:
        counts: Counter[str] = Counter()
        for s in stats_list:
            counts.update(s.categorical[c])
        categorical[c] = dict(counts)
    return PreprocessStats(sum(s.rows for s in stats_list), numeric, categorical)


class Preprocessor:
    """Impute, scale and one-hot a frame with fixed columns, from `PreprocessStats`."""

    def __init__(self, numeric: list[str], categorical: list[str], max_categories: int = 20):
        self.numeric = list(numeric)
        self.categorical = list(categorical)
        self.max_categories = max_categories
        self.stats: PreprocessStats | None = None

    def local_stats(self, frame: pd.DataFrame) -> PreprocessStats:
        """This hospital's summable statistics of `frame` (its training rows)."""
        self._check_columns(frame)
        numeric = {c: NumericStats.of(_as_float(frame[c], c)) for c in self.numeric}
        categorical = {c: dict(Counter(_as_text(frame[c]))) for c in self.categorical}
        return PreprocessStats(len(frame), numeric, categorical)

    def fit(self, frame: pd.DataFrame) -> Preprocessor:
        """Fit on `frame` alone (one hospital's training rows)."""
        return self.use(self.local_stats(frame))

    def use(self, stats: PreprocessStats) -> Preprocessor:
        """Adopt (e.g. federatedly merged) statistics."""
        missing = [c for c in self.numeric if c not in stats.numeric]
        missing += [c for c in self.categorical if c not in stats.categorical]
        if missing:
            raise DataError(f"preprocessing statistics lack column(s) {', '.join(missing)}")
        self.stats = stats
        return self

    def _vocab(self, col: str) -> list[str]:
        assert self.stats is not None
        counts = {k: v for k, v in self.stats.categorical[col].items() if k != MISSING}
        ranked = sorted(counts, key=lambda k: (-counts[k], k))
        return ranked[: self.max_categories]

    @property
    def feature_names(self) -> list[str]:
        """Output column names, in order."""
        self._fitted()
        names: list[str] = []
        for c in self.numeric:
            names += [c, f"{c}:missing"]
        for c in self.categorical:
            names += [f"{c}={v}" for v in self._vocab(c)] + [f"{c}={OTHER}", f"{c}={MISSING}"]
        return names

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The float32 design matrix of `frame`."""
        stats = self._fitted()
        self._check_columns(frame)
        parts: list[np.ndarray] = []
        for c in self.numeric:
            s = stats.numeric[c]
            v = _as_float(frame[c], c)
            gap = ~np.isfinite(v)
            v = np.where(gap, s.median, v)
            parts.append((v - s.mean) / s.std)
            parts.append(gap.astype(np.float64))
        for c in self.categorical:
            text = _as_text(frame[c])
            vocab = self._vocab(c)
            for value in vocab:
                parts.append((text == value).astype(np.float64))
            parts.append(((text != MISSING) & ~np.isin(text, vocab)).astype(np.float64))
            parts.append((text == MISSING).astype(np.float64))
        if not parts:
            return np.zeros((len(frame), 0), dtype=np.float32)
        return np.column_stack(parts).astype(np.float32)

    def _fitted(self) -> PreprocessStats:
        if self.stats is None:
            raise DataError("the preprocessor is not fitted: fit it on the training split first")
        return self.stats

    def _check_columns(self, frame: pd.DataFrame) -> None:
        absent = [c for c in self.numeric + self.categorical if c not in frame.columns]
        if absent:
            raise DataError(f"table lacks column(s) {', '.join(absent)}")


def _as_float(s: pd.Series, name: str) -> np.ndarray:
    v = pd.to_numeric(s, errors="coerce")
    bad = v.isna() & s.notna() & (s.astype(str).str.strip() != "")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"column {name!r}, row {row}: {s.iloc[row]!r} is not a number")
    return v.to_numpy(dtype=np.float64)


def _as_text(s: pd.Series) -> np.ndarray:
    text = s.astype(object).where(s.notna(), MISSING).astype(str).str.strip()
    return np.where(text == "", MISSING, text).astype(object)


def stats_to_bytes(stats: PreprocessStats) -> bytes:
    """Wire form of `PreprocessStats` (JSON; histograms as integer lists)."""
    return json.dumps({
        "rows": stats.rows,
        "numeric": {c: [s.count, s.total, s.total_sq, s.hist.tolist()] for c, s in stats.numeric.items()},
        "categorical": stats.categorical,
    }, sort_keys=True).encode()


def stats_from_bytes(blob: bytes) -> PreprocessStats:
    """Inverse of `stats_to_bytes`; a malformed blob is a `DataError`."""
    try:
        raw = json.loads(blob)
        numeric = {c: NumericStats(int(v[0]), float(v[1]), float(v[2]), np.asarray(v[3], dtype=np.int64))
                   for c, v in raw["numeric"].items()}
        for c, s in numeric.items():
            if s.hist.shape != (HIST_BINS,):
                raise ValueError(f"column {c}: histogram of {s.hist.size} bins")
        categorical = {c: {str(k): int(n) for k, n in v.items()} for c, v in raw["categorical"].items()}
        return PreprocessStats(int(raw["rows"]), numeric, categorical)
    except (ValueError, KeyError, TypeError, IndexError) as err:
        raise DataError(f"malformed preprocessing statistics: {err}") from None
