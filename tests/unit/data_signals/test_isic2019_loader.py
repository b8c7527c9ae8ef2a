"""ISIC 2019: FLamby's centre split, multiclass labels, metadata inputs, bad input, learnability."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from fedhealth.data import isic2019
from fedhealth.data.registry import SiteSpec, load_source, split_source
from fedhealth.errors import DataError
from tests.fixtures import isic2019 as fixture
from tests.unit.data_signals.fit import fit_auroc


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fixture.make(tmp_path_factory.mktemp("isic"), n=120, seed=1)


@pytest.fixture
def small(tmp_path: Path) -> Path:
    return fixture.make(tmp_path / "isic", n=18, seed=2, n_null=2)


def test_tree_matches_the_published_layout(root: Path) -> None:
    names = sorted(p.name for p in (root / "ISIC_2019_Training_Input").iterdir())
    assert "ATTRIBUTION.txt" in names and "LICENSE.txt" in names
    assert "ISIC_0000000_downsampled.jpg" in names
    assert all(n.endswith(".txt") or len(n.split("_")[1].split(".")[0]) == 7 for n in names)
    truth = pd.read_csv(root / isic2019.GROUND_TRUTH)
    assert list(truth.columns) == ["image", *isic2019.ONE_HOT]
    meta = pd.read_csv(root / isic2019.METADATA)
    assert list(meta.columns) == list(isic2019.META_COLUMNS)


def test_schema_labels_and_flamby_centres(root: Path) -> None:
    source = load_source("isic2019", root, {})
    assert source.schema.modality == "image" and source.schema.task == "multiclass"
    assert source.schema.input_shape == (3, 64, 64)
    assert source.schema.label_names == ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC")
    assert len(source) == 120  # the 4 null-lesion-id images are dropped
    assert any("null lesion_id" in note for note in source.notes)

    truth = pd.read_csv(root / isic2019.GROUND_TRUTH).set_index("image")
    meta = pd.read_csv(root / isic2019.METADATA).dropna(subset=["lesion_id"])
    ham = pd.read_csv(root / "HAM10000_metadata.csv").set_index("image_id")["dataset"]
    expected = {"BCN": "0", "HAM_vidir_molemax": "1", "HAM_vidir_modern": "2",
                "HAM_rosendahl": "3", "MSK4": "4", "HAM_vienna_dias": "5"}
    want = [expected[lid.split("_")[0] if not lid.startswith("HAM") else f"HAM_{ham[img]}"]
            for img, lid in zip(meta["image"], meta["lesion_id"])]
    assert list(source.groups) == want
    assert Counter(source.groups) == {"0": 36, "1": 24, "2": 18, "3": 18, "4": 12, "5": 12}
    onehot = truth.loc[meta["image"], list(isic2019.ONE_HOT)].to_numpy()
    assert np.array_equal(source.labels, onehot.argmax(axis=1))

    x, y = source.make_dataset(np.array([0, 1]))[1]
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32 and y.dtype == torch.int64


def test_natural_partition_gives_the_largest_centres(root: Path) -> None:
    source = isic2019.load(root, {"image_size": "32"})
    sites = split_source(source, SiteSpec(index=0, count=2, partition="natural"))
    assert [len(s.train_idx) + len(s.test_idx) for s in sites] == [36, 24]
    assert set(source.groups[sites[0].train_idx]) == {"0"}


def test_metadata_gives_multimodal_inputs(root: Path) -> None:
    source = isic2019.load(root, {"with_metadata": "1", "image_size": "32"})
    assert source.schema.modality == "multimodal"
    assert source.schema.feature_names == isic2019.FEATURE_NAMES
    meta = pd.read_csv(root / isic2019.METADATA).dropna(subset=["lesion_id"]).reset_index()
    dataset = source.make_dataset(np.arange(len(source)))
    for i in range(len(source)):
        (image, tab), _ = dataset[i]
        assert image.shape == (3, 32, 32) and tab.shape == (len(isic2019.FEATURE_NAMES),)
        row = meta.loc[i]
        if pd.isna(row.age_approx):
            assert tab[0] == 0 and tab[1] == 1
        else:
            assert tab[0] == pytest.approx(row.age_approx / 85) and tab[1] == 0
        assert tab[2:4].sum() == (0 if pd.isna(row.sex) else 1)
        assert tab[4:].sum() == (0 if pd.isna(row.anatom_site_general) else 1)


def test_corrupt_image_is_skipped_and_counted(small: Path) -> None:
    victim = small / "ISIC_2019_Training_Input" / "ISIC_0000005.jpg"
    victim.write_bytes(victim.read_bytes()[:200])  # truncated JPEG: opens, fails to decode
    (small / "ISIC_2019_Training_Input" / "ISIC_0000006.jpg").unlink()
    source = isic2019.load(small, {})
    assert len(source) == 16
    note = next(n for n in source.notes if n.startswith("skipped 2 "))
    assert "ISIC_0000005.jpg" in note and "ISIC_0000006.jpg" in note


@pytest.mark.parametrize(("file", "column"), [
    (isic2019.GROUND_TRUTH, "SCC"), (isic2019.METADATA, "lesion_id"),
    ("HAM10000_metadata.csv", "dataset")])
def test_missing_column_names_file_and_column(small: Path, file: str, column: str) -> None:
    frame = pd.read_csv(small / file, dtype=str, keep_default_na=False)
    frame.drop(columns=column).to_csv(small / file, index=False)
    with pytest.raises(DataError, match=rf"{file}.*'{column}'"):
        isic2019.load(small, {})


@pytest.mark.parametrize("file", [isic2019.GROUND_TRUTH, isic2019.METADATA,
                                  "HAM10000_metadata.csv"])
def test_missing_file_is_named(small: Path, file: str) -> None:
    (small / file).unlink()
    with pytest.raises(DataError, match=file):
        isic2019.load(small, {})


def test_flamby_extensionless_ham_file_is_found(small: Path) -> None:
    (small / "HAM10000_metadata.csv").rename(small / "HAM10000_metadata")
    assert set(isic2019.load(small, {}).groups) <= set("012345")


def test_label_outside_one_hot_names_the_row(small: Path) -> None:
    path = small / isic2019.GROUND_TRUTH
    lines = path.read_text().splitlines()
    name = lines[5].split(",")[0]
    lines[5] = ",".join([name, "1.0", "1.0"] + ["0.0"] * 7)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"row 6 \(image '{name}'\)"):
        isic2019.load(small, {})


def test_metadata_value_outside_the_set_names_row_and_column(small: Path) -> None:
    path = small / isic2019.METADATA
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[3, "sex"] = "M"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"row 5 .*'sex' holds 'M'"):
        isic2019.load(small, {})


class TinyCNN(nn.Module):
    def __init__(self, classes: int, extra: int = 0) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(16 + extra, classes)

    def forward(self, image: torch.Tensor, tab: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(image)
        return self.head(h if tab is None else torch.cat([h, tab], dim=1))


def test_a_small_cnn_beats_chance(root: Path) -> None:
    source = isic2019.load(root, {"image_size": "32"})
    assert fit_auroc(source, TinyCNN(8), epochs=6) > 0.6


def test_a_fusion_model_trains_on_multimodal_batches(root: Path) -> None:
    source = isic2019.load(root, {"image_size": "32", "with_metadata": "1"})
    model = TinyCNN(8, extra=len(source.schema.feature_names))
    assert fit_auroc(source, model, epochs=6) > 0.6
