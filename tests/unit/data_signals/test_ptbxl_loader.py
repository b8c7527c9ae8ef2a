"""PTB-XL: the published tree, superclass labels, site groups, options, bad input, learnability."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import wfdb
from torch import nn

from fedhealth.data import ptbxl
from fedhealth.data.registry import SiteSpec, load_source, split_source
from fedhealth.errors import ConfigError, DataError
from tests.fixtures import ptbxl as fixture
from tests.unit.data_signals.fit import fit_auroc


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fixture.make(tmp_path_factory.mktemp("ptbxl"), n=120, seed=4)


@pytest.fixture
def copy(root: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(root, tmp_path / "ptbxl"))


def test_tree_and_records_match_ptbxl(root: Path, tmp_path: Path) -> None:
    db = pd.read_csv(root / "ptbxl_database.csv")
    assert len(db.columns) == 28 and list(db.columns) == fixture.COLUMNS
    assert db.loc[0, "filename_lr"] == "records100/00000/00001_lr"
    assert (root / "scp_statements.csv").read_text().startswith(",description,diagnostic,form,")
    lr = wfdb.rdrecord(str(root / "records100/00000/00001_lr"))
    hr = wfdb.rdrecord(str(root / "records500/00000/00001_hr"))
    assert (lr.fs, lr.p_signal.shape) == (100, (1000, 12))
    assert (hr.fs, hr.p_signal.shape) == (500, (5000, 12))
    assert lr.sig_name == list(fixture.LEADS) and lr.units == ["mV"] * 12
    # the fixture's direct writer produces exactly the bytes wfdb.wrsamp would
    signal = lr.p_signal
    (tmp_path / "w").mkdir()
    wfdb.wrsamp("00001_lr", fs=100, units=["mV"] * 12, sig_name=list(fixture.LEADS),
                p_signal=signal, fmt=["16"] * 12, adc_gain=[1000.0] * 12, baseline=[0] * 12,
                write_dir=str(tmp_path / "w"))
    fixture.write_record(tmp_path / "d" / "00001_lr", 100, signal)
    for ext in ("hea", "dat"):
        assert (tmp_path / "w" / f"00001_lr.{ext}").read_bytes() == \
            (tmp_path / "d" / f"00001_lr.{ext}").read_bytes()


def _expected(root: Path, rule: str) -> list:
    db = pd.read_csv(root / "ptbxl_database.csv")
    st = pd.read_csv(root / "scp_statements.csv", index_col=0)
    out = []
    for text in db["scp_codes"]:
        classes = {st.loc[c, "diagnostic_class"] for c in ast.literal_eval(text)
                   if st.loc[c, "diagnostic"] == 1}
        if classes:
            out.append(classes)
    if rule == "abnormal":
        return [float(c != {"NORM"}) for c in out]
    return [[float(s in c) for s in ptbxl.SUPERCLASSES] for c in out]


def test_default_task_is_norm_vs_abnormal_grouped_by_site(root: Path) -> None:
    source = load_source("ptbxl", root, {})
    assert source.schema.modality == "ecg" and source.schema.task == "binary"
    assert source.schema.input_shape == (12, 1000)
    assert source.labels.tolist() == _expected(root, "abnormal")
    assert "dropped 2 records without a diagnostic statement" in source.notes
    db = pd.read_csv(root / "ptbxl_database.csv")
    kept = db[~db["scp_codes"].str.startswith("{'LVOLT")]  # the fixture's non-diagnostic kind
    want = [None if np.isnan(s) else str(int(s)) for s in kept["site"]]
    assert list(source.groups) == want
    x, y = source.make_dataset(np.arange(4))[2]
    assert x.shape == (12, 1000) and x.dtype == torch.float32
    assert torch.allclose(x.std(dim=1, unbiased=False), torch.ones(12), atol=1e-3)

    sites = split_source(source, SiteSpec(index=0, count=2, partition="natural"))
    assert set(source.groups[sites[0].train_idx]) == {"0"}


def test_superclass_mi_sampling_and_folds(root: Path) -> None:
    multi = ptbxl.load(root, {"task": "superclass"})
    assert multi.schema.task == "multilabel" and multi.schema.label_names == ptbxl.SUPERCLASSES
    assert multi.labels.tolist() == _expected(root, "superclass")
    mi = ptbxl.load(root, {"task": "mi"})
    assert mi.labels.tolist() == multi.labels[:, 1].tolist()
    hr = ptbxl.load(root, {"sampling": "500", "folds": "9,10"})
    assert hr.schema.input_shape == (12, 5000)
    assert hr.make_dataset(np.array([0]))[0][0].shape == (12, 5000)
    db = pd.read_csv(root / "ptbxl_database.csv")
    diagnostic = ~db["scp_codes"].str.startswith("{'LVOLT")
    assert len(hr) == sum(db["strat_fold"].isin([9, 10]) & diagnostic)
    with pytest.raises(ConfigError, match="sampling"):
        ptbxl.load(root, {"sampling": "250"})
    with pytest.raises(ConfigError, match="folds"):
        ptbxl.load(root, {"folds": "0-3"})


def test_missing_column_and_file_are_named(copy: Path, root: Path) -> None:
    db = pd.read_csv(copy / "ptbxl_database.csv")
    db.drop(columns="scp_codes").to_csv(copy / "ptbxl_database.csv", index=False)
    with pytest.raises(DataError, match=r"ptbxl_database\.csv lacks column\(s\) 'scp_codes'"):
        ptbxl.load(copy, {})
    shutil.copy(root / "ptbxl_database.csv", copy / "ptbxl_database.csv")
    st = pd.read_csv(copy / "scp_statements.csv", index_col=0)
    st.drop(columns="diagnostic_class").to_csv(copy / "scp_statements.csv")
    with pytest.raises(DataError,
                       match=r"scp_statements\.csv lacks column\(s\) 'diagnostic_class'"):
        ptbxl.load(copy, {})
    (copy / "scp_statements.csv").unlink()
    with pytest.raises(DataError, match=r"scp_statements\.csv is missing"):
        ptbxl.load(copy, {})


@pytest.mark.parametrize(("column", "value", "message"), [
    ("scp_codes", "{'XYZ': 100.0}", r"ecg_id 4: SCP code 'XYZ'"),
    ("scp_codes", "NORM", r"ecg_id 4: column 'scp_codes' holds 'NORM'"),
    ("sex", 2, r"row 5 \(ecg_id 4\): column 'sex' holds 2"),
])
def test_bad_values_name_the_row(copy: Path, column: str, value: object, message: str) -> None:
    db = pd.read_csv(copy / "ptbxl_database.csv")
    db[column] = db[column].astype(object)
    db.loc[3, column] = value
    db.to_csv(copy / "ptbxl_database.csv", index=False)
    with pytest.raises(DataError, match=message):
        ptbxl.load(copy, {})


def test_corrupt_and_missing_records_are_skipped_and_counted(copy: Path, root: Path) -> None:
    dat = copy / "records100/00000/00003_lr.dat"
    dat.write_bytes(dat.read_bytes()[:999])
    (copy / "records100/00000/00005_lr.hea").unlink()
    source = ptbxl.load(copy, {})
    assert len(source) == len(ptbxl.load(root, {})) - 2
    note = next(n for n in source.notes if n.startswith("skipped 2 "))
    assert "00003_lr" in note and "00005_lr" in note


class TinyECGNet(nn.Module):
    def __init__(self, outputs: int = 1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(12, 16, 7, stride=2, padding=3), nn.ReLU(),
            nn.Conv1d(16, 16, 7, stride=2, padding=3), nn.ReLU(),
            nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(16, outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def test_a_small_ecg_cnn_beats_chance(root: Path) -> None:
    assert fit_auroc(ptbxl.load(root, {}), TinyECGNet(), epochs=8) > 0.6
