"""Wall time and peak memory of a whole `fedhealth run` (3 hospitals x 10 rounds, default
data), start-up and teardown included. Prints JSON.

Memory is sampled every 250 ms (reading smaps costs CPU, which would slow the run) over the whole process tree: `peak_rss_mib` sums each
process's RSS (a page shared by several processes counts once per process);
`peak_pss_mib` sums PSS (a shared page is split between its sharers), which is the
memory the run really occupies.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _procs import descendants, memory_kib  # noqa: E402


def once(hospitals: int, rounds: int, extra: list[str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "fedhealth", "run", "--hospitals", str(hospitals),
               "--rounds", str(rounds), "--partition", "dirichlet:0.5", "--seed", "0",
               "--out", str(Path(tmp) / "run"), "--no-progress", *extra]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        peak_rss = peak_pss = 0
        while proc.poll() is None:
            rss, pss = memory_kib(descendants(proc.pid))
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            time.sleep(0.25)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(proc.stderr.read().decode()[-2000:])
        results = json.loads((Path(tmp) / "run" / "results.json").read_text())
    return {"wall_s": wall, "peak_rss_mib": peak_rss / 1024, "peak_pss_mib": peak_pss / 1024,
            "final_auroc": results["final"]["auroc"],
            "pooled_auroc": results["baselines"]["pooled"]["auroc"] if results["baselines"]["pooled"] else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hospitals", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--in-process", action="store_true")
    args = parser.parse_args()
    extra = ["--in-process"] if args.in_process else []
    runs = [once(args.hospitals, args.rounds, extra) for _ in range(args.repeats)]
    print(json.dumps({
        "benchmark": "run_footprint", "hospitals": args.hospitals, "rounds": args.rounds,
        "in_process": args.in_process, "repeats": args.repeats,
        "median_wall_s": statistics.median(r["wall_s"] for r in runs),
        "median_peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in runs),
        "median_peak_pss_mib": statistics.median(r["peak_pss_mib"] for r in runs),
        "runs": runs,
    }, indent=2))


if __name__ == "__main__":
    main()
