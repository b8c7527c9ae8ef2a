"""Secure-aggregation benchmark: per-node masking time, server unmask time, upload size.

Runs whole in-process rounds (complete graph: every node masks with every other), with a
fraction of nodes dropping after share-keys, and prints one JSON document. Each round's
result is checked against the float sum of the survivors' inputs within the stated bound.

    python bench/secagg.py            # n in {10, 50, 100} x d in {1e5, 1e6} x dropout in {0, 0.3}
    python bench/secagg.py --quick    # n in {10, 50}, d = 1e5, dropout 0.3
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Iterator, Mapping

import numpy as np
from fedhealth.secagg import SecAggConfig
from fedhealth.secagg.simulation import Timings, run_round


class LazyUpdates(Mapping[str, np.ndarray]):
    """Each node's weighted update with its weight last, generated on access (saves memory)."""

    def __init__(self, ids: tuple[str, ...], dim: int) -> None:
        self.ids, self.dim = ids, dim

    def __getitem__(self, node: str) -> np.ndarray:
        rng = np.random.default_rng(self.ids.index(node))
        weight = 1.0 + self.ids.index(node) % 7
        v = rng.standard_normal(self.dim, dtype=np.float32) * np.float32(0.05 * weight)
        v[-1] = weight
        return v

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)


def bench_one(n: int, d: int, dropout: float, repeats: int) -> dict:
    """Run `repeats` rounds of one setting; return medians and checks."""
    ids = tuple(f"hospital-{i:03d}" for i in range(n))
    dim = d + 1  # the parameters plus the appended weight
    t = n // 2 + 1
    cfg = SecAggConfig("bench", 1, ids, t, dim, clip=10.0)
    updates = LazyUpdates(ids, dim)
    n_drop = int(round(dropout * n))
    masked_in, quant, mask, unmask, upload, shares = [], [], [], [], [], []
    max_err_over_bound = 0.0
    for r in range(repeats):
        drop = set(np.random.default_rng(1000 + r).choice(ids, size=n_drop, replace=False).tolist())
        timings = Timings()
        agg = run_round(cfg, updates, drop_after_share=drop, timings=timings)
        exact = np.zeros(dim)
        for u in agg.survivors:
            exact += np.clip(updates[u].astype(np.float64), -cfg.clip, cfg.clip)
        err = float(np.max(np.abs(np.append(agg.total, agg.weight) - exact)))
        max_err_over_bound = max(max_err_over_bound, err / agg.error_bound)
        masked_in += timings.masked_input.values()
        quant += timings.quantize.values()
        mask += timings.mask.values()
        upload += timings.upload_bytes.values()
        shares += timings.share_bytes.values()
        unmask.append(timings.server_unmask)
    ms = lambda xs: round(1e3 * statistics.median(xs), 2)  # noqa: E731
    return {
        "n": n,
        "d": d,
        "dropout": dropout,
        "threshold": t,
        "survivors": n - n_drop,
        "repeats": repeats,
        "graph": "complete",
        "node_masking_ms_median": ms(mask),
        "node_quantize_ms_median": ms(quant),
        "node_masked_input_stage_ms_median": ms(masked_in),
        "server_unmask_ms_median": ms(unmask),
        "upload_bytes_per_parameter": round(statistics.median(upload) / d, 6),
        "share_ciphertext_bytes_per_node": int(statistics.median(shares)),
        "max_error_over_stated_bound": round(max_err_over_bound, 4),
    }


def main(argv: list[str] | None = None) -> int:
    """Parse flags, run the grid, print JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a small subset (under a minute)")
    args = ap.parse_args(argv)
    if args.quick:
        grid = [(10, 100_000, 0.3), (50, 100_000, 0.3), (10, 1_000_000, 0.3)]
    else:
        grid = [(n, d, p) for n in (10, 50, 100) for d in (100_000, 1_000_000) for p in (0.0, 0.3)]
    started = time.perf_counter()
    results = []
    for n, d, p in grid:
        repeats = 5 if n * d <= 1_000_000 else 3 if n * d <= 10_000_000 else 1
        results.append(bench_one(n, d, p, repeats))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    doc = {
        "benchmark": "secagg",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "wall_s": round(time.perf_counter() - started, 1),
        "results": results,
    }
    print(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
