"""`report.png`: a run at a glance, drawn from results.json (nothing else, no invented
numbers): global test AUROC and loss per round against the pooled and local-only
baselines, each hospital's AUROC and size, and the privacy spent per round."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from fedhealth.errors import DataError


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and v == v


def plot(run_dir: Path) -> Path:
    """Draw RUN_DIR/report.png from RUN_DIR/results.json; return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results_path = Path(run_dir) / "results.json"
    if not results_path.is_file():
        raise DataError(f"{results_path} does not exist")
    r = json.loads(results_path.read_text())
    rows = r.get("rounds") or []
    rounds = [row["round"] for row in rows]
    private = any("epsilon" in row for row in rows)
    fig, axes = plt.subplots(1, 3 if private else 2, figsize=(15 if private else 10, 4))
    ax = axes[0]
    ax.plot(rounds, [row.get("auroc") for row in rows], marker="o", label="federated (global test)")
    pooled = (r.get("baselines") or {}).get("pooled") or {}
    if _finite(pooled.get("auroc")):
        ax.axhline(pooled["auroc"], color="black", linestyle="--",
                   label="pooled baseline" + (" (non-private)" if private else ""))
    local = (r.get("baselines") or {}).get("local_only") or {}
    local_aurocs = [v.get("auroc") for v in local.values() if _finite(v.get("auroc"))]
    if local_aurocs:
        ax.axhline(sum(local_aurocs) / len(local_aurocs), color="grey", linestyle=":",
                   label="local only (mean of hospitals)")
    ax.set_xlabel("round")
    ax.set_ylabel("AUROC")
    ax.set_title(f"{r['config'].get('privacy', 'none')} · {len(r.get('per_hospital', {}))} hospitals")
    ax2 = ax.twinx()
    ax2.plot(rounds, [row.get("loss") for row in rows], color="tab:red", alpha=0.4, label="loss")
    ax2.set_ylabel("test loss", color="tab:red")
    ax.legend(loc="lower right", fontsize=8)
    ax = axes[1]
    hospitals = sorted(r.get("per_hospital", {}))
    values = [r["per_hospital"][h].get("auroc") for h in hospitals]
    ax.bar(range(len(hospitals)), [v if _finite(v) else 0 for v in values])
    for i, h in enumerate(hospitals):
        ax.text(i, 0.02, f"n={r['per_hospital'][h]['n_train']}", ha="center", fontsize=7,
                rotation=90, color="white")
    ax.set_xticks(range(len(hospitals)), hospitals, rotation=45, ha="right", fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("final model AUROC, own test split")
    ax.set_title("per hospital")
    if private:
        ax = axes[2]
        per_hospital = sorted({h for row in rows for h in row.get("epsilon_per_hospital", {})})
        for h in per_hospital:
            ax.plot(rounds, [row.get("epsilon_per_hospital", {}).get(h) for row in rows],
                    marker=".", label=h)
        if not per_hospital:  # hospital-level DP: one guarantee for every hospital
            ax.plot(rounds, [row.get("epsilon") for row in rows], marker=".",
                    label="hospital-level")
        for p in (r.get("privacy") or {}).values():
            ax.axhline(p["budget_epsilon"], color="grey", linestyle=":", linewidth=0.8)
        ax.set_xlabel("round")
        ax.set_ylabel("epsilon spent")
        ax.set_title("privacy (dotted: budgets)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(run_dir) / "report.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="draw RUN_DIR/report.png from results.json")
    p.add_argument("run_dir", type=Path)
    p.set_defaults(handler=lambda args: print(plot(args.run_dir)) or 0)
