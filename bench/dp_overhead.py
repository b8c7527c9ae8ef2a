"""DP-SGD overhead: samples/second of plain training vs DP-SGD, per grad-sample mode.

Prints one JSON object. For the tabular MLP (30 features, WDBC-sized) and the ECG 1-D
CNN (12 leads x 1000 samples), and with `--archs all` also the image CNN, ResNet-18 and
the ICU GRU (24 hours x 40 features):
plain throughput with `fedhealth.training.loop.train`, DP throughput with
`fedhealth.privacy.dp_sgd.train_private` in each mode, the time ratio DP/plain per mode,
and the mode `auto` picks. `opacus_stock` is the reference the goals were set against:
Opacus's own hooks-mode `GradSampleModule` and `DPOptimizer` over `torch.optim.Adam`,
with the same Poisson sampling, batches and noise. Same batch size (expected batch size
under Poisson sampling), optimizer and data for both. Each measurement is the best of
`--repeats` timed rounds after one warm-up round, plain and DP rounds interleaved so
that load from other processes hits both alike. Torch runs single-threaded by default
(`--threads`): on this shared 2-core machine two intra-op threads made the small models
slower and their timings erratic.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch
from opacus import GradSampleModule
from opacus.optimizers import DPOptimizer
from torch import nn
from torch.utils.data import TensorDataset

from fedhealth.models import registry
from fedhealth.privacy.dp_sgd import MODES, DPConfig, pick_mode, train_private
from fedhealth.privacy.output_grads import unsupported_layers
from fedhealth.training.loop import TrainConfig, train

CASES = {
    "mlp": ((30,), 4096, 64),
    "ecg_cnn": ((12, 1000), 512, 32),
}
EXTRA_CASES = {
    "cnn": ((3, 64, 64), 256, 32),
    "resnet18": ((3, 64, 64), 64, 16),
    "gru": ((24, 40), 512, 32),
}


def _data(shape: tuple[int, ...], n: int) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, *shape, generator=g)
    y = (x.reshape(n, -1)[:, 0] > 0).float()
    return TensorDataset(x, y)


def _opacus_stock(model: nn.Module, data: TensorDataset, cfg: TrainConfig) -> float:
    """One round of stock Opacus DP-SGD (hooks, DPOptimizer, torch Adam); records seen."""
    x, y = data.tensors
    n = len(x)
    q = cfg.batch_size / n
    wrapped = GradSampleModule(model, batch_first=True, loss_reduction="mean")
    opt = DPOptimizer(torch.optim.Adam(wrapped.parameters(), lr=cfg.learning_rate),
                      noise_multiplier=1.0, max_grad_norm=1.0, expected_batch_size=cfg.batch_size,
                      generator=torch.Generator().manual_seed(1))
    sampler, seen = torch.Generator().manual_seed(0), 0
    for _ in range(round(1 / q)):
        idx = torch.nonzero(torch.rand(n, generator=sampler) < q).reshape(-1)
        opt.zero_grad(set_to_none=True)
        logits = wrapped(x[idx]).reshape(-1)
        nn.functional.binary_cross_entropy_with_logits(logits, y[idx]).backward()
        opt.step()
        seen += len(idx)
    opt.zero_grad(set_to_none=True)
    wrapped._close()
    return float(seen)


def _best_rates(fns: list, repeats: int) -> list[float]:
    """Best samples/second of each function, timed round-robin."""
    for fn in fns:
        fn()  # warm-up
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            seen = fn()
            best[i] = min(best[i], (time.perf_counter() - start) / seen)
    return [1.0 / b for b in best]


def measure(arch: str, repeats: int, modes: tuple[str, ...]) -> dict[str, object]:
    shape, n, batch = {**CASES, **EXTRA_CASES}[arch]
    data = _data(shape, n)
    cfg = TrainConfig(local_epochs=1, batch_size=batch, learning_rate=0.01, optimizer="adam")
    model = registry.build(registry.ModelSpec(arch, {"input_shape": list(shape)}))
    device = torch.device("cpu")
    fns = [lambda: train(model, data, cfg, "binary", device)["samples"]]
    modes = tuple(m for m in modes if m != "outputs" or not unsupported_layers(model))
    for mode in modes:
        dp = DPConfig(noise_multiplier=1.0, max_grad_norm=1.0, grad_sample_mode=mode, seed=0)
        fns.append(lambda dp=dp: train_private(model, data, cfg, dp, "binary", device)[0]["samples"])
    fns.append(lambda: _opacus_stock(model, data, cfg))
    plain, *rates, stock = _best_rates(fns, repeats)
    out: dict[str, object] = {"records": n, "batch_size": batch,
                              "plain_samples_per_s": round(plain, 1), "modes": {}}
    for mode, rate in zip(modes, rates):
        out["modes"][mode] = {"dp_samples_per_s": round(rate, 1),
                              "time_ratio": round(plain / rate, 2)}
    out["opacus_stock"] = {"dp_samples_per_s": round(stock, 1),
                           "time_ratio": round(plain / stock, 2)}
    auto = pick_mode(model)
    out["auto_mode"] = auto
    if auto in out["modes"]:
        out["auto_time_ratio"] = out["modes"][auto]["time_ratio"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--archs", default="mlp,ecg_cnn",
                        help="comma-separated, or 'all' to add the image CNN, ResNet-18 and GRU")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(),
              "machine": platform.processor() or platform.machine(),
              "goal_time_ratio": {"mlp": 3.0, "ecg_cnn": 2.0}}
    modes = tuple(args.modes.split(","))
    archs = [*CASES, *EXTRA_CASES] if args.archs == "all" else args.archs.split(",")
    for arch in archs:
        result[arch] = measure(arch, args.repeats, modes)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
