"""Every real data set end to end on a fixture in its published format:
`fedhealth run --dataset X --data-dir FIXTURE --hospitals 2 --rounds 3` completes and the
federated model beats chance on the hospitals' held-out splits."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import fedhealth_cmd
from tests.fixtures import (chexpert, isic2019, lung_csv, mimic3_demo, physionet2019, ptb,
                            ptbxl, wdbc_csv)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CASES = {
    # name: (fixture module, partition, extra arguments, AUROC floor)
    "mimic3": (mimic3_demo, "iid", [], 0.6),
    "isic2019": (isic2019, "natural", [], 0.6),
    "ptb-ecg": (ptb, "iid", [], 0.6),
    "ptbxl": (ptbxl, "natural", [], 0.6),
    "chexpert": (chexpert, "iid", ["--data-option", "uncertainty=ones"], 0.6),
    "physionet2019": (physionet2019, "natural", [], 0.6),
    "csv": (wdbc_csv, "natural", ["--target", "diagnosis", "--site-column", "site",
                                  "--data-option", "positive=malignant"], 0.6),
}


@pytest.mark.parametrize("dataset", sorted(CASES))
def test_dataset_federates_and_beats_chance(dataset: str, tmp_path: Path) -> None:
    module, partition, extra, floor = CASES[dataset]
    data = module.make(tmp_path / "data")
    out = tmp_path / "run"
    proc = subprocess.run(
        fedhealth_cmd("run", "--in-process", "--no-progress", "--dataset", dataset,
                      "--data-dir", str(data), "--hospitals", "2", "--rounds", "3",
                      "--partition", partition, "--seed", "0", "--out", str(out), *extra),
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert len(results["rounds"]) == 3 and len(results["per_hospital"]) == 2
    assert results["final"]["auroc"] > floor, results["final"]
    assert results["baselines"]["pooled"]["auroc"] is not None


def test_lung_table_runs_one_hospital_per_institution(tmp_path: Path) -> None:
    """lifelines' real lung table: 18 institutions (inst), target status."""
    data = lung_csv.make(tmp_path / "data")
    out = tmp_path / "run"
    proc = subprocess.run(
        fedhealth_cmd("run", "--in-process", "--no-progress", "--dataset", "csv", "--data-dir",
                      str(data), "--target", "status", "--site-column", "inst", "--partition",
                      "natural", "--hospitals", "18", "--rounds", "2", "--out", str(out)),
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert len(results["per_hospital"]) == 18
    assert all(name.startswith("site-") for name in results["per_hospital"])
    assert sum(h["n_train"] + h["n_test"] for h in results["per_hospital"].values()) == 227
