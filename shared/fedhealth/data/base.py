"""What a data set gives a hospital node: a schema, labels, and torch datasets per split.

A `DataSource` is the whole local collection a loader reads (a hospital's own extract,
or in a simulation the full public data set); `SiteData` is one hospital's train and
held-out test split of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

TASKS = ("binary", "multilabel", "multiclass")


@dataclass(frozen=True)
class Schema:
    """What the model sees: modality, task, feature names and per-sample input shape."""

    dataset: str
    modality: str
    task: str
    input_shape: tuple[int, ...]
    feature_names: tuple[str, ...] = ()
    label_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, not {self.task!r}")


@dataclass
class DataSource:
    """A loaded collection of records.

    `labels` holds one label per record (binary 0/1, class index, or a multi-hot row) and
    drives partitioning and stratification. `groups` names each record's natural site
    (a hospital, a recording site) where the data set has one. `make_dataset(idx)` builds a
    torch dataset of `(x, y)` pairs for the records at `idx`. `features(idx)` returns the
    raw numeric feature matrix for tabular data (for federated scaling), else None.
    """

    schema: Schema
    labels: np.ndarray
    make_dataset: Callable[[np.ndarray], object]
    features: Callable[[np.ndarray], np.ndarray | None] = lambda idx: None
    groups: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(len(self.labels))

    @property
    def strata(self) -> np.ndarray:
        """A 1-D label per record for stratified splits (first positive class if multi-hot)."""
        y = np.asarray(self.labels)
        if y.ndim == 1:
            return y.astype(np.int64)
        y = np.nan_to_num(y, nan=0.0)  # a NaN (ignored) label counts as not positive
        return np.where(y.max(axis=1) > 0, y.argmax(axis=1), -1).astype(np.int64)


@dataclass
class SiteData:
    """One hospital's share of a data source: record indices of its train and test splits."""

    source: DataSource
    train_idx: np.ndarray
    test_idx: np.ndarray

    @property
    def schema(self) -> Schema:
        return self.source.schema

    def train_dataset(self) -> object:
        return self.source.make_dataset(self.train_idx)

    def test_dataset(self) -> object:
        return self.source.make_dataset(self.test_idx)

    def train_features(self) -> np.ndarray | None:
        return self.source.features(self.train_idx)
