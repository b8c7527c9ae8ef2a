"""The pooled baseline: the same model trained centrally on the union of the hospitals'
training splits for the same number of epochs, scored on the union of their test splits.

Only a simulation can compute it (it pools raw records); it is the yardstick a
federated model is held to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from fedhealth import atomic, metrics
from fedhealth.data.base import SiteData
from fedhealth.data.fitted import fit_site
from fedhealth.data.registry import SiteSpec, load_source, split_source
from fedhealth.data.tabular import scaled, standardizer
from fedhealth.models.registry import spec_for, build
from fedhealth.training import loop


def pooled(dataset: str, data_dir: Path | None, options: dict[str, str], spec: SiteSpec,
           arch: str | None, model_params: dict[str, Any], cfg: loop.TrainConfig,
           init_seed: int) -> dict[str, float]:
    """Metrics of the centrally trained model on the global test set."""
    sites = split_source(load_source(dataset, data_dir, options), spec)
    train_idx = np.concatenate([s.train_idx for s in sites])
    test_idx = np.concatenate([s.test_idx for s in sites])
    source = fit_site(SiteData(sites[0].source, train_idx, test_idx)).source
    train, test = source.make_dataset(train_idx), source.make_dataset(test_idx)
    feats = source.features(train_idx)
    if source.schema.modality == "tabular" and feats is not None:
        x = np.asarray(feats, dtype=np.float64)
        mean, scale = standardizer(len(x), x.sum(axis=0), (x * x).sum(axis=0))
        train, test = scaled(train, mean, scale), scaled(test, mean, scale)
    torch.manual_seed(init_seed)
    model = build(spec_for(source.schema, arch, **model_params))
    device = loop.pick_device("auto")
    loop.train(model, train, cfg, source.schema.task, device)
    probs, labels, loss_sum = loop.predict(model, test, source.schema.task, device)
    task = source.schema.task
    out = metrics.Summary.of(labels, probs, loss_sum, task).metrics()
    out["auroc"] = metrics.macro_auroc(labels, probs, task)
    if task == "binary":
        out["auprc"] = metrics.auprc(labels, probs.reshape(-1))
    out.update(n_train=float(len(train_idx)), n_test=float(len(test_idx)))
    return out


def run_in_child(out_path: str, kwargs: dict[str, Any]) -> None:
    """Forked-process entry: compute the pooled baseline and write it as JSON (`cfg` is
    the TrainConfig as a dict, so the parent never imports torch)."""
    torch.set_num_threads(1)
    try:
        kwargs = {**kwargs, "cfg": loop.TrainConfig(**kwargs["cfg"])}
        atomic.write_json(Path(out_path), {"ok": True, "metrics": pooled(**kwargs)})
    except Exception as err:  # noqa: BLE001 - reported to the parent as a failed part
        atomic.write_json(Path(out_path), {"ok": False, "error": f"{type(err).__name__}: {err}"})
