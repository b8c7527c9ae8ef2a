"""Any tabular CSV or Parquet file as a binary task (`--dataset csv`).

Options: `target` (required), `site_column` (natural split: each distinct value is a
hospital), `positive` (the label value that counts as 1; without it the target must be
0/1 or true/false), `categorical` and `drop` (comma-separated column names to force as
categorical, or to leave out, e.g. an identifier or a leaking follow-up time).

Columns are typed automatically: a column is numeric when at least 90% of its non-blank
values parse as numbers. A row with an unparseable value in a numeric column, or with
a blank target, is skipped and counted in `DataSource.notes`; a target value outside
the expected set is an error naming its line. Preprocessing is fitted on training rows
only (see `fedhealth.data.fitted`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from fedhealth.data.base import DataSource
from fedhealth.data.fitted import frame_source
from fedhealth.errors import ConfigError, DataError

NUMERIC_SHARE = 0.9
_TRUE = {"1", "1.0", "true", "yes"}
_FALSE = {"0", "0.0", "false", "no"}


def read_table(path: Path) -> pd.DataFrame:
    """The file as a frame of strings (CSV/TSV) or typed columns (Parquet)."""
    if not path.is_file():
        raise DataError(f"data file {path} does not exist")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        sep = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=True)
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise DataError(f"data file {path} cannot be read as a table: {err}") from None


def _where(path: Path, i: int) -> str:
    """A human row reference: the CSV line number (header is line 1) or Parquet row."""
    if path.suffix.lower() in (".parquet", ".pq"):
        return f"{path}, row {i + 1}"
    return f"{path}, line {i + 2}"


def _norm(value: object) -> str:
    """A label or site value as text; 3.0 and "3" both give "3"."""
    text = str(value).strip()
    try:
        f = float(text)
    except ValueError:
        return text
    return str(int(f)) if f.is_integer() else text


def _labels(path: Path, column: pd.Series, rows: np.ndarray, positive: str | None
            ) -> np.ndarray:
    """0/1 labels of the file rows `rows`; an unexpected value names its line."""
    text = [_norm(column.iloc[i]) for i in rows]
    if positive is not None:
        positive = _norm(positive)
        negative = next((t for t in text if t != positive), None)
        for i, t in zip(rows, text):
            if t not in (positive, negative):
                raise DataError(f"{_where(path, i)}: target {column.name!r} is {t!r}; expected "
                                f"{positive!r} (positive) or {negative!r} (negative)")
        return np.array([t == positive for t in text], dtype=np.float32)
    for i, t in zip(rows, text):
        if t.lower() not in _TRUE | _FALSE:
            raise DataError(f"{_where(path, i)}: target {column.name!r} is {t!r}; expected 0/1 "
                            f"(or pass the positive value, e.g. positive={t})")
    return np.array([t.lower() in _TRUE for t in text], dtype=np.float32)


def _split_list(text: str | None) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def load(data_dir: Path | None, options: Mapping[str, str]) -> DataSource:
    """Load the table at `data_dir` (a file) with `options` (see the module docstring)."""
    if data_dir is None:
        raise ConfigError("dataset csv needs --data-dir pointing at a .csv or .parquet file")
    path = Path(data_dir)
    frame = read_table(path)
    target, site = options.get("target"), options.get("site_column")
    if not target:
        raise ConfigError(f"dataset csv needs a target column (--target); {path} has columns: "
                          f"{', '.join(map(str, frame.columns))}")
    for role, col in (("target", target), ("site column", site)):
        if col and col not in frame.columns:
            raise DataError(f"{path} has no {role} {col!r}; columns: "
                            f"{', '.join(map(str, frame.columns))}")
    forced, drop = set(_split_list(options.get("categorical"))), _split_list(options.get("drop"))
    unknown = sorted((forced | set(drop)) - set(frame.columns))
    if unknown:
        raise DataError(f"{path} has no column(s) {', '.join(unknown)}")

    keep = np.ones(len(frame), dtype=bool)
    notes: list[str] = []
    blank = frame[target].isna() | (frame[target].astype(str).str.strip() == "")
    if blank.any():
        notes.append(f"{path}: skipped {int(blank.sum())} row(s) with a blank target "
                     f"(first at {_where(path, int(np.flatnonzero(blank)[0])).split(', ')[-1]})")
        keep &= ~blank.to_numpy()

    features = [c for c in frame.columns if c not in {target, site, *drop}]
    numeric, categorical = [], []
    for col in features:
        s = frame[col]
        if col in forced or s.dtype == bool:
            categorical.append(col)
            continue
        if pd.api.types.is_numeric_dtype(s):
            numeric.append(col)
            continue
        present = s.notna() & (s.astype(str).str.strip() != "")
        parsed = pd.to_numeric(s.where(present), errors="coerce")
        good = parsed.notna()
        if present.any() and good.sum() >= NUMERIC_SHARE * present.sum():
            numeric.append(col)
            bad = (present & ~good).to_numpy() & keep
            if bad.any():
                first = _where(path, int(np.flatnonzero(bad)[0]))
                notes.append(f"{path}: skipped {int(bad.sum())} row(s) whose {col!r} is not a "
                             f"number (first at {first.split(', ')[-1]})")
                keep &= ~bad
            frame[col] = parsed
        else:
            categorical.append(col)

    rows = np.flatnonzero(keep)
    table = frame.iloc[rows].reset_index(drop=True)
    y = _labels(path, frame[target], rows, options.get("positive"))
    groups = None
    if site:
        groups = np.array([None if pd.isna(v) or str(v).strip() == "" else _norm(v)
                           for v in table[site]], dtype=object)
    if y.sum() == 0:
        notes.append(f"{path}: no positive {target!r} in the data")
    return frame_source(f"csv:{path.stem}", table, y, numeric, categorical, groups,
                        label_names=("negative", "positive"), notes=notes)
