"""`check` names each missing or malformed file or column, per data set layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedhealth.data import check as ck
from fedhealth.errors import ConfigError


def test_fixtures_pass(mimic_root: Path, sepsis_root: Path) -> None:
    assert ck.check("mimic3-demo", mimic_root) == []
    assert ck.check("physionet2019", sepsis_root) == []


def test_mimic3_missing_file_and_column(tmp_path: Path) -> None:
    (tmp_path / "PATIENTS.csv").write_text("row_id,subject_id,gender\n")
    problems = ck.check("mimic3", tmp_path)
    assert f"{tmp_path / 'PATIENTS.csv'}: missing column 'dob'" in problems
    assert f"{tmp_path / 'LABEVENTS.csv'}: missing file" in problems
    assert not any("NOTEEVENTS" in p for p in problems)  # absent in the demo


def test_physionet_bad_header(sepsis_root: Path, tmp_path: Path) -> None:
    (tmp_path / "training" / "training_setA").mkdir(parents=True)
    (tmp_path / "training" / "training_setA" / "p1.psv").write_text("HR,O2Sat\n")
    problems = ck.check("physionet2019", tmp_path)
    assert any("p1.psv: header is not" in p for p in problems)
    assert f"{tmp_path / 'training' / 'training_setB'}: missing folder" in problems


def test_isic2019(tmp_path: Path) -> None:
    (tmp_path / "ISIC_2019_Training_Input").mkdir()
    (tmp_path / "ISIC_2019_Training_Input" / "ISIC_0000000.jpg").write_bytes(b"\xff\xd8")
    (tmp_path / "ISIC_2019_Training_GroundTruth.csv").write_text(
        "image,MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK\nISIC_0000000,0.0,1.0,0.0,0.0,0.0,0.0,0.0,0.0,"
        "0.0\nISIC_0000001_downsampled,1.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0\n")
    (tmp_path / "ISIC_2019_Training_Metadata.csv").write_text("image,age_approx,sex\n")
    problems = ck.check("isic2019", tmp_path)
    meta = tmp_path / "ISIC_2019_Training_Metadata.csv"
    assert problems == [f"{meta}: missing column 'anatom_site_general'",
                        f"{meta}: missing column 'lesion_id'",
                        f"{tmp_path / 'ISIC_2019_Training_Input' / 'ISIC_0000001_downsampled.jpg'}"
                        ": missing (image)"]


def test_ptb_and_ptbxl(tmp_path: Path) -> None:
    (tmp_path / "RECORDS").write_text("patient001/s0010_re\n")
    (tmp_path / "patient001").mkdir()
    for ext in (".hea", ".dat"):
        (tmp_path / "patient001" / f"s0010_re{ext}").write_text("x")
    assert ck.check("ptb-ecg", tmp_path) == [
        f"{tmp_path / 'patient001' / 's0010_re.xyz'}: missing (record)"]
    xl = tmp_path / "xl"
    (xl / "records100" / "00000").mkdir(parents=True)
    (xl / "ptbxl_database.csv").write_text(",".join(ck.PTBXL_COLUMNS) + "\n" + ",".join(
        ["1"] * 26 + ["records100/00000/00001_lr", "records500/00000/00001_hr"]) + "\n")
    problems = ck.check("ptbxl", xl)
    assert f"{xl / 'scp_statements.csv'}: missing file" in problems
    assert f"{xl / 'records100/00000/00001_lr.hea'}: missing (100 Hz record)" in problems


def test_chexpert(tmp_path: Path) -> None:
    root = tmp_path / "CheXpert-v1.0-small"
    (root / "valid" / "patient64541" / "study1").mkdir(parents=True)
    (root / "valid" / "patient64541" / "study1" / "view1_frontal.jpg").write_bytes(b"\xff")
    (root / "valid.csv").write_text(",".join(ck.CHEXPERT_COLUMNS) + "\n"
                                    "CheXpert-v1.0-small/valid/patient64541/study1/"
                                    "view1_frontal.jpg,Male,73,Frontal,AP" + ",0.0" * 14 + "\n")
    (root / "train.csv").write_text("Path,Sex\n")
    problems = ck.check("chexpert", root)
    assert problems[0] == f"{root / 'train.csv'}: missing column 'Age'"
    assert not any("valid" in p for p in problems)


def test_unknown_name_and_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="known:"):
        ck.check("nope", tmp_path)
    assert ck.check("ptbxl", tmp_path / "absent") == [f"{tmp_path / 'absent'}: missing folder"]
