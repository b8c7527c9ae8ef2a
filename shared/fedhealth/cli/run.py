"""`fedhealth run`: a whole federation on this machine, in one command.

Starts the keyserver, the coordinator and one process per hospital on 127.0.0.1 (or,
with --in-process, every hospital inside this process, still over real gRPC), shows a
progress bar with live round metrics, adds the pooled baseline, writes model.pt, tears
everything down, and exits non-zero if any part failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from fedhealth import atomic
from fedhealth.errors import ConfigError, RunFailed


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a whole federation on this machine",
                       description=__doc__.splitlines()[0])
    p.add_argument("--hospitals", type=int, default=3)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--partition", default="dirichlet:0.5",
                   help="iid, dirichlet:<alpha>, quantity:<alpha>, natural")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/latest"), help="run directory")
    p.add_argument("--dataset", default="breast_cancer")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--target", default=None, help="label column (csv dataset)")
    p.add_argument("--site-column", default=None, help="natural split column (csv dataset)")
    p.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                   help="extra loader option, e.g. uncertainty=ones (repeatable)")
    p.add_argument("--model", default="", help="architecture (default: per modality)")
    p.add_argument("--model-params", default="{}", help="JSON object of model parameters")
    p.add_argument("--strategy", default="fedavg")
    p.add_argument("--server-lr", type=float, default=1.0)
    p.add_argument("--local-epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.003, help="local learning rate")
    p.add_argument("--optimizer", default="adam", choices=["sgd", "adam"])
    p.add_argument("--proximal-mu", type=float, default=0.0)
    p.add_argument("--fraction-fit", type=float, default=1.0)
    p.add_argument("--round-timeout", type=float, default=60.0, help="seconds per stage")
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--privacy", default="none",
                   choices=["none", "dp", "secagg", "dp+secagg", "hdp+secagg"],
                   help="dp: record-level DP-SGD with a per-hospital ledger; secagg: the "
                        "coordinator learns only the sum of the updates; hdp+secagg: "
                        "hospital-level DP by distributed noise under secure aggregation")
    p.add_argument("--hospital-clip", type=float, default=1.0,
                   help="hdp: L2 clip of each hospital's whole update")
    p.add_argument("--max-dropouts", type=int, default=0,
                   help="hdp: dropouts per round the noise shares are sized for")
    p.add_argument("--epsilon", type=float, default=1.0, help="DP target epsilon per hospital")
    p.add_argument("--delta", type=float, default=1e-5, help="DP target delta per hospital")
    p.add_argument("--accountant", default="rdp", choices=["rdp", "prv"])
    p.add_argument("--max-grad-norm", type=float, default=1.0, help="DP-SGD clipping norm")
    p.add_argument("--hospital-epsilon", action="append", default=[], metavar="NAME=EPS",
                   help="a hospital's own, lower budget (repeatable)")
    p.add_argument("--secagg-degree", type=int, default=0,
                   help="SecAgg+ neighbours per hospital (0: every other hospital)")
    p.add_argument("--in-process", action="store_true", help="all hospitals in this process")
    p.add_argument("--no-baselines", action="store_true", help="skip pooled and local-only")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def _options(args: argparse.Namespace) -> dict[str, str]:
    opts: dict[str, str] = {}
    for item in args.data_option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--data-option {item!r} is not KEY=VALUE")
        opts[key] = value
    if args.target:
        opts["target"] = args.target
    if args.site_column:
        opts["site_column"] = args.site_column
    return opts


def _validate(args: argparse.Namespace) -> None:
    from fedhealth.data.partition import PartitionSpec

    if args.hospitals < 1:
        raise ConfigError("--hospitals must be at least 1")
    if args.rounds < 1:
        raise ConfigError("--rounds must be at least 1")
    PartitionSpec.parse(args.partition)
    try:
        if not isinstance(json.loads(args.model_params), dict):
            raise ValueError("not an object")
    except ValueError as err:
        raise ConfigError(f"--model-params is not a JSON object: {err}") from None
    if args.data_dir is not None and not args.data_dir.exists():
        raise ConfigError(f"--data-dir {args.data_dir} does not exist")


class Progress:
    """A tqdm bar fed by the coordinator's `round_complete` log events."""

    def __init__(self, total: int, enabled: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="round", disable=not enabled, file=sys.stderr,
                        dynamic_ncols=True, desc="federation")
        self.lock = threading.Lock()

    def on_line(self, line: str) -> None:
        if '"round_complete"' not in line:
            return
        ev = json.loads(line)
        with self.lock:
            self.bar.update(1)
            self.bar.set_postfix(auroc=_fmt(ev.get("auroc")), loss=_fmt(ev.get("loss")),
                                 dropped=len(ev.get("dropped") or []))

    def close(self) -> None:
        self.bar.close()


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, (int, float)) else "-"


def run(args: argparse.Namespace) -> int:
    from fedhealth.data.registry import SiteSpec
    from fedhealth.local.launcher import Launcher, last_error
    from fedhealth_node.settings import NodeSettings

    _validate(args)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("results.json", "metrics.csv", "model.pt", "coordinator.port",
                  "keyserver.port", "baseline_pooled.json", "model_spec.json"):
        (out / stale).unlink(missing_ok=True)
    for ledger in (out / "ledgers").glob("*.json"):
        ledger.unlink()  # a fresh simulated run: its hospitals start with fresh ledgers
    options = _options(args)
    partition = args.partition
    started = time.perf_counter()
    launcher = Launcher(out)
    in_process = args.in_process
    if not in_process:
        preload = ["fedhealth_node.main", "fedhealth.local.baseline"]
        if "dp" in args.privacy.split("+"):
            preload.append("fedhealth.privacy.dp_sgd")
        launcher.forkserver(preload)
    progress = Progress(args.rounds, not args.no_progress)
    failures: list[str] = []
    try:
        ks = launcher.service("keyserver", ["keyserver", "--port", "0",
                                            "--port-file", str(out / "keyserver.port")])
        ks_port = launcher.wait_port(ks, out / "keyserver.port")
        keyserver = f"127.0.0.1:{ks_port}"
        coord_argv = [
            "coordinator", "--port", "0", "--port-file", str(out / "coordinator.port"),
            "--run-dir", str(out), "--hospitals", str(args.hospitals),
            "--rounds", str(args.rounds), "--seed", str(args.seed),
            "--strategy", args.strategy, "--server-lr", str(args.server_lr),
            "--local-epochs", str(args.local_epochs), "--batch-size", str(args.batch_size),
            "--learning-rate", str(args.lr), "--optimizer", args.optimizer,
            "--proximal-mu", str(args.proximal_mu), "--fraction-fit", str(args.fraction_fit),
            "--round-timeout-s", str(args.round_timeout), "--model", args.model,
            "--model-params", args.model_params, "--privacy", args.privacy,
            "--local-baselines", str(not args.no_baselines).lower(),
            "--export-model", "false", "--join-timeout-s", "120",
            "--keyserver", keyserver, "--secagg-degree", str(args.secagg_degree),
            "--epsilon", str(args.epsilon), "--delta", str(args.delta),
            "--accountant", args.accountant, "--max-grad-norm", str(args.max_grad_norm),
            "--hospital-clip", str(args.hospital_clip), "--max-dropouts", str(args.max_dropouts),
        ]
        coord = launcher.service("coordinator", coord_argv, on_line=progress.on_line)
        port = launcher.wait_port(coord, out / "coordinator.port")
        names = _hospital_names(args, options)
        own_budgets = _own_budgets(args.hospital_epsilon, names)
        node_settings = [
            NodeSettings(node_id=names[i], coordinator=f"127.0.0.1:{port}", keyserver=keyserver,
                         dataset=args.dataset, data_dir=args.data_dir, data_options=options,
                         partition=partition, site_index=i, num_sites=args.hospitals,
                         seed=args.seed, test_fraction=args.test_fraction, threads=1,
                         ledger_path=out / "ledgers" / f"{names[i]}.json", new_ledger=True,
                         dp_epsilon=own_budgets.get(names[i]),
                         require_secure_aggregation="secagg" in args.privacy,
                         require_dp=bool({"dp", "hdp"} & set(args.privacy.split("+"))))
            for i in range(args.hospitals)
        ]
        baseline_kwargs = dict(
            dataset=args.dataset, data_dir=args.data_dir, options=options,
            spec=SiteSpec(0, args.hospitals, partition, args.seed, args.test_fraction),
            arch=args.model or None, model_params=json.loads(args.model_params),
            init_seed=args.seed)
        nodes, baseline = _start_hospitals(launcher, node_settings, in_process, out,
                                           None if args.no_baselines else baseline_kwargs, args)
        code = coord.wait(timeout=None)
        if code != 0:
            failures.append(f"coordinator exited with code {code}: {last_error(coord.log)}")
        failures += nodes.wait()
        if baseline is not None:
            failures += baseline()
        if not failures:
            _export(launcher, out, in_process)
    except KeyboardInterrupt:
        failures.append("interrupted")
    finally:
        progress.close()
        launcher.close()
    elapsed = time.perf_counter() - started
    if failures:
        raise RunFailed("; ".join(failures) + f" (logs in {out / 'logs'})")
    results = json.loads((out / "results.json").read_text())
    final, pooled = results.get("final", {}), (results.get("baselines") or {}).get("pooled") or {}
    print(f"done in {elapsed:.1f} s: final AUROC {_fmt(final.get('auroc'))}"
          f" (pooled baseline {_fmt(pooled.get('auroc'))}) -> {out}")
    return 0


def _own_budgets(items: list[str], names: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            eps = float(value)
        except ValueError:
            eps = -1.0
        if not sep or name not in names or not eps > 0:
            raise ConfigError(f"--hospital-epsilon {item!r} is not NAME=EPS for one of "
                              f"{', '.join(names)}")
        out[name] = eps
    return out


def _hospital_names(args: argparse.Namespace, options: dict[str, str]) -> list[str]:
    """hospital-1..N, or the data set's own site names for a natural split."""
    default = [f"hospital-{i + 1}" for i in range(args.hospitals)]
    if args.partition != "natural":
        return default
    from fedhealth.data.partition import site_names
    from fedhealth.data.registry import load_source

    source = load_source(args.dataset, args.data_dir, options)
    if source.groups is None:
        return default
    names = ["site-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in n)
             for n in site_names(source.groups, args.hospitals)]
    return names if len(set(names)) == len(names) == args.hospitals else default


class _Nodes:
    def __init__(self, waiters: list[Any]) -> None:
        self.waiters = waiters

    def wait(self) -> list[str]:
        return [msg for w in self.waiters if (msg := w())]


def _start_hospitals(launcher: Any, settings: list[Any], in_process: bool, out: Path,
                     baseline_kwargs: dict[str, Any] | None, args: argparse.Namespace) -> tuple[_Nodes, Any]:
    from fedhealth.local.launcher import last_error
    cfg = dict(local_epochs=args.rounds * args.local_epochs, batch_size=args.batch_size,
               learning_rate=args.lr, optimizer=args.optimizer, seed=args.seed * 100_003)
    result_file = out / "baseline_pooled.json"
    if in_process:
        return _start_in_process(settings, out, baseline_kwargs, cfg, result_file)
    parts = [launcher.child(s.node_id, "fedhealth_node.main:run_in_child", s,
                            str(out / "logs" / f"{s.node_id}.log"))
             for s in settings]

    def waiter(part: Any) -> Any:
        def wait() -> str:
            code = part.wait(timeout=None)
            return "" if code == 0 else f"{part.name} exited with code {code}: {last_error(part.log)}"
        return wait

    base = None
    if baseline_kwargs is not None:
        bpart = launcher.child("baseline", "fedhealth.local.baseline:run_in_child",
                               str(result_file), {**baseline_kwargs, "cfg": cfg})

        def base() -> list[str]:
            bpart.wait(timeout=None)
            return _merge_baseline(out, result_file)
    return _Nodes([waiter(p) for p in parts]), base


def _start_in_process(settings: list[Any], out: Path, baseline_kwargs: dict[str, Any] | None,
                      cfg: Any, result_file: Path) -> tuple[_Nodes, Any]:
    import torch

    from fedhealth import logs
    from fedhealth.local import baseline
    from fedhealth_node.main import run as run_node

    torch.set_num_threads(1)
    log_file = open(out / "logs" / "nodes.log", "a", buffering=1)  # noqa: SIM115
    import structlog

    logs.configure("node", json=True)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=log_file))
    codes: dict[str, int] = {}
    threads = []
    for s in settings:
        t = threading.Thread(target=lambda s=s: codes.__setitem__(s.node_id, run_node(s)),
                             name=s.node_id, daemon=True)
        t.start()
        threads.append(t)

    def waiter(t: threading.Thread) -> Any:
        def wait() -> str:
            t.join()
            code = codes.get(t.name, 1)
            return "" if code == 0 else f"{t.name} ended with code {code} (see {log_file.name})"
        return wait

    base = None
    if baseline_kwargs is not None:
        def base() -> list[str]:
            baseline.run_in_child(str(result_file), {**baseline_kwargs, "cfg": cfg})
            return _merge_baseline(out, result_file)
    return _Nodes([waiter(t) for t in threads]), base


def _merge_baseline(out: Path, result_file: Path) -> list[str]:
    if not result_file.is_file():
        return ["pooled baseline did not finish (see logs/baseline.log)"]
    blob = json.loads(result_file.read_text())
    if not blob.get("ok"):
        return [f"pooled baseline failed: {blob.get('error')}"]
    results_path = out / "results.json"
    if results_path.is_file():
        results = json.loads(results_path.read_text())
        results.setdefault("baselines", {})["pooled"] = blob["metrics"]
        atomic.write_json(results_path, results)
    result_file.unlink(missing_ok=True)
    return []


def _export(launcher: Any, out: Path, in_process: bool) -> None:
    """model.pt and report.png, in a forked child (the parent never imports torch)."""
    if in_process:
        from fedhealth import modelfile

        modelfile.finish_run(out)
        return
    part = launcher.child("export", "fedhealth.modelfile:finish_run", out)
    if part.wait(timeout=120) != 0 or not (out / "model.pt").is_file():
        raise RunFailed("writing model.pt or report.png failed (see logs)")
