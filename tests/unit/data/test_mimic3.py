"""MIMIC-III mortality on a demo-layout fixture: cohort rules, windows, bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedhealth.data import mimic3
from fedhealth.data.fitted import fit_site
from fedhealth.data.registry import SiteSpec, load_source, split_source
from fedhealth.errors import DataError
from tests.fixtures import mimic3_demo
from tests.unit.data.conftest import centralized_auroc


def test_demo_tree_has_the_26_files(mimic_root: Path) -> None:
    csvs = sorted(p.name for p in mimic_root.glob("*.csv"))
    assert len(csvs) == 26 and "NOTEEVENTS.csv" in csvs
    assert (mimic_root / "PATIENTS.csv").read_text().splitlines()[0] == \
        "row_id,subject_id,gender,dob,dod,dod_hosp,dod_ssn,expire_flag"


def test_cohort_rules(mimic_root: Path) -> None:
    stays, frame = mimic3.features(mimic_root)
    icu = pd.read_csv(mimic_root / "ICUSTAYS.csv", parse_dates=["intime", "outtime"])
    assert stays.icustay_id.is_unique and stays.hadm_id.is_unique  # one stay per admission
    first = icu.sort_values("intime").drop_duplicates("hadm_id").icustay_id
    assert set(stays.icustay_id) <= set(first)
    assert (stays.age >= 18).all() and (stays.age <= mimic3.OLD_AGE).all()
    assert (stays.age == mimic3.OLD_AGE).any()  # the >89 patients with a shifted dob
    assert ((stays.outtime - stays.intime) >= pd.Timedelta(hours=24)).all()
    assert list(frame.columns) == list(mimic3.FEATURES) and len(frame) == len(stays)


def test_features_use_only_the_first_24_hours(mimic_root: Path) -> None:
    stays, frame = mimic3.features(mimic_root)
    chart = pd.read_csv(mimic_root / "CHARTEVENTS.csv", parse_dates=["charttime"])
    row = stays.iloc[0]
    hr = chart[(chart.icustay_id == row.icustay_id) & chart.itemid.isin((211, 220045))
               & (chart.charttime >= row.intime)
               & (chart.charttime <= row.intime + pd.Timedelta(hours=24))
               & (chart.valuenum > 0)]
    assert frame.hr_mean.iloc[0] == pytest.approx(hr.valuenum.mean())
    assert frame.hr_max.iloc[0] == pytest.approx(hr.valuenum.max())
    assert (frame.hr_min.dropna() > 0).all()  # the charted HR 0 errors are dropped


def test_source_shapes_labels_and_learning(mimic_root: Path) -> None:
    src = load_source("mimic3", mimic_root, {})
    assert src.schema.input_shape == (2 * len(mimic3.FEATURES),)
    assert src.groups is None and set(np.unique(src.labels)) == {0.0, 1.0}
    assert "stays kept" in src.notes[0]
    site = fit_site(split_source(src, SiteSpec(0, 1, "none", seed=0, test_fraction=0.3))[0])
    x = site.train_dataset().tensors[0]
    assert x.shape[1] == 2 * len(mimic3.FEATURES) and np.isfinite(x.numpy()).all()
    assert centralized_auroc(site) > 0.6


def test_uppercase_full_release_headers_and_site_column(tmp_path: Path) -> None:
    root = mimic3_demo.make(tmp_path, n=40, seed=1, uppercase=True)
    assert (root / "ICUSTAYS.csv").read_text().startswith('"ROW_ID","SUBJECT_ID"')
    src = load_source("mimic3", tmp_path, {"site_column": "first_careunit"})
    assert len(src) > 10
    assert set(src.groups) <= {"MICU", "SICU", "CCU", "CSRU", "TSICU"}


def _copy(mimic_root: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "m"
    shutil.copytree(mimic_root, dst)
    return dst


def test_missing_file_and_column_are_named(mimic_root: Path, tmp_path: Path) -> None:
    root = _copy(mimic_root, tmp_path)
    (root / "LABEVENTS.csv").unlink()
    with pytest.raises(DataError, match=r"LABEVENTS\.csv does not exist"):
        load_source("mimic3", root, {})
    shutil.copy(mimic_root / "LABEVENTS.csv", root)
    adm = pd.read_csv(root / "ADMISSIONS.csv").drop(columns="hospital_expire_flag")
    adm.to_csv(root / "ADMISSIONS.csv", index=False)
    with pytest.raises(DataError, match=r"ADMISSIONS\.csv has no column\(s\) hospital_expire"):
        load_source("mimic3", root, {})


def test_bad_label_names_the_line(mimic_root: Path, tmp_path: Path) -> None:
    root = _copy(mimic_root, tmp_path)
    adm = pd.read_csv(root / "ADMISSIONS.csv", dtype=str)
    adm.loc[4, "hospital_expire_flag"] = "2"
    adm.to_csv(root / "ADMISSIONS.csv", index=False)
    with pytest.raises(DataError, match=r"ADMISSIONS\.csv, line 6: hospital_expire_flag is '2'"):
        load_source("mimic3", root, {})


def test_corrupt_rows_are_skipped_and_counted(mimic_root: Path, tmp_path: Path) -> None:
    root = _copy(mimic_root, tmp_path)
    good = len(load_source("mimic3", root, {}))
    with open(root / "ICUSTAYS.csv", "a") as fh:
        fh.write("999,10006,100001,299999,carevue,MICU,MICU,1,1,not-a-date,2101-01-01 00:00:00,1\n")
    with open(root / "CHARTEVENTS.csv", "a") as fh:
        fh.write("9999999,10006,100001,200001,211,garbage,,,80,80,bpm,,,,\n")
    src = load_source("mimic3", root, {})
    assert len(src) == good
    assert any("ICUSTAYS.csv: skipped 1 row(s)" in n for n in src.notes)
    assert any("CHARTEVENTS.csv: skipped 1 event row(s)" in n for n in src.notes)
