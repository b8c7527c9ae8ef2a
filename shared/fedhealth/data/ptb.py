"""PTB Diagnostic ECG Database (PhysioNet ptbdb 1.0.0), myocardial infarction vs healthy control.

Folder (`--data-dir`): `RECORDS` (lines like `patient001/s0010_re`) and per record
`patientNNN/sNNNN_re.hea`, `.dat` (the 12 standard leads, 1 kHz) and `.xyz` (Frank leads).
Records are read with `wfdb`. The label comes from the header comment
`Reason for admission:` -- `Myocardial infarction` is 1, `Healthy control` is 0; the other
documented reasons are dropped and counted in `notes`, an undocumented one is an error.

Options: `window_s` (default 10) seconds per sample, taken from the record's start;
`sample_rate` (default 100) Hz after resampling; `windows` (default 1) consecutive windows per
record -- more than one puts windows of one record on both sides of a train/test split, so
keep 1 for evaluation. Each window is z-scored per lead. Groups: none (a hospital's
partition is its own extract). A record that is missing or unreadable, or shorter than one
window, is skipped and counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from fedhealth.data.base import DataSource, Schema
from fedhealth.data.ecg import lead_indices, normalise, resample, windows
from fedhealth.data.files import require_dir
from fedhealth.data.images import skipped_note
from fedhealth.data.options import float_option, int_option
from fedhealth.errors import DataError

DATASET = "ptb-ecg"
REASON = "Reason for admission:"
POSITIVE, NEGATIVE = "Myocardial infarction", "Healthy control"
# The other values ptbdb's headers use (PhysioNet's class table spells the hypertrophy
# class both ways in circulating copies, so both are accepted).
OTHER_REASONS = ("Cardiomyopathy", "Heart failure (NYHA 2)", "Heart failure (NYHA 3)",
                 "Heart failure (NYHA 4)", "Bundle branch block", "Dysrhythmia", "Hypertrophy",
                 "Myocardial hypertrophy", "Valvular heart disease", "Myocarditis",
                 "Miscellaneous", "Palpitation", "Stable angina", "Unstable angina", "n/a")


def load(data_dir: Path | None, options: Mapping[str, str]) -> DataSource:
    """Load PTB from `data_dir` (see the module docstring for the tree and options)."""
    import wfdb

    root = require_dir(data_dir, DATASET)
    window_s = float_option(options, "window_s", 10.0, low=0.0)
    rate = int_option(options, "sample_rate", 100, low=1, high=10000)
    count = int_option(options, "windows", 1, low=1)
    records = _records(root)

    xs: list[np.ndarray] = []
    ys: list[float] = []
    bad: list[str] = []
    short: list[str] = []
    dropped: Counter[str] = Counter()
    for name in records:
        try:
            header = wfdb.rdheader(str(root / name))
        except (OSError, ValueError) as err:
            bad.append(f"{name} ({type(err).__name__}: {err})")
            continue
        reason = _reason(header.comments, root / f"{name}.hea")
        if reason not in (POSITIVE, NEGATIVE):
            dropped[reason] += 1
            continue
        needed = int(np.ceil(window_s * count * header.fs))
        try:
            channels = lead_indices(header.sig_name)
            record = wfdb.rdrecord(str(root / name), channels=channels,
                                   sampto=min(needed, header.sig_len))
            signal = np.asarray(record.p_signal, dtype=np.float64).T
        except (OSError, ValueError, KeyError, IndexError) as err:
            bad.append(f"{name} ({type(err).__name__}: {err})")
            continue
        parts = windows(signal, header.fs, window_s, count)
        if not parts:
            short.append(f"{name} ({header.sig_len / header.fs:.1f} s)")
        for part in parts:
            xs.append(normalise(resample(part, header.fs, rate)))
            ys.append(1.0 if reason == POSITIVE else 0.0)

    notes = []
    if bad:
        notes.append(skipped_note("unreadable or missing records", bad))
    if short:
        notes.append(skipped_note(f"records shorter than {window_s:g} s", short))
    if dropped:
        notes.append("dropped records of other diagnoses: " + ", ".join(
            f"{reason} {n}" for reason, n in sorted(dropped.items())))
    if not xs:
        raise DataError(f"no usable MI or healthy-control record under {root} "
                        f"({len(records)} listed in RECORDS)")
    x = np.stack(xs)
    y = np.asarray(ys, dtype=np.float32)

    def make_dataset(idx: np.ndarray) -> object:
        import torch

        idx = np.asarray(idx, dtype=np.int64)
        return torch.utils.data.TensorDataset(torch.from_numpy(x[idx]), torch.from_numpy(y[idx]))

    return DataSource(
        schema=Schema(dataset=DATASET, modality="ecg", task="binary",
                      input_shape=tuple(x.shape[1:]),
                      label_names=("healthy control", "myocardial infarction")),
        labels=y, make_dataset=make_dataset, notes=notes,
    )


def _records(root: Path) -> list[str]:
    path = root / "RECORDS"
    if not path.is_file():
        raise DataError(f"data file {path} is missing "
                        "(it lists the records, e.g. patient001/s0010_re)")
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not names:
        raise DataError(f"data file {path} lists no records")
    return names


def _reason(comments: list[str], path: Path) -> str:
    for comment in comments:
        if comment.strip().startswith(REASON):
            reason = comment.strip()[len(REASON):].strip()
            if reason in (POSITIVE, NEGATIVE, *OTHER_REASONS):
                return reason
            raise DataError(f"record header {path}: field {REASON!r} holds {reason!r}, not one "
                            f"of the documented classes ({POSITIVE}, {NEGATIVE}, ...)")
    raise DataError(f"record header {path} has no {REASON!r} comment")
