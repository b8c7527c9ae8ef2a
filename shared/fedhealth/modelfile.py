"""`model.pt`: the final global model, loadable without fedhealth's training internals.

A plain dict saved with `torch.save` and readable with `torch.load(weights_only=True)`:
`format`, `arch` + `params` (the model spec), `state_dict`, `schema` (dataset, task,
feature and label names) and `standardizer` (mean/scale applied to tabular inputs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fedhealth import atomic
from fedhealth.errors import DataError

FORMAT = "fedhealth.model/v1"


@dataclass
class SavedModel:
    """What `model.pt` holds, with the module rebuilt."""

    module: Any
    arch: str
    params: dict[str, Any]
    schema: dict[str, Any]
    mean: np.ndarray | None
    scale: np.ndarray | None

    def preprocess(self, x: np.ndarray) -> np.ndarray:
        """Apply the federated standardizer (if any) to raw tabular features."""
        if self.mean is None or self.scale is None:
            return x.astype(np.float32)
        return ((x - self.mean) / self.scale).astype(np.float32)


def save(path: Path, arch: str, params: dict[str, Any], weights: dict[str, np.ndarray],
         schema: dict[str, Any], mean: list[float] | None, scale: list[float] | None) -> None:
    """Write model.pt atomically."""
    import torch

    blob = {
        "format": FORMAT,
        "arch": arch,
        "params": params,
        "state_dict": {k: torch.from_numpy(np.asarray(v).copy()) for k, v in weights.items()},
        "schema": schema,
        "standardizer": {"mean": list(mean or []), "scale": list(scale or [])},
    }
    atomic.write_with(Path(path), lambda fh: torch.save(blob, fh))


def export_run(run_dir: Path) -> Path:
    """Write `run_dir/model.pt` from model_spec.json and the latest checkpoint."""
    run_dir = Path(run_dir)
    info = json.loads((run_dir / "model_spec.json").read_text())
    meta = json.loads((run_dir / "checkpoints" / "latest.json").read_text())
    with np.load(run_dir / "checkpoints" / meta["file"], allow_pickle=False) as data:
        weights = {k[2:]: data[k] for k in data.files if k.startswith("w/")}
    out = run_dir / "model.pt"
    save(out, info["arch"], info["params"], weights, info["schema"], info["mean"], info["scale"])
    return out


def finish_run(run_dir: Path) -> None:
    """The end of a local run: write model.pt and the report plot."""
    from fedhealth import report

    export_run(run_dir)
    report.plot(run_dir)


def load(path: Path) -> SavedModel:
    """Read model.pt and rebuild its module in eval mode."""
    import torch

    from fedhealth.models.registry import ModelSpec, build

    path = Path(path)
    if not path.is_file():
        raise DataError(f"model file {path} does not exist")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means a bad file
        raise DataError(f"model file {path} is not a fedhealth model: {err}") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise DataError(f"model file {path} is not a {FORMAT} file")
    module = build(ModelSpec(blob["arch"], dict(blob["params"])))
    missing, unexpected = module.load_state_dict(blob["state_dict"], strict=False)
    floating = {k for k, v in module.state_dict().items() if v.is_floating_point()}
    if unexpected or set(missing) & floating:
        raise DataError(f"model file {path}: weights do not fit {blob['arch']} "
                        f"(missing {sorted(set(missing) & floating)}, unexpected {unexpected})")
    module.eval()
    std = blob.get("standardizer") or {}
    mean = np.asarray(std["mean"], dtype=np.float64) if std.get("mean") else None
    scale = np.asarray(std["scale"], dtype=np.float64) if std.get("scale") else None
    return SavedModel(module, blob["arch"], dict(blob["params"]), dict(blob["schema"]), mean, scale)
