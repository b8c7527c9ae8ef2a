"""`fedhealth predict`: score new records with a trained model.pt, as a hospital would."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from fedhealth.errors import DataError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="score a CSV of new records with a model.pt",
                       description="Score new records (a CSV with the model's feature columns).")
    p.add_argument("--model", type=Path, required=True, help="model.pt from a run directory")
    p.add_argument("--input", type=Path, required=True, help="CSV with the feature columns")
    p.add_argument("--output", type=Path, required=True, help="CSV to write the scores to")
    p.add_argument("--threshold", type=float, default=0.5, help="probability for a positive call")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd
    import torch

    from fedhealth import atomic, modelfile

    saved = modelfile.load(args.model)
    names = list(saved.schema.get("feature_names", []))
    if saved.schema.get("modality") != "tabular" or not names:
        raise DataError(f"model {args.model} is not a tabular model; predict takes CSV records")
    try:
        frame = pd.read_csv(args.input)
    except FileNotFoundError:
        raise DataError(f"input file {args.input} does not exist") from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise DataError(f"input file {args.input} is not a readable CSV: {err}") from None
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise DataError(f"input file {args.input} lacks column(s): {', '.join(repr(c) for c in missing)}")
    values = frame[names].apply(pd.to_numeric, errors="coerce")
    bad = values.isna().any(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        col = values.columns[values.iloc[row].isna()][0]
        raise DataError(f"input file {args.input}, row {row + 2}: column {col!r} is empty or not a number")
    x = saved.preprocess(values.to_numpy(dtype=np.float64))
    with torch.no_grad():
        logits = saved.module(torch.from_numpy(x))
    prob = torch.sigmoid(logits[:, 0]).numpy().astype(np.float64)
    out = frame.drop(columns=names).copy()
    out["probability"] = prob
    out["prediction"] = (prob >= args.threshold).astype(int)
    atomic.write_text(args.output, out.to_csv(index=False))
    print(f"scored {len(out)} records -> {args.output}")
    return 0
