"""The run directory: results.json, metrics.csv and atomic per-round checkpoints.

Written after every round, atomically, so a crash loses at most the round in flight.
A checkpoint is `checkpoints/round-NNNN.npz` (global weights and strategy state, plain
numpy, no pickles) plus `checkpoints/latest.json` naming it with the round state.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from fedhealth import atomic

CSV_COLUMNS = ("round", "participants", "dropped", "duration_s", "bytes_up", "bytes_down",
               "loss", "auroc", "auprc", "accuracy", "sensitivity", "specificity", "brier",
               "epsilon")


def save_checkpoint(run_dir: Path, round_: int, weights: dict[str, np.ndarray],
                    strategy_state: dict[str, np.ndarray], state: dict[str, Any]) -> Path:
    """Write the global model after `round_` and point latest.json at it."""
    folder = Path(run_dir) / "checkpoints"
    path = folder / f"round-{round_:04d}.npz"
    arrays = {f"w/{k}": v for k, v in weights.items()}
    arrays.update({f"s/{k}": v for k, v in strategy_state.items()})

    def write(fh: Any) -> None:
        np.savez(fh, **arrays)

    atomic.write_with(path, write)
    atomic.write_json(folder / "latest.json", {"round": round_, "file": path.name, **state})
    return path


def load_checkpoint(path: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Weights and strategy state from a checkpoint file."""
    with np.load(path, allow_pickle=False) as data:
        weights = {k[2:]: data[k] for k in data.files if k.startswith("w/")}
        state = {k[2:]: data[k] for k in data.files if k.startswith("s/")}
    return weights, state


def latest(run_dir: Path) -> tuple[dict[str, Any], Path] | None:
    """The latest checkpoint's state and file, if any."""
    meta = Path(run_dir) / "checkpoints" / "latest.json"
    if not meta.is_file():
        return None
    info = json.loads(meta.read_text())
    return info, meta.parent / info["file"]


def write_results(run_dir: Path, results: dict[str, Any]) -> None:
    """results.json and metrics.csv, both atomically."""
    atomic.write_json(Path(run_dir) / "results.json", results)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in results.get("rounds", []):
        flat = dict(row)
        flat["participants"] = len(row.get("participants", []))
        flat["dropped"] = len(row.get("dropped", []))
        writer.writerow({k: ("" if flat.get(k) is None else flat.get(k)) for k in CSV_COLUMNS})
    atomic.write_text(Path(run_dir) / "metrics.csv", buf.getvalue())
