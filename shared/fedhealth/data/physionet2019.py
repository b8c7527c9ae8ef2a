"""PhysioNet/CinC Challenge 2019 sepsis (`--dataset physionet2019`) as fixed-length windows.

Reads `training/training_setA/*.psv` and `training/training_setB/*.psv` (pipe-separated,
one file per patient, one row per ICU hour, `NaN` for missing); the two sets are two real
hospitals, so `groups` is "A" or "B". Each variable is forward-filled within the patient;
a mask marks the hours it was actually measured. A record is the `window_hours` hours
(default 12) ending at some hour, shaped (T, 80): the 40 normalised variables (0 where
not yet measured) then their 40 masks; its label is SepsisLabel at its last hour.

Windows: by default one per patient, ending at its last hour (so no patient lands in
both train and test). Option `stride=K` instead ends a window at every K-th hour counting
back from the last, down to hour 0 (front-padded); `stride=1` gives one window per hour,
which is what the challenge's utility score needs. Patients then span train and test.

Normalisation is fitted on training windows only, from summable stats (see `fitted`).
A file that cannot be parsed is skipped and counted in the notes; a SepsisLabel other
than 0/1 is an error naming the file and line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fedhealth.data.base import DataSource, Schema
from fedhealth.data.fitted import FittableSource, _unfitted
from fedhealth.data.preprocess import NumericStats, PreprocessStats
from fedhealth.data.sepsis_utility import (  # noqa: F401  (re-exported for callers)
    add_sums, normalized_utility, utility_sums)
from fedhealth.errors import ConfigError, DataError

VARIABLES: tuple[str, ...] = (
    "HR", "O2Sat", "Temp", "SBP", "MAP", "DBP", "Resp", "EtCO2", "BaseExcess", "HCO3", "FiO2",
    "pH", "PaCO2", "SaO2", "AST", "BUN", "Alkalinephos", "Calcium", "Chloride", "Creatinine",
    "Bilirubin_direct", "Glucose", "Lactate", "Magnesium", "Phosphate", "Potassium",
    "Bilirubin_total", "TroponinI", "Hct", "Hgb", "PTT", "WBC", "Fibrinogen", "Platelets",
    "Age", "Gender", "Unit1", "Unit2", "HospAdmTime", "ICULOS",
)
LABEL = "SepsisLabel"
HEADER = "|".join((*VARIABLES, LABEL))
SETS = {"A": "training_setA", "B": "training_setB"}
FEATURE_NAMES = VARIABLES + tuple(f"{v}:measured" for v in VARIABLES)


def read_patient(path: Path) -> np.ndarray:
    """The (hours, 41) float array of one .psv file; ValueError when malformed."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].strip() != HEADER:
        raise ValueError("header is not the 40 variables + SepsisLabel")
    rows = [line.split("|") for line in lines[1:] if line.strip()]
    if not rows:
        raise ValueError("no hourly rows")
    for i, row in enumerate(rows):
        if len(row) != len(VARIABLES) + 1:
            raise ValueError(f"line {i + 2} has {len(row)} fields, not {len(VARIABLES) + 1}")
    data = np.array(rows, dtype=np.float64)  # ValueError on a non-number
    bad = ~np.isin(data[:, -1], (0.0, 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{path}, line {i + 2}: {LABEL} is {rows[i][-1]!r}; expected 0 or 1")
    return data


def forward_fill(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values carried forward per column, mask of hours actually measured)."""
    measured = np.isfinite(values)
    idx = np.where(measured, np.arange(len(values))[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    filled = np.take_along_axis(values, idx, axis=0)
    seen = np.maximum.accumulate(measured, axis=0)
    return np.where(seen, filled, np.nan), measured


def set_folders(root: Path) -> dict[str, Path]:
    """The training set folders under `root` (or `root/training`), by hospital letter."""
    found = {}
    for letter, name in SETS.items():
        for candidate in (root / "training" / name, root / name):
            if candidate.is_dir():
                found[letter] = candidate
                break
    if not found:
        raise DataError(f"PhysioNet 2019 folders {root / 'training' / SETS['A']} and "
                        f"{root / 'training' / SETS['B']} do not exist")
    return found


@dataclass
class SepsisSource(FittableSource):
    """Windows plus which patient and hour each one ends at (for the utility score)."""

    patient: np.ndarray | None = None
    end_hour: np.ndarray | None = None


def _windows(data: np.ndarray, window: int, stride: int) -> list[tuple[int, np.ndarray,
                                                                       np.ndarray]]:
    values, measured = forward_fill(data[:, :-1])
    last = len(data) - 1
    ends = [last] if stride == 0 else list(range(last, -1, -stride))[::-1]
    out = []
    for end in ends:
        start = end - window + 1
        v = np.full((window, len(VARIABLES)), np.nan)
        m = np.zeros((window, len(VARIABLES)), dtype=bool)
        lo = max(start, 0)
        v[lo - start:] = values[lo:end + 1]
        m[lo - start:] = measured[lo:end + 1]
        out.append((end, v, m))
    return out


def _int_option(options: Mapping[str, str], name: str, default: int, low: int) -> int:
    try:
        value = int(options.get(name, default))
    except ValueError:
        value = low - 1
    if value < low:
        raise ConfigError(f"physionet2019 option {name} must be an integer >= {low}, "
                          f"not {options.get(name)!r}")
    return value


def load(data_dir: Path | None, options: Mapping[str, str]) -> DataSource:
    """Windows of every patient under `data_dir` (see the module docstring)."""
    if data_dir is None:
        raise ConfigError("dataset physionet2019 needs --data-dir: the folder holding training/")
    window = _int_option(options, "window_hours", 12, 1)
    stride = _int_option(options, "stride", 0, 0)
    values, masks, labels, groups, patients, ends = [], [], [], [], [], []
    notes: list[str] = []
    for letter, folder in set_folders(Path(data_dir)).items():
        files = sorted(folder.glob("*.psv"))
        skipped: list[str] = []
        for path in files:
            try:
                data = read_patient(path)
            except (ValueError, UnicodeDecodeError) as err:
                skipped.append(f"{path.name} ({err})")
                continue
            for end, v, m in _windows(data, window, stride):
                values.append(v)
                masks.append(m)
                labels.append(data[end, -1])
                groups.append(letter)
                patients.append(path.stem)
                ends.append(end)
        if skipped:
            notes.append(f"{folder}: skipped {len(skipped)} of {len(files)} unreadable "
                         f"file(s): {'; '.join(skipped[:3])}{' ...' if len(skipped) > 3 else ''}")
        if not files:
            notes.append(f"{folder}: no .psv files")
    if not values:
        raise DataError(f"no readable .psv file under {data_dir}")
    raw = np.stack(values).astype(np.float32)
    mask = np.stack(masks).astype(np.float32)
    y = np.asarray(labels, dtype=np.float32)
    group_arr = np.asarray(groups, dtype=object)
    for letter in sorted(set(groups)):
        if y[group_arr == letter].sum() == 0:
            notes.append(f"hospital {letter}: no window with {LABEL} = 1")
    return _source(raw, mask, y, group_arr, np.asarray(patients), np.asarray(ends), notes, None)


def _source(raw: np.ndarray, mask: np.ndarray, y: np.ndarray, groups: np.ndarray,
            patients: np.ndarray, ends: np.ndarray, notes: list[str],
            stats: PreprocessStats | None) -> SepsisSource:
    schema = Schema(dataset="physionet2019", modality="timeseries", task="binary",
                    input_shape=(raw.shape[1], 2 * len(VARIABLES)),
                    feature_names=FEATURE_NAMES, label_names=("no sepsis", "sepsis"))

    def stats_of(idx: np.ndarray) -> PreprocessStats:
        part = raw[np.asarray(idx)]
        numeric = {v: NumericStats.of(part[..., j].ravel()) for j, v in enumerate(VARIABLES)}
        return PreprocessStats(int(len(idx)), numeric, {})

    def bind(new: PreprocessStats) -> DataSource:
        return _source(raw, mask, y, groups, patients, ends, list(notes), new)

    make_dataset = _unfitted
    if stats is not None:
        missing = [v for v in VARIABLES if v not in stats.numeric]
        if missing:
            raise DataError(f"normalisation statistics lack {', '.join(missing)}")
        mean = np.array([stats.numeric[v].mean for v in VARIABLES], dtype=np.float32)
        std = np.array([stats.numeric[v].std for v in VARIABLES], dtype=np.float32)
        x = np.concatenate([np.nan_to_num((raw - mean) / std, nan=0.0), mask], axis=2)

        def make_dataset(idx: np.ndarray) -> object:
            import torch

            return torch.utils.data.TensorDataset(torch.from_numpy(x[idx]),
                                                  torch.from_numpy(y[idx]))

    return SepsisSource(schema=schema, labels=y, make_dataset=make_dataset, groups=groups,
                        notes=notes, stats_of=stats_of, bind=bind, patient=patients,
                        end_hour=ends)


def patient_series(source: SepsisSource, idx: np.ndarray, predictions: np.ndarray
                   ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Hourly labels and 0/1 predictions per patient, from window scores at `idx`
    (alarm when >= 0.5), in hour order, ready for `utility_sums`. Meaningful with
    `stride=1`, where every hour of a patient ends one window."""
    idx = np.asarray(idx)
    pred = np.asarray(predictions).reshape(-1)
    if len(pred) != len(idx):
        raise ValueError(f"{len(pred)} predictions for {len(idx)} windows")
    if source.patient is None or source.end_hour is None:
        raise DataError("this source does not record which patient and hour a window ends at")
    labels_out, preds_out = [], []
    pats = source.patient[idx]
    for p in np.unique(pats):
        sel = np.flatnonzero(pats == p)
        order = sel[np.argsort(source.end_hour[idx[sel]], kind="stable")]
        labels_out.append(source.labels[idx[order]].astype(float))
        preds_out.append((pred[order] >= 0.5).astype(float))
    return labels_out, preds_out
