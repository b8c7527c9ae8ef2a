"""`fedhealth run` and `fedhealth predict` as a user runs them: real processes, real files."""

import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from fedhealth.data.breast_cancer import FEATURE_NAMES, load
from tests.conftest import fedhealth_cmd

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "run"
    proc = subprocess.run(fedhealth_cmd("run", "--hospitals", "3", "--rounds", "10", "--partition",
                                        "dirichlet:0.5", "--seed", "0", "--out", str(out)),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "final AUROC" in proc.stdout
    return out


def test_results_follow_the_run_directory_contract(demo_run: Path) -> None:
    r = json.loads((demo_run / "results.json").read_text())
    assert set(r) >= {"config", "rounds", "final", "per_hospital", "baselines", "privacy"}
    assert len(r["rounds"]) == 10
    for row in r["rounds"]:
        assert set(row) >= {"round", "participants", "dropped", "duration_s", "bytes_up",
                            "bytes_down", "loss", "auroc", "auprc", "accuracy"}
        assert len(row["participants"]) == 3 and row["dropped"] == []
    assert set(r["final"]) >= {"auroc", "auprc", "accuracy", "sensitivity", "specificity", "brier"}
    assert set(r["per_hospital"]) == {"hospital-1", "hospital-2", "hospital-3"}
    assert sum(h["n_test"] for h in r["per_hospital"].values()) + \
        sum(h["n_train"] for h in r["per_hospital"].values()) == 569
    assert set(r["baselines"]["local_only"]) == set(r["per_hospital"])
    pooled = r["baselines"]["pooled"]["auroc"]
    assert abs(r["final"]["auroc"] - pooled) <= 0.02, (r["final"]["auroc"], pooled)
    rows = list(csv.DictReader((demo_run / "metrics.csv").open()))
    assert [int(x["round"]) for x in rows] == list(range(1, 11))
    assert len(list((demo_run / "checkpoints").glob("round-*.npz"))) == 10
    assert (demo_run / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_model_pt_loads_without_training_code_and_predict_scores_a_csv(demo_run: Path, tmp_path: Path) -> None:
    blob = torch.load(demo_run / "model.pt", weights_only=True)
    assert blob["arch"] == "mlp" and blob["schema"]["feature_names"] == list(FEATURE_NAMES)
    source = load()
    x = source.features(np.arange(20))
    inp = tmp_path / "new.csv"
    with inp.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["patient_id", *FEATURE_NAMES])
        for i, row in enumerate(x):
            w.writerow([f"p{i}", *row.tolist()])
    outp = tmp_path / "preds.csv"
    proc = subprocess.run(fedhealth_cmd("predict", "--model", str(demo_run / "model.pt"),
                                        "--input", str(inp), "--output", str(outp)),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    preds = list(csv.DictReader(outp.open()))
    assert [p["patient_id"] for p in preds] == [f"p{i}" for i in range(20)]
    prob = np.array([float(p["probability"]) for p in preds])
    truth = source.labels[:20]
    assert ((prob >= 0.5) == truth).mean() >= 0.8


def test_predict_names_the_missing_column(demo_run: Path, tmp_path: Path) -> None:
    inp = tmp_path / "bad.csv"
    inp.write_text("mean radius,mean texture\n1,2\n")
    proc = subprocess.run(fedhealth_cmd("predict", "--model", str(demo_run / "model.pt"),
                                        "--input", str(inp), "--output", str(tmp_path / "o.csv")),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3
    assert "'mean perimeter'" in proc.stderr and str(inp) in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_in_process_federation_of_many_hospitals(tmp_path: Path) -> None:
    out = tmp_path / "many"
    proc = subprocess.run(fedhealth_cmd("run", "--in-process", "--hospitals", "12", "--rounds", "2",
                                        "--partition", "iid", "--no-baselines", "--no-progress",
                                        "--out", str(out)),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads((out / "results.json").read_text())
    assert len(r["rounds"][-1]["participants"]) == 12
    assert r["baselines"]["pooled"] is None and (out / "model.pt").is_file()


def test_secure_aggregation_reaches_the_plaintext_auroc(demo_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "secagg"
    proc = subprocess.run(fedhealth_cmd("run", "--hospitals", "3", "--rounds", "10", "--partition",
                                        "dirichlet:0.5", "--seed", "0", "--privacy", "secagg",
                                        "--no-baselines", "--no-progress", "--out", str(out)),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    secure = json.loads((out / "results.json").read_text())
    plain = json.loads((demo_run / "results.json").read_text())
    assert abs(secure["final"]["auroc"] - plain["final"]["auroc"]) <= 0.005
    assert all(r["secagg_aborted"] is None and len(r["participants"]) == 3 for r in secure["rounds"])
    log = (out / "logs" / "coordinator.log").read_text()
    assert "PlainAggregation" not in log
