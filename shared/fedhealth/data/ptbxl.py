"""PTB-XL 12-lead ECGs (PhysioNet ptb-xl 1.0.x), split naturally by recording site.

Folder (`--data-dir`): `ptbxl_database.csv`, `scp_statements.csv` and the WFDB records
`records100/00000/00001_lr.{hea,dat}` (100 Hz) and `records500/00000/00001_hr.{hea,dat}`
(500 Hz), named by the `filename_lr` / `filename_hr` columns.

Labels use the diagnostic superclasses of each record's `scp_codes` (a dict string read with
`ast.literal_eval`), aggregated as in PTB-XL's own example: every code whose
`scp_statements.csv` row has `diagnostic == 1` contributes its `diagnostic_class` (NORM, MI,
STTC, CD, HYP), whatever its likelihood. Records with no diagnostic code are dropped and
counted. Tasks (option `task`):

- `abnormal` (default, binary): 1 when any superclass other than NORM is present, 0 when the
  record is NORM only -- the screening question, with both classes large at every site;
- `mi` (binary): 1 when MI is among the superclasses;
- `superclass` (multilabel): the five superclasses, multi-hot.

Options: `sampling=100|500` (default 100; x is float32 (12, 10*sampling), z-scored per lead),
`folds` (e.g. `1-8` or `9,10`; default all ten `strat_fold`s). Groups: the `site` column
(NaN = no site, left out of natural partitions). A record whose header is missing or whose
`.dat` size does not match its header is skipped and counted; the signals are read lazily.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from fedhealth.data.base import DataSource, Schema
from fedhealth.data.ecg import STANDARD_LEADS, lead_indices, normalise
from fedhealth.data.files import read_csv, require_dir
from fedhealth.data.images import skipped_note
from fedhealth.data.options import choice_option
from fedhealth.errors import ConfigError, DataError

DATASET = "ptbxl"
DATABASE = "ptbxl_database.csv"
STATEMENTS = "scp_statements.csv"
SUPERCLASSES = ("NORM", "MI", "STTC", "CD", "HYP")
DB_COLUMNS = ("ecg_id", "patient_id", "age", "sex", "site", "scp_codes", "strat_fold",
              "filename_lr", "filename_hr")
BYTES_PER_SAMPLE = {"16": 2}


def load(data_dir: Path | None, options: Mapping[str, str]) -> DataSource:
    """Load PTB-XL from `data_dir` (see the module docstring for the tree and options)."""
    root = require_dir(data_dir, DATASET)
    sampling = int(choice_option(options, "sampling", ("100", "500"), "100"))
    task = choice_option(options, "task", ("abnormal", "mi", "superclass"), "abnormal")
    folds = _folds(options.get("folds", "1-10"))

    db = read_csv(root / DATABASE, DB_COLUMNS)
    diagnostic = _diagnostic_classes(root / STATEMENTS)
    _check_values(db, root / DATABASE)
    db = db[db["strat_fold"].isin(folds)].reset_index(drop=True)
    classes = [_superclasses(codes, ecg_id, diagnostic, root / DATABASE)
               for codes, ecg_id in zip(db["scp_codes"], db["ecg_id"])]
    notes: list[str] = []
    has_class = np.array([bool(c) for c in classes])
    if not has_class.all():
        notes.append(f"dropped {int((~has_class).sum())} records without a diagnostic statement")
    db = db[has_class].reset_index(drop=True)
    classes = [c for c in classes if c]

    column = "filename_lr" if sampling == 100 else "filename_hr"
    paths = [root / str(name) for name in db[column]]
    ok, bad = _check_records(paths, sampling)
    if bad:
        notes.append(skipped_note("missing or malformed records", bad))
    if not ok.any():
        raise DataError(f"no readable {sampling} Hz record under {root} "
                        f"(first expected: {paths[0]}.hea)")
    db = db[ok].reset_index(drop=True)
    classes = [c for c, keep in zip(classes, ok) if keep]
    paths = [p for p, keep in zip(paths, ok) if keep]

    if task == "superclass":
        labels = np.array([[float(s in c) for s in SUPERCLASSES] for c in classes], np.float32)
        label_names: tuple[str, ...] = SUPERCLASSES
    elif task == "mi":
        labels = np.array([float("MI" in c) for c in classes], np.float32)
        label_names = ("no MI", "MI")
    else:
        labels = np.array([float(bool(c - {"NORM"})) for c in classes], np.float32)
        label_names = ("NORM", "abnormal")
    site = pd.to_numeric(db["site"], errors="coerce")
    groups = np.array([None if np.isnan(s) else str(int(s)) for s in site], dtype=object)

    def make_dataset(idx: np.ndarray) -> object:
        idx = np.asarray(idx, dtype=np.int64)
        return WfdbDataset([paths[i] for i in idx], labels[idx])

    return DataSource(
        schema=Schema(dataset=DATASET, modality="ecg",
                      task="multilabel" if task == "superclass" else "binary",
                      input_shape=(12, 10 * sampling), label_names=label_names),
        labels=labels, make_dataset=make_dataset, groups=groups, notes=notes,
    )


class WfdbDataset:
    """`(x, y)` pairs read lazily from WFDB records: x float32 (12, samples), z-scored per lead."""

    def __init__(self, paths: list[Path], labels: np.ndarray) -> None:
        import torch

        self.paths = paths
        self.labels = torch.as_tensor(labels)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[object, object]:
        import torch
        import wfdb

        try:
            signal, fields = wfdb.rdsamp(str(self.paths[i]))
            x = normalise(signal[:, lead_indices(fields["sig_name"])].T)
        except (OSError, ValueError, KeyError) as err:
            raise DataError(f"record {self.paths[i]} can no longer be read: {err}") from None
        return torch.from_numpy(x), self.labels[i]


def _folds(text: str) -> set[int]:
    folds: set[int] = set()
    try:
        for part in str(text).split(","):
            low, _, high = part.strip().partition("-")
            folds.update(range(int(low), int(high or low) + 1))
    except ValueError:
        raise ConfigError(f"option folds={text!r}: use e.g. 1-8 or 9,10") from None
    if not folds or not folds <= set(range(1, 11)):
        raise ConfigError(f"option folds={text!r}: strat_fold runs 1..10")
    return folds


def _diagnostic_classes(path: Path) -> dict[str, str | None]:
    """SCP code -> diagnostic superclass (None for form and rhythm statements)."""
    frame = read_csv(path, ("diagnostic", "diagnostic_class"), index_col=0)
    diagnostic = pd.to_numeric(frame["diagnostic"], errors="coerce") == 1
    bad = diagnostic & ~frame["diagnostic_class"].isin(SUPERCLASSES)
    if bad.any():
        code = frame.index[bad][0]
        raise DataError(f"data file {path}, row {code!r}: column 'diagnostic_class' holds "
                        f"{frame.loc[code, 'diagnostic_class']!r}, "
                        f"not one of {', '.join(SUPERCLASSES)}")
    return {str(code): (cls if diag else None)
            for code, cls, diag in zip(frame.index, frame["diagnostic_class"], diagnostic)}


def _check_values(db: pd.DataFrame, path: Path) -> None:
    checks = {
        "sex": db["sex"].isin([0, 1]),
        "strat_fold": db["strat_fold"].isin(range(1, 11)),
        "site": db["site"].isna() | pd.to_numeric(db["site"], errors="coerce").notna(),
    }
    for column, valid in checks.items():
        if not valid.all():
            row = int(np.flatnonzero(~valid.to_numpy())[0])
            value = db[column].iloc[row]
            value = value.item() if isinstance(value, np.generic) else value
            raise DataError(f"data file {path}, row {row + 2} (ecg_id {db['ecg_id'].iloc[row]}): "
                            f"column {column!r} holds {value!r}")


def _superclasses(text: object, ecg_id: object, diagnostic: Mapping[str, str | None],
                  path: Path) -> set[str]:
    try:
        codes = ast.literal_eval(str(text))
        if not isinstance(codes, dict):
            raise ValueError("not a dict")
    except (ValueError, SyntaxError) as err:
        raise DataError(f"data file {path}, ecg_id {ecg_id}: column 'scp_codes' holds "
                        f"{text!r}, not a dict of SCP codes ({err})") from None
    unknown = [c for c in codes if c not in diagnostic]
    if unknown:
        raise DataError(f"data file {path}, ecg_id {ecg_id}: SCP code {unknown[0]!r} is not in "
                        f"{STATEMENTS}")
    return {diagnostic[c] for c in codes if diagnostic[c]}


def _check_records(paths: list[Path], sampling: int) -> tuple[np.ndarray, list[str]]:
    """Header readable, 12 standard leads at `sampling` Hz, `.dat` size matching the header."""
    import wfdb

    ok = np.zeros(len(paths), dtype=bool)
    bad: list[str] = []
    for i, path in enumerate(paths):
        try:
            header = wfdb.rdheader(str(path))
            lead_indices(header.sig_name, STANDARD_LEADS)
            if int(header.fs) != sampling:
                raise ValueError(f"sampled at {header.fs} Hz, not {sampling}")
            files = set(header.file_name)
            width = sum(BYTES_PER_SAMPLE[f] for f in header.fmt)
            size = sum((path.parent / f).stat().st_size for f in files)
            if size != header.sig_len * width:
                raise ValueError(f"{size} bytes of samples, the header implies "
                                 f"{header.sig_len * width}")
        except (OSError, ValueError, KeyError) as err:
            bad.append(f"{path.name} ({type(err).__name__}: {err})")
            continue
        ok[i] = True
    return ok, bad
