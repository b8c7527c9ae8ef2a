"""`fedhealth audit RUN_DIR`: an empirical privacy check of a run's settings.

Re-trains the run's federation (its hospitals, privacy mode and epsilon/delta) with
label-flipped canary records planted in some hospitals, then scores canaries that were
in training against ones that were not with a loss-based membership attack. Reports the
attack AUC with a bootstrap interval next to the ceiling that the spent epsilon allows,
and writes RUN_DIR/audit.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fedhealth import atomic
from fedhealth.errors import ConfigError, DataError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="canary membership-inference audit of a run's privacy",
                       description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--canaries", type=int, default=20, help="canaries in and out of training")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--local-epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--trials", type=int, default=1,
                   help="train this many times with fresh canaries and pool the scores "
                        "(a narrower interval; each trial takes as long as one audit)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    results_path = args.run_dir / "results.json"
    if not results_path.is_file():
        raise DataError(f"{results_path} does not exist: audit a finished run directory")
    config = json.loads(results_path.read_text())["config"]
    privacy = str(config.get("privacy", "none"))
    if args.trials < 1:
        raise ConfigError(f"--trials must be at least 1, not {args.trials}")
    if config.get("hospitals", 0) < 1:
        raise ConfigError(f"{results_path}: config has no hospitals")
    from fedhealth.privacy.audit import run_audit

    epsilon = float(config["epsilon"]) if "dp" in privacy.split("+") else None
    report = run_audit(epsilon=epsilon, delta=float(config.get("delta", 1e-5)),
                       hospitals=int(config["hospitals"]), rounds=args.rounds,
                       canaries=args.canaries, local_epochs=args.local_epochs, seed=args.seed,
                       trials=args.trials)
    report["run_privacy"] = privacy
    atomic.write_json(args.run_dir / "audit.json", report)
    lo, hi = report["attack_auc_ci95"]
    spent = max(report["spent_epsilon"]) if report.get("spent_epsilon") else float("inf")
    print(f"canary attack AUC {report['attack_auc']:.3f} [{lo:.3f}, {hi:.3f}] "
          f"(ceiling {report['auc_ceiling']:.3f} at spent epsilon {spent:.3g}) "
          f"-> {args.run_dir / 'audit.json'}")
    return 0
