"""Median round wall time and bytes per round of `fedhealth run` on the default model,
for 3 and 10 hospitals (one process each). Prints JSON."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def measure(hospitals: int, rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        subprocess.run([sys.executable, "-m", "fedhealth", "run", "--hospitals", str(hospitals),
                        "--rounds", str(rounds), "--partition", "iid", "--seed", "0",
                        "--out", str(out), "--no-progress", "--no-baselines"],
                       check=True, capture_output=True)
        rows = json.loads((out / "results.json").read_text())["rounds"]
    steady = rows[1:] or rows  # round 1 includes each node's first-use warm-up
    return {
        "hospitals": hospitals, "rounds": rounds,
        "median_round_s": statistics.median(r["duration_s"] for r in steady),
        "first_round_s": rows[0]["duration_s"],
        "median_bytes_up": statistics.median(r["bytes_up"] for r in steady),
        "median_bytes_down": statistics.median(r["bytes_down"] for r in steady),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--hospitals", type=int, nargs="+", default=[3, 10])
    args = parser.parse_args()
    print(json.dumps({"benchmark": "round_latency", "model": "mlp (breast_cancer)",
                      "results": [measure(h, args.rounds) for h in args.hospitals]}, indent=2))


if __name__ == "__main__":
    main()
