"""Node entry points: `run` (the `fedhealth node` command) and `run_in_child`, used by the
local launcher to fork nodes from a process that has already imported torch."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from fedhealth import logs
from fedhealth.data.registry import SiteSpec, load_site
from fedhealth.errors import FedhealthError
from fedhealth.training.loop import pick_device
from fedhealth_node.client import NodeClient
from fedhealth_node.privacy import NodePrivacy
from fedhealth_node.settings import NodeSettings
from fedhealth_node.trainer import Trainer


def build_trainer(settings: NodeSettings) -> Trainer:
    """Load this hospital's split and hold it for the run."""
    spec = SiteSpec(index=settings.site_index, count=settings.num_sites,
                    partition=settings.partition, seed=settings.seed,
                    test_fraction=settings.test_fraction)
    site = load_site(settings.dataset, settings.data_dir, spec, settings.data_options)
    privacy = None
    if settings.ledger_path is not None:
        privacy = NodePrivacy(settings.ledger_path, settings.new_ledger, settings.dp_epsilon,
                              settings.dp_delta)
    return Trainer(site, pick_device(settings.device), privacy)


def run(settings: NodeSettings) -> int:
    """Run one node to the end of the federation; return an exit code."""
    torch.set_num_threads(settings.threads)
    log = logs.get("node")
    try:
        trainer = build_trainer(settings)
        log.info("data_loaded", node=settings.node_id, dataset=settings.dataset,
                 n_train=trainer.n_train, n_test=trainer.n_test, device=trainer.device.type)
        return NodeClient(settings, trainer, log).run()
    except FedhealthError as err:
        log.error("node_failed", node=settings.node_id, error=str(err))
        print(f"fedhealth node {settings.node_id}: {err}", file=sys.stderr)
        return err.exit_code


def run_in_child(settings: NodeSettings, log_path: str) -> None:
    """Forked-process entry: send this node's output to its log file, run, exit."""
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    logs.configure("node", json=settings.log_json, level=settings.log_level)
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    code = run(settings)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
