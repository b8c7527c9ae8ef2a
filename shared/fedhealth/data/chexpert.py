"""CheXpert-v1.0-small chest X-rays, multi-label with the paper's uncertainty policies.

`--data-dir` is the `CheXpert-v1.0-small` folder (holding `train.csv`, `valid.csv`, `train/`,
`valid/`) or its parent. The CSV's `Path` values start with `CheXpert-v1.0-small/`; they are
resolved against the folder's parent, the folder itself, or (for a renamed folder) the folder
with that first component dropped -- whichever finds the first listed images.

Labels (Irvin et al. 2019): 1.0 positive, 0.0 negative, -1.0 uncertain, blank = not
mentioned = 0. Option `uncertainty`: `ignore` (default, U-Ignore: -1 becomes NaN, masked in the
loss), `zeros` (U-Zeros), `ones` (U-Ones), `mixed` (U-Ones for Atelectasis and Edema, U-Zeros
for the rest, the common choice). Option `tasks`: `competition` (default: Atelectasis,
Cardiomegaly, Consolidation, Edema, Pleural Effusion) or `all` (the 14 observations).
Other options: `split=train|valid|all` (default train), `frontal_only=1`, `image_size`
(default 64), `augment=1`, `check_images=0` (skip the index-time decode check; a file that
then fails raises `DataError` naming it). Grayscale images are replicated to 3 channels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from fedhealth.data.base import DataSource, Schema
from fedhealth.data.files import read_csv, require_dir
from fedhealth.data.images import DEFAULT_IMAGE_SIZE, ImageDataset, keep_readable
from fedhealth.data.options import choice_option, flag_option, int_option
from fedhealth.errors import DataError

DATASET = "chexpert"
FOLDER = "CheXpert-v1.0-small"
OBSERVATIONS = ("No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity",
                "Lung Lesion", "Edema", "Consolidation", "Pneumonia", "Atelectasis",
                "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture",
                "Support Devices")
COMPETITION = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")
U_ONES_IN_MIXED = ("Atelectasis", "Edema")
COLUMNS = ("Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *OBSERVATIONS)
VALUE_SETS = {"Sex": ("Male", "Female", "Unknown"), "Frontal/Lateral": ("Frontal", "Lateral"),
              "AP/PA": ("AP", "PA", "LL", "RL")}


def load(data_dir: Path | None, options: Mapping[str, str]) -> DataSource:
    """Load CheXpert-v1.0-small from `data_dir` (see the module docstring for the options)."""
    root = require_dir(data_dir, DATASET)
    size = int_option(options, "image_size", DEFAULT_IMAGE_SIZE, low=8, high=1024)
    policy = choice_option(options, "uncertainty", ("ignore", "zeros", "ones", "mixed"), "ignore")
    tasks = OBSERVATIONS if choice_option(options, "tasks", ("competition", "all"),
                                          "competition") == "all" else COMPETITION
    split = choice_option(options, "split", ("train", "valid", "all"), "train")
    folder = root if (root / "train.csv").is_file() or (root / "valid.csv").is_file() \
        else root / FOLDER
    names = ("train.csv", "valid.csv") if split == "all" else (f"{split}.csv",)
    frame = pd.concat([_read(folder / name) for name in names], ignore_index=True)
    if flag_option(options, "frontal_only"):
        frame = frame[frame["Frontal/Lateral"] == "Frontal"].reset_index(drop=True)
    if frame.empty:
        raise DataError(f"no image rows in {', '.join(str(folder / n) for n in names)}")

    resolve = _resolver(folder, frame["Path"].head(20).tolist())
    paths = [resolve(p) for p in frame["Path"]]
    notes: list[str] = []
    if flag_option(options, "check_images", default=True):
        frame, paths = keep_readable(frame, paths, size, folder, notes)
    labels = _apply_policy(frame[list(tasks)].to_numpy(dtype=np.float64), tasks, policy)
    augment = flag_option(options, "augment")

    def make_dataset(idx: np.ndarray) -> object:
        idx = np.asarray(idx, dtype=np.int64)
        return ImageDataset([paths[i] for i in idx], labels[idx], size, augment)

    return DataSource(
        schema=Schema(dataset=DATASET, modality="image", task="multilabel",
                      input_shape=(3, size, size), label_names=tuple(tasks)),
        labels=labels, make_dataset=make_dataset, notes=notes,
    )


def _read(path: Path) -> pd.DataFrame:
    frame = read_csv(path, COLUMNS, dtype={c: str for c in ("Path", *VALUE_SETS)})
    for column in OBSERVATIONS:
        values = pd.to_numeric(frame[column], errors="coerce")
        valid = values.isin([1.0, 0.0, -1.0]) | frame[column].isna()
        _raise_first_invalid(frame, valid, path, column)
        frame[column] = values
    for column, allowed in VALUE_SETS.items():
        valid = frame[column].isin(allowed) | (frame[column].isna() & (column == "AP/PA"))
        _raise_first_invalid(frame, valid, path, column)
    return frame


def _raise_first_invalid(frame: pd.DataFrame, valid: pd.Series, path: Path, column: str) -> None:
    if valid.all():
        return
    row = int(np.flatnonzero(~valid.to_numpy())[0])
    raise DataError(f"data file {path}, row {row + 2} ({frame['Path'].iloc[row]}): column "
                    f"{column!r} holds {frame[column].iloc[row]!r}")


def _resolver(folder: Path, sample: list[str]) -> Callable[[str], Path]:
    """The first of the base-folder rules under which a sampled `Path` exists."""
    rules: list[Callable[[str], Path]] = [
        lambda p: folder.parent / p,
        lambda p: folder / p,
        lambda p: folder / Path(*Path(p).parts[1:]) if len(Path(p).parts) > 1 else folder / p,
    ]
    for rule in rules:
        if any(rule(p).is_file() for p in sample):
            return rule
    return rules[0]  # nothing found: every image is reported missing, naming this path


def _apply_policy(raw: np.ndarray, tasks: tuple[str, ...], policy: str) -> np.ndarray:
    labels = np.nan_to_num(raw, nan=0.0)  # blank = not mentioned = negative
    uncertain = raw == -1.0
    for k, task in enumerate(tasks):
        if policy == "ignore":
            fill = np.nan
        elif policy == "ones" or (policy == "mixed" and task in U_ONES_IN_MIXED):
            fill = 1.0
        else:
            fill = 0.0
        labels[uncertain[:, k], k] = fill
    return labels.astype(np.float32)
