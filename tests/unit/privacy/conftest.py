"""Shared fixtures: the default data set, standardised per hospital."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from fedhealth.data import registry


def standardise(train: TensorDataset, test: TensorDataset) -> tuple[TensorDataset, TensorDataset]:
    """Scale features by the hospital's own training mean and std."""
    x, y = train.tensors
    mu, sd = x.mean(0), x.std(0).clamp_min(1e-6)
    return (TensorDataset((x - mu) / sd, y),
            TensorDataset((test.tensors[0] - mu) / sd, test.tensors[1]))


@pytest.fixture(scope="session")
def breast_cancer_site():
    site = registry.split_source(registry.load_source("breast_cancer"),
                                 registry.SiteSpec(0, 1, "none", 0))[0]
    torch.manual_seed(0)
    return site.schema, *standardise(site.train_dataset(), site.test_dataset())
