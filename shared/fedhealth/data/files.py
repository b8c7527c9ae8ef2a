"""Index files of the public data sets, read with errors that name the file and column."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from fedhealth.errors import DataError


def require_dir(data_dir: Path | None, dataset: str) -> Path:
    """The data folder, or `DataError` when none was given or it does not exist."""
    if data_dir is None:
        raise DataError(f"dataset {dataset} needs a data folder (--data-dir)")
    path = Path(data_dir)
    if not path.is_dir():
        raise DataError(f"data folder {path} for dataset {dataset} does not exist")
    return path


def read_csv(path: Path, columns: Sequence[str], **kwargs: object) -> pd.DataFrame:
    """Read a CSV and check it has `columns` (exact case); `DataError` names what is missing."""
    if not path.is_file():
        raise DataError(f"data file {path} is missing")
    try:
        frame = pd.read_csv(path, **kwargs)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(f"data file {path} is not a readable CSV: {err}") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"data file {path} lacks column(s) {', '.join(map(repr, missing))}")
    return frame
