"""Fixture trees built once per test session (they take a few seconds each)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.fixtures import lung_csv, mimic3_demo, physionet2019


@pytest.fixture(scope="session")
def lung_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return lung_csv.make(tmp_path_factory.mktemp("lung"))


@pytest.fixture(scope="session")
def mimic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mimic3_demo.make(tmp_path_factory.mktemp("mimic"), n=120, seed=3)


@pytest.fixture(scope="session")
def sepsis_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return physionet2019.make(tmp_path_factory.mktemp("sepsis"), n=100, seed=0)


def centralized_auroc(site) -> float:
    """AUROC on the test split of a logistic regression fitted on the training split."""
    from sklearn.linear_model import LogisticRegression

    from fedhealth.metrics import auroc

    x, y = (t.numpy() for t in site.train_dataset().tensors)
    xt, yt = (t.numpy() for t in site.test_dataset().tensors)
    clf = LogisticRegression(C=0.3, max_iter=2000).fit(x.reshape(len(x), -1), y)
    return auroc(yt, clf.predict_proba(xt.reshape(len(xt), -1))[:, 1])


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
