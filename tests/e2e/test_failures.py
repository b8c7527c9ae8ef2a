"""Failures a user meets: one line naming the problem, a non-zero exit, nothing hanging."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import fedhealth_cmd, free_port, wait_for_file

pytestmark = pytest.mark.e2e


def _one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    assert lines, "no error message"
    return lines[-1]


def test_bad_setting_names_it(env: dict[str, str]) -> None:
    proc = subprocess.run(fedhealth_cmd("coordinator", "--rounds", "zero"), capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.returncode == 2
    assert "rounds (FEDHEALTH_COORDINATOR_ROUNDS)" in _one_line(proc.stderr)


def test_bad_env_setting_names_the_variable(env: dict[str, str]) -> None:
    env["FEDHEALTH_KEYSERVER_PORT"] = "99999"
    proc = subprocess.run(fedhealth_cmd("keyserver"), capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2 and "FEDHEALTH_KEYSERVER_PORT" in _one_line(proc.stderr)


def test_missing_data_file_names_it(env: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "wdbc.csv"
    proc = subprocess.run(fedhealth_cmd("node", "--data-dir", str(missing), "--log-json", "false"),
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 3
    assert str(missing) in _one_line(proc.stderr)


def test_unreachable_coordinator_names_the_address(env: dict[str, str]) -> None:
    address = f"127.0.0.1:{free_port()}"
    proc = subprocess.run(fedhealth_cmd("node", "--coordinator", address, "--connect-timeout-s", "1"),
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 4
    line = _one_line(proc.stderr)
    assert address in line and "coordinator" in line


def test_run_with_a_bad_partition_fails_fast(tmp_path: Path) -> None:
    proc = subprocess.run(fedhealth_cmd("run", "--partition", "dirichlet:-2", "--out", str(tmp_path / "r")),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "dirichlet:-2" in _one_line(proc.stderr)


def test_keyserver_is_healthy_and_stops_cleanly_on_sigterm(env: dict[str, str], tmp_path: Path) -> None:
    port_file = tmp_path / "ks.port"
    proc = subprocess.Popen(fedhealth_cmd("keyserver", "--port", "0", "--port-file", str(port_file)),
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port = wait_for_file(port_file, proc)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            reply = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
def test_a_hung_then_killed_node_does_not_hang_the_coordinator(env: dict[str, str], tmp_path: Path) -> None:
    """hospital-3 freezes after round 1 (SIGSTOP): round 2 ends at its deadline with it
    dropped; then it is killed mid-round (SIGKILL): the stream ends, later rounds drop it
    at once, and the run completes with the other two."""
    run_dir = tmp_path / "run"
    port_file = tmp_path / "coord.port"
    coord = subprocess.Popen(
        fedhealth_cmd("coordinator", "--port", "0", "--port-file", str(port_file), "--run-dir",
                      str(run_dir), "--hospitals", "3", "--rounds", "4", "--round-timeout-s", "6",
                      "--min-hospitals", "2", "--local-baselines", "false", "--export-model", "false",
                      # ~100 local epochs make each fit last about a second, so the node
                      # is reliably stopped in the middle of round 2's training
                      "--local-epochs", "100", "--privacy", "none"),
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    nodes = []
    try:
        port = wait_for_file(port_file, coord)
        for i in range(3):
            nodes.append(subprocess.Popen(
                fedhealth_cmd("node", "--node-id", f"hospital-{i + 1}", "--coordinator",
                              f"127.0.0.1:{port}", "--partition", "iid", "--site-index", str(i),
                              "--num-sites", "3", "--require-secure-aggregation", "false",
                              "--require-dp", "false"),
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        results = run_dir / "results.json"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if results.is_file() and json.loads(results.read_text())["rounds"]:
                break
            time.sleep(0.01)
        os.kill(nodes[2].pid, signal.SIGSTOP)
        time.sleep(7)  # round 2 waits for hospital-3 until its 6 s deadline
        nodes[2].kill()
        assert coord.wait(timeout=120) == 0, coord.stderr.read()[-2000:]
        node_codes = [p.wait(timeout=30) for p in nodes[:2]]
    finally:
        for p in [coord, *nodes]:
            if p.poll() is None:
                p.kill()
    rounds = json.loads((run_dir / "results.json").read_text())["rounds"]
    assert len(rounds) == 4
    assert rounds[0]["dropped"] == []
    assert "hospital-3" in rounds[1]["dropped"]
    assert rounds[1]["duration_s"] >= 6  # the deadline, not a hang
    assert all(r["participants"] == ["hospital-1", "hospital-2"] for r in rounds[2:])
    assert all(r["duration_s"] < 6 for r in rounds[2:])  # disconnect noticed, no deadline wait
    assert node_codes == [0, 0]
