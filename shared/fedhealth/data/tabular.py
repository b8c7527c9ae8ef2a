"""Tabular records as float32 tensors, shared by every tabular loader."""

from __future__ import annotations

import numpy as np

from fedhealth.data.base import DataSource, Schema


def tabular_source(
    name: str, x: np.ndarray, y: np.ndarray, feature_names: list[str],
    groups: np.ndarray | None = None, label_names: tuple[str, ...] = ("negative", "positive"),
) -> DataSource:
    """A binary tabular `DataSource` over a dense feature matrix `x` and 0/1 labels `y`."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)

    def make_dataset(idx: np.ndarray) -> object:
        import torch

        return torch.utils.data.TensorDataset(torch.from_numpy(x[idx]), torch.from_numpy(y[idx]))

    return DataSource(
        schema=Schema(
            dataset=name, modality="tabular", task="binary", input_shape=(x.shape[1],),
            feature_names=tuple(feature_names), label_names=label_names,
        ),
        labels=y,
        make_dataset=make_dataset,
        features=lambda idx: x[idx],
        groups=groups,
    )


def standardizer(count: float, total: np.ndarray, total_sq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, scale) from summable moments; a constant feature gets scale 1."""
    mean = np.asarray(total, dtype=np.float64) / count
    var = np.maximum(np.asarray(total_sq, dtype=np.float64) / count - mean ** 2, 0.0)
    return mean, np.where(var > 1e-12, np.sqrt(var), 1.0)


def scaled(dataset: object, mean: np.ndarray, scale: np.ndarray) -> object:
    """A tensor data set with its features standardized: (x - mean) / scale."""
    import torch

    x, y = dataset.tensors  # type: ignore[attr-defined]
    m = torch.as_tensor(np.asarray(mean), dtype=torch.float32)
    sc = torch.as_tensor(np.asarray(scale), dtype=torch.float32)
    return torch.utils.data.TensorDataset((x - m) / sc, y)
