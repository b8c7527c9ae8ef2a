"""CheXpert-v1.0-small: layout, uncertainty policies, tasks, path resolution, bad input, fit."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from fedhealth.data import chexpert
from fedhealth.data.registry import load_source
from fedhealth.errors import DataError
from tests.fixtures import chexpert as fixture
from tests.unit.data_signals.fit import fit_auroc


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fixture.make(tmp_path_factory.mktemp("chexpert"), n=160, seed=5)


@pytest.fixture
def small(tmp_path: Path) -> Path:
    return fixture.make(tmp_path / "cx", n=20, n_valid=5, seed=6) / chexpert.FOLDER


def _csv(root: Path, name: str = "train.csv") -> pd.DataFrame:
    return pd.read_csv(root / chexpert.FOLDER / name)


def test_tree_matches_chexpert_small(root: Path) -> None:
    train, valid = _csv(root), _csv(root, "valid.csv")
    assert list(train.columns) == list(chexpert.COLUMNS) and len(train.columns) == 19
    assert train["Path"].str.match(r"CheXpert-v1\.0-small/train/patient\d{5}/study\d+/"
                                   r"view\d_(frontal|lateral)\.jpg").all()
    assert valid["Path"].iloc[0].startswith("CheXpert-v1.0-small/valid/patient64541/")
    assert set(np.unique(train[list(chexpert.OBSERVATIONS)].stack())) == {-1.0, 0.0, 1.0}
    assert set(np.unique(valid[list(chexpert.OBSERVATIONS)].to_numpy())) == {0.0, 1.0}
    assert train.loc[train["Frontal/Lateral"] == "Lateral", "AP/PA"].isna().all()
    with Image.open(root / train["Path"].iloc[0]) as img:
        assert img.mode == "L" and 39 <= min(img.size) and max(img.size) <= 48


@pytest.mark.parametrize("policy", ["ignore", "zeros", "ones", "mixed"])
def test_uncertainty_policies(root: Path, policy: str) -> None:
    source = chexpert.load(root, {"uncertainty": policy})
    assert source.schema.task == "multilabel" and source.schema.label_names == chexpert.COMPETITION
    raw = _csv(root)[list(chexpert.COMPETITION)].to_numpy()
    got = source.labels
    assert np.array_equal(got[raw == 1.0], np.ones((raw == 1.0).sum()))
    assert not got[(raw == 0.0) | np.isnan(raw)].any()  # blank = negative
    uncertain = got[raw == -1.0]
    if policy == "ignore":
        assert np.isnan(uncertain).all()
    elif policy == "ones":
        assert (uncertain == 1).all()
    elif policy == "zeros":
        assert (uncertain == 0).all()
    else:
        ones = np.isin(chexpert.COMPETITION, ["Atelectasis", "Edema"])
        assert np.array_equal(got[:, ones][raw[:, ones] == -1], np.ones((raw[:, ones] == -1).sum()))
        assert not got[:, ~ones][raw[:, ~ones] == -1].any()
    assert (source.strata >= 0).sum() == (np.nan_to_num(got) > 0).any(axis=1).sum()


def test_tasks_views_and_splits(root: Path) -> None:
    every = chexpert.load(root, {"tasks": "all", "frontal_only": "1", "image_size": "32"})
    assert every.schema.label_names == chexpert.OBSERVATIONS
    assert len(every) == (_csv(root)["Frontal/Lateral"] == "Frontal").sum()
    x, y = every.make_dataset(np.arange(2))[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and y.shape == (14,)
    assert len(chexpert.load(root, {"split": "valid"})) == 20
    assert len(chexpert.load(root, {"split": "all"})) == 180


def test_paths_resolve_from_parent_folder_or_renamed_folder(root: Path, tmp_path: Path) -> None:
    assert len(load_source("chexpert", root, {})) == 160
    assert len(chexpert.load(root / chexpert.FOLDER, {})) == 160
    renamed = Path(shutil.copytree(root / chexpert.FOLDER, tmp_path / "cxr-small"))
    source = chexpert.load(renamed, {})
    assert len(source) == 160 and not source.notes


def test_corrupt_image_is_skipped_and_counted(small: Path) -> None:
    rel = pd.read_csv(small / "train.csv")["Path"].iloc[3]
    image = small.parent / rel
    image.write_bytes(image.read_bytes()[:150])
    source = chexpert.load(small, {})
    assert len(source) == 19
    assert any(n.startswith("skipped 1 ") and image.name in n for n in source.notes)


def test_missing_file_and_column_are_named(small: Path) -> None:
    frame = pd.read_csv(small / "train.csv", dtype=str, keep_default_na=False)
    frame.drop(columns="Edema").to_csv(small / "train.csv", index=False)
    with pytest.raises(DataError, match=r"train\.csv lacks column\(s\) 'Edema'"):
        chexpert.load(small, {})
    (small / "valid.csv").unlink()
    with pytest.raises(DataError, match=r"valid\.csv is missing"):
        chexpert.load(small, {"split": "valid"})


@pytest.mark.parametrize(("column", "value"), [("Cardiomegaly", "2.0"),
                                               ("Frontal/Lateral", "Side"), ("Sex", "M")])
def test_value_outside_the_set_names_the_row(small: Path, column: str, value: str) -> None:
    frame = pd.read_csv(small / "train.csv", dtype=str, keep_default_na=False)
    frame.loc[6, column] = value
    frame.to_csv(small / "train.csv", index=False)
    with pytest.raises(DataError, match=rf"row 8 \(CheXpert-v1\.0-small/train/.*'{column}' holds"):
        chexpert.load(small, {})


class TinyCNN(nn.Module):
    def __init__(self, outputs: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(16 * 16, outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def test_a_small_cnn_beats_chance_under_u_ignore(root: Path) -> None:
    source = chexpert.load(root, {"image_size": "32"})
    assert np.isnan(source.labels).any()  # the NaN labels go through the masked loss
    assert fit_auroc(source, TinyCNN(5), epochs=10) > 0.6
