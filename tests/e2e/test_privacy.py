"""Differential privacy end to end: calibrated budgets, the ledger that halts, restarts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from fedhealth.data.registry import SiteSpec, load_site
from fedhealth.privacy import accountant
from fedhealth.privacy.dp_sgd import plan_round
from fedhealth.training.loop import TrainConfig
from tests.conftest import fedhealth_cmd, wait_for_file

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _run(out: Path, *extra: str) -> dict:
    proc = subprocess.run(fedhealth_cmd("run", "--no-progress", "--hospitals", "3", "--rounds", "10",
                                        "--partition", "dirichlet:0.5", "--seed", "0", "--privacy",
                                        "dp", "--epsilon", "1", "--delta", "1e-5", "--out", str(out),
                                        *extra),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "results.json").read_text())


def test_epsilon_one_is_spent_to_within_ten_percent_and_matches_an_independent_accountant(
        tmp_path: Path) -> None:
    r = _run(tmp_path / "dp", "--no-baselines")
    assert set(r["privacy"]) == {"hospital-1", "hospital-2", "hospital-3"}
    for name, p in r["privacy"].items():
        assert 0.9 <= p["epsilon"] <= 1.0, (name, p)
        assert p["budget_epsilon"] == 1.0 and p["accountant"] == "rdp"
        independent = accountant.independent_rdp_epsilon(
            [(p["noise_multiplier"], p["sample_rate"], p["steps"])], p["delta"])
        assert p["epsilon"] == pytest.approx(independent, rel=1e-6)
    assert r["final"]["auroc"] > 0.75  # better than chance under epsilon = 1
    assert [row["epsilon"] for row in r["rounds"]] == sorted(row["epsilon"] for row in r["rounds"])
    assert "epsilon" in (tmp_path / "dp" / "metrics.csv").read_text().splitlines()[0]
    assert {p["grad_sample_mode"] for p in r["privacy"].values()} == {"outputs"}

    audit = subprocess.run(fedhealth_cmd("audit", str(tmp_path / "dp"), "--rounds", "1",
                                         "--local-epochs", "2", "--canaries", "5", "--trials", "2"),
                           capture_output=True, text=True, timeout=600)
    assert audit.returncode == 0, audit.stderr[-3000:]
    report = json.loads((tmp_path / "dp" / "audit.json").read_text())
    assert report["private"] and report["target_epsilon"] == 1.0 and report["trials"] == 2
    assert (report["canaries_in"], report["canaries_out"]) == (10, 10)
    assert max(report["spent_epsilon"]) <= 1.0 and report["grad_sample_mode"] == ["outputs"]
    assert "canary attack AUC" in audit.stdout
    bad = subprocess.run(fedhealth_cmd("audit", str(tmp_path / "dp"), "--trials", "0"),
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "--trials" in bad.stderr


def _epsilon_after(rounds: int, site_index: int) -> float:
    """What hospital `site_index` of the run above spends in `rounds` rounds."""
    site = load_site("breast_cancer", None, SiteSpec(site_index, 3, "dirichlet:0.5", 0))
    q, steps = plan_round(len(site.train_idx), TrainConfig())
    sigma = accountant.calibrate_noise(1.0, 1e-5, q, steps * 10, "rdp")
    return accountant.epsilon([(sigma, q, steps * rounds)], 1e-5, "rdp")


def test_a_budget_for_five_rounds_declines_from_round_six_and_survives_a_restart(
        tmp_path: Path, env: dict[str, str]) -> None:
    cap = (_epsilon_after(5, 1) + _epsilon_after(6, 1)) / 2
    out = tmp_path / "run"
    r = _run(out, "--hospital-epsilon", f"hospital-2={cap!r}", "--no-baselines")
    for row in r["rounds"]:
        if row["round"] <= 5:
            assert "hospital-2" in row["participants"]
        elif row["round"] == 6:
            assert row["declined"]["hospital-2"].startswith("budget exhausted")
            assert "hospital-2" in row["dropped"]
        else:  # the coordinator no longer asks a hospital whose budget is spent
            assert row["exhausted"] == ["hospital-2"]
        if row["round"] > 5:
            assert row["participants"] == ["hospital-1", "hospital-3"]
    ledger_path = out / "ledgers" / "hospital-2.json"
    ledger = json.loads(ledger_path.read_text())["body"]
    assert len(ledger["rounds"]) == 5
    assert ledger["rounds"][-1]["epsilon_after"] <= cap
    assert r["privacy"]["hospital-2"]["epsilon"] <= cap

    # Restart hospital-2 as a new process against a new coordinator: the ledger on disk
    # still holds its five rounds, so it declines at once and the run stops cleanly.
    before = ledger_path.read_bytes()
    port_file = tmp_path / "c.port"
    coord = subprocess.Popen(fedhealth_cmd(
        "coordinator", "--port", "0", "--port-file", str(port_file), "--run-dir",
        str(tmp_path / "again"), "--hospitals", "1", "--rounds", "3", "--privacy", "dp",
        "--epsilon", "1", "--round-timeout-s", "30", "--local-baselines", "false"),
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = wait_for_file(port_file, coord)
        node = subprocess.run(fedhealth_cmd(
            "node", "--node-id", "hospital-2", "--coordinator", f"127.0.0.1:{port}",
            "--partition", "dirichlet:0.5", "--num-sites", "3", "--site-index", "1",
            "--ledger-path", str(ledger_path), "--dp-epsilon", repr(cap),
            "--require-secure-aggregation", "false"),
            env=env, capture_output=True, text=True, timeout=120)
        assert node.returncode == 0, node.stderr[-2000:]
        assert coord.wait(timeout=60) == 0
    finally:
        if coord.poll() is None:
            coord.kill()
    again = json.loads((tmp_path / "again" / "results.json").read_text())
    assert "too few hospitals with privacy budget" in again["stopped_early"]
    assert again["rounds"][0]["declined"]["hospital-2"].startswith("budget exhausted")
    assert ledger_path.read_bytes() == before  # nothing spent, nothing reset


def test_a_node_refuses_to_start_a_ledger_from_zero_unless_told(tmp_path: Path, env: dict[str, str]) -> None:
    port_file = tmp_path / "c.port"
    coord = subprocess.Popen(fedhealth_cmd(
        "coordinator", "--port", "0", "--port-file", str(port_file), "--run-dir", str(tmp_path / "r"),
        "--hospitals", "1", "--rounds", "1", "--privacy", "dp", "--round-timeout-s", "30",
        "--local-baselines", "false"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    missing = tmp_path / "nowhere.json"
    try:
        port = wait_for_file(port_file, coord)
        node = subprocess.run(fedhealth_cmd(
            "node", "--coordinator", f"127.0.0.1:{port}", "--ledger-path", str(missing),
            "--require-secure-aggregation", "false"),
            env=env, capture_output=True, text=True, timeout=120)
        coord.wait(timeout=60)
    finally:
        if coord.poll() is None:
            coord.kill()
    log = node.stderr
    assert str(missing) in log and "refusing to start from zero" in log
    assert not missing.exists()


def test_hospital_level_dp_under_secure_aggregation(tmp_path: Path) -> None:
    """Distributed discrete Gaussian noise added before masking: the coordinator accounts
    for it and every planned round stays within the target."""
    out = tmp_path / "hdp"
    proc = subprocess.run(fedhealth_cmd(
        "run", "--in-process", "--no-progress", "--hospitals", "12", "--rounds", "3",
        "--partition", "iid", "--privacy", "hdp+secagg", "--epsilon", "8", "--max-dropouts",
        "2", "--no-baselines", "--out", str(out)), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads((out / "results.json").read_text())
    level = r["privacy"]["hospital_level"]
    assert level["rounds"] == 3 and 0.9 * 8 <= level["epsilon"] <= 8
    assert level["noise_multiplier"] > 0 and level["max_dropouts"] == 2
    assert [row["epsilon"] for row in r["rounds"]] == sorted(row["epsilon"] for row in r["rounds"])
    assert all(row["secagg_aborted"] is None for row in r["rounds"])
    assert all(row["quantization_error_bound"] is None for row in r["rounds"])
