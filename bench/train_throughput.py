"""Local training samples per second of the default model on CPU and, where a GPU is
present, on GPU with and without bf16 autocast. Prints JSON."""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from fedhealth.data.registry import load_source
from fedhealth.models.registry import build, spec_for
from fedhealth.training import loop


def samples_per_s(device: torch.device, bf16: bool, epochs: int, repeats: int,
                  batch_size: int) -> float:
    source = load_source("breast_cancer")
    ds = source.make_dataset(torch.arange(len(source)).numpy())
    x, y = ds.tensors
    x = ((x - x.mean(0)) / x.std(0)).to(device)
    y = y.to(device)
    model = build(spec_for(source.schema)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rates = []
    for _ in range(repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(epochs):
            for i in range(0, len(x), batch_size):
                opt.zero_grad(set_to_none=True)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    loss = loop.loss_fn("binary", model(x[i:i + batch_size]), y[i:i + batch_size])
                loss.backward()
                opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(epochs * len(x) / (time.perf_counter() - start))
    return statistics.median(rates[1:])  # the first pass is warm-up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = {"benchmark": "train_throughput", "model": "mlp (breast_cancer)",
           "batch_size": args.batch_size, "cpu_threads": 1,
           "cpu_samples_per_s": samples_per_s(torch.device("cpu"), False, args.epochs,
                                              args.repeats, args.batch_size)}
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        out["gpu"] = torch.cuda.get_device_name(0)
        out["gpu_samples_per_s"] = samples_per_s(gpu, False, args.epochs, args.repeats, args.batch_size)
        out["gpu_bf16_samples_per_s"] = samples_per_s(gpu, True, args.epochs, args.repeats, args.batch_size)
    else:
        out["gpu"] = None
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
