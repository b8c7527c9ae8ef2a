"""PTB Diagnostic ECG: the WFDB tree, MI vs healthy labels, windows, bad input, learnability."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import wfdb
from torch import nn

from fedhealth.data import ptb
from fedhealth.data.registry import load_source
from fedhealth.errors import DataError
from tests.fixtures import ptb as fixture
from tests.unit.data_signals.fit import fit_auroc


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fixture.make(tmp_path_factory.mktemp("ptb"), n=40, seed=3)


@pytest.fixture
def copy(root: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(root, tmp_path / "ptb"))


def test_records_are_real_wfdb_in_ptbdb_layout(root: Path) -> None:
    listed = (root / "RECORDS").read_text().split()
    assert len(listed) == 43 and all(re.fullmatch(r"patient\d{3}/s\d{4}[_l]re", r) for r in listed)
    assert set((root / "CONTROLS").read_text().split()) < set(listed)
    header = (root / "patient001" / "s0010_re.hea").read_text().splitlines()
    assert header[0] == "s0010_re 15 1000 10500"
    assert re.fullmatch(r"s0010_re\.dat 16 2000 16 0 -?\d+ -?\d+ 0 i", header[1])
    assert header[13].startswith("s0010_re.xyz 16 2000 16 0 ") and header[15].endswith(" vz")
    assert "# Reason for admission: Myocardial infarction" in header
    assert (root / "patient001" / "s0010_re.dat").stat().st_size == 10500 * 12 * 2
    assert (root / "patient001" / "s0010_re.xyz").stat().st_size == 10500 * 3 * 2

    record = wfdb.rdrecord(str(root / "patient001" / "s0010_re"))
    assert record.fs == 1000 and record.p_signal.shape == (10500, 15)
    assert record.sig_name == list(fixture.NAMES)
    assert record.file_name == ["s0010_re.dat"] * 12 + ["s0010_re.xyz"] * 3
    assert 0.3 < np.abs(record.p_signal[:, 1]).max() < 5  # millivolts, not adc units


def test_labels_windows_and_normalisation(root: Path) -> None:
    source = load_source("ptb-ecg", root, {})
    assert source.schema.modality == "ecg" and source.schema.task == "binary"
    assert source.schema.input_shape == (12, 1000) and source.groups is None
    reasons = [next(c for c in wfdb.rdheader(str(root / r)).comments if c.startswith("Reason"))
               for r in (root / "RECORDS").read_text().split()]
    kept = [r.endswith("infarction") for r in reasons if r.endswith(("infarction", "control"))]
    assert source.labels.tolist() == [float(k) for k in kept]
    assert any(n.startswith("dropped records of other diagnoses") for n in source.notes)

    x, y = source.make_dataset(np.arange(len(source)))[:]
    assert x.dtype == torch.float32 and y.dtype == torch.float32
    assert torch.allclose(x.mean(dim=2), torch.zeros(1), atol=1e-4)
    assert torch.allclose(x.std(dim=2, unbiased=False), torch.ones(1), atol=1e-3)


def test_window_and_rate_options(root: Path) -> None:
    source = ptb.load(root, {"window_s": "5", "sample_rate": "50", "windows": "2"})
    assert source.schema.input_shape == (12, 250)
    assert len(source) == 80  # two 5 s windows of each 10.5 s record


def test_records_shorter_than_the_window_are_counted(root: Path) -> None:
    with pytest.raises(DataError, match="no usable"):
        ptb.load(root, {"window_s": "11"})
    source = ptb.load(root, {"window_s": "5", "windows": "3"})
    assert len(source) == 80


def test_corrupt_and_missing_records_are_skipped_and_counted(copy: Path) -> None:
    dat = copy / "patient001" / "s0010_re.dat"
    dat.write_bytes(dat.read_bytes()[:5000])
    (copy / "patient002" / "s0016_re.hea").unlink()
    source = ptb.load(copy, {})
    assert len(source) == 38
    note = next(n for n in source.notes if n.startswith("skipped 2 unreadable"))
    assert "patient001/s0010_re" in note and "patient002/s0016_re" in note


def test_missing_records_file_is_named(copy: Path) -> None:
    (copy / "RECORDS").unlink()
    with pytest.raises(DataError, match=r"RECORDS is missing"):
        ptb.load(copy, {})


def test_undocumented_reason_names_the_record_and_field(copy: Path) -> None:
    hea = copy / "patient003" / "s0022_re.hea"
    hea.write_text(hea.read_text().replace("Reason for admission: Myocardial infarction",
                                           "Reason for admission: Flu"))
    with pytest.raises(DataError,
                       match=r"s0022_re\.hea: field 'Reason for admission:' holds 'Flu'"):
        ptb.load(copy, {})


def test_missing_reason_names_the_record(copy: Path) -> None:
    hea = copy / "patient001" / "s0013_re.hea"
    hea.write_text("\n".join(line for line in hea.read_text().splitlines()
                             if "Reason" not in line) + "\n")
    with pytest.raises(DataError, match=r"s0013_re\.hea has no 'Reason for admission:'"):
        ptb.load(copy, {})


class TinyECGNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(12, 16, 7, stride=2, padding=3), nn.ReLU(),
            nn.Conv1d(16, 16, 7, stride=2, padding=3), nn.ReLU(),
            nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def test_a_small_ecg_cnn_beats_chance(root: Path) -> None:
    source = ptb.load(root, {})  # one window per record: no record on both sides of the split
    assert fit_auroc(source, TinyECGNet(), epochs=10) > 0.6
