"""ISIC 2019 dermoscopy images with FLamby's natural six-centre split (Fed-ISIC2019).

Folder (`--data-dir`)::

    ISIC_2019_Training_Input/ISIC_0000000.jpg ...   (plus ATTRIBUTION.txt, LICENSE.txt)
    ISIC_2019_Training_GroundTruth.csv   image,MEL,NV,BCC,AK,BKL,DF,VASC,SCC,UNK (one-hot)
    ISIC_2019_Training_Metadata.csv      image,age_approx,anatom_site_general,lesion_id,sex
    HAM10000_metadata.csv                (or FLamby's extension-less `HAM10000_metadata`)

Centres follow FLamby's `download_isic.py`: rows with a null `lesion_id` are dropped, the
centre key is the lesion-id prefix (`BCN_`, `HAM_`, `MSK4`) plus HAM10000's `dataset`
column (or `nan`), mapped `BCN_nan`->0, `HAM_vidir_molemax`->1, `HAM_vidir_modern`->2,
`HAM_rosendahl`->3, `MSK4nan`->4, `HAM_vienna_dias`->5; these are `DataSource.groups`.
The task is 8-class (argmax of MEL..SCC; UNK never occurs in training, as in FLamby).

Options: `image_size` (default 64), `augment=1` (flips and rotations in every dataset
built, so meant for training-only sources), `with_metadata=1` (multimodal: x is
`(image, metadata)` with metadata = age/85, an age-missing flag, sex one-hot and
anatomical-site one-hot; blanks are all-zero), `ham_metadata=PATH`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from fedhealth.data.base import DataSource, Schema
from fedhealth.data.files import read_csv, require_dir
from fedhealth.data.images import DEFAULT_IMAGE_SIZE, ImageDataset, keep_readable
from fedhealth.data.options import flag_option, int_option
from fedhealth.errors import DataError

DATASET = "isic2019"
IMAGE_DIR = "ISIC_2019_Training_Input"
GROUND_TRUTH = "ISIC_2019_Training_GroundTruth.csv"
METADATA = "ISIC_2019_Training_Metadata.csv"
HAM_NAMES = ("HAM10000_metadata.csv", "HAM10000_metadata")
ONE_HOT = ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK")
CLASSES = ONE_HOT[:8]
META_COLUMNS = ("image", "age_approx", "anatom_site_general", "lesion_id", "sex")
CENTERS = {
    "BCN_nan": "0", "HAM_vidir_molemax": "1", "HAM_vidir_modern": "2",
    "HAM_rosendahl": "3", "MSK4nan": "4", "HAM_vienna_dias": "5",
}
SEXES = ("male", "female")
SITES = ("anterior torso", "posterior torso", "lateral torso", "upper extremity",
         "lower extremity", "head/neck", "palms/soles", "oral/genital")
FEATURE_NAMES = ("age_approx/85", "age_missing", *(f"sex={s}" for s in SEXES),
                 *(f"anatom_site_general={s}" for s in SITES))


def load(data_dir: Path | None, options: Mapping[str, str]) -> DataSource:
    """Load ISIC 2019 from `data_dir` (see the module docstring for the tree and options)."""
    root = require_dir(data_dir, DATASET)
    size = int_option(options, "image_size", DEFAULT_IMAGE_SIZE, low=8, high=1024)
    augment = flag_option(options, "augment")
    with_metadata = flag_option(options, "with_metadata")
    notes: list[str] = []

    frame = _index(root, options, notes)
    paths = [root / IMAGE_DIR / f"{name}.jpg" for name in frame["image"]]
    frame, paths = keep_readable(frame, paths, size, root / IMAGE_DIR, notes)

    labels = frame[list(CLASSES)].to_numpy().argmax(axis=1).astype(np.int64)
    tabular = _metadata_features(frame) if with_metadata else None

    def make_dataset(idx: np.ndarray) -> object:
        idx = np.asarray(idx, dtype=np.int64)
        return ImageDataset([paths[i] for i in idx], labels[idx], size, augment,
                            None if tabular is None else tabular[idx])

    return DataSource(
        schema=Schema(
            dataset=DATASET, modality="multimodal" if with_metadata else "image",
            task="multiclass", input_shape=(3, size, size),
            feature_names=FEATURE_NAMES if with_metadata else (), label_names=CLASSES,
        ),
        labels=labels,
        make_dataset=make_dataset,
        groups=frame["center"].to_numpy(dtype=object),
        notes=notes,
    )


def _index(root: Path, options: Mapping[str, str], notes: list[str]) -> pd.DataFrame:
    """Ground truth joined with metadata and centres, rows checked, null lesion ids dropped."""
    gt_path, meta_path = root / GROUND_TRUTH, root / METADATA
    truth = read_csv(gt_path, ("image", *ONE_HOT))
    meta = read_csv(meta_path, META_COLUMNS, dtype={"lesion_id": str, "sex": str,
                                                   "anatom_site_general": str})
    _check_one_hot(truth, gt_path)
    _check_metadata(meta, meta_path)
    frame = truth.merge(meta, on="image", how="left", indicator=True, validate="one_to_one")
    orphans = frame.loc[frame["_merge"] == "left_only", "image"]
    if len(orphans):
        raise DataError(f"data file {meta_path} has no row for image {orphans.iloc[0]!r} "
                        f"({len(orphans)} images of {gt_path.name} are missing)")
    frame = frame.drop(columns="_merge")

    null = frame["lesion_id"].isna()
    if null.any():
        notes.append(f"dropped {int(null.sum())} images with a null lesion_id (no centre), "
                     "as FLamby does")
    frame = frame[~null].reset_index(drop=True)

    ham = _ham_metadata(root, options)
    merged = frame.merge(ham, on="image", how="left")
    key = merged["lesion_id"].str[:4] + merged["dataset"].astype(str)
    merged["center"] = key.map(CENTERS)
    unknown = merged["center"].isna()
    if unknown.any():
        kinds = sorted(set(key[unknown]))
        notes.append(f"{int(unknown.sum())} images have a centre key outside FLamby's six "
                     f"({', '.join(kinds[:5])}); kept as their own groups")
        merged.loc[unknown, "center"] = key[unknown]
    return merged


def _check_one_hot(truth: pd.DataFrame, path: Path) -> None:
    values = truth[list(ONE_HOT)].apply(pd.to_numeric, errors="coerce")
    valid = values.isin([0.0, 1.0]).all(axis=1) & (values.sum(axis=1) == 1) & (truth["UNK"] == 0)
    if not valid.all():
        row = int(np.flatnonzero(~valid.to_numpy())[0])
        raise DataError(
            f"data file {path}, row {row + 2} (image {truth['image'].iloc[row]!r}): the labels "
            f"{values.iloc[row].tolist()} are not one-hot over {', '.join(CLASSES)}")


def _check_metadata(meta: pd.DataFrame, path: Path) -> None:
    checks = {
        "sex": meta["sex"].isna() | meta["sex"].isin(SEXES),
        "anatom_site_general": (meta["anatom_site_general"].isna()
                                | meta["anatom_site_general"].isin(SITES)),
        "age_approx": meta["age_approx"].isna() | pd.to_numeric(
            meta["age_approx"], errors="coerce").between(0, 120),
    }
    for column, valid in checks.items():
        if not valid.all():
            row = int(np.flatnonzero(~valid.to_numpy())[0])
            raise DataError(f"data file {path}, row {row + 2} (image {meta['image'].iloc[row]!r}): "
                            f"column {column!r} holds {meta[column].iloc[row]!r}")


def _ham_metadata(root: Path, options: Mapping[str, str]) -> pd.DataFrame:
    if "ham_metadata" in options:
        path = Path(options["ham_metadata"])
    else:
        path = next((root / n for n in HAM_NAMES if (root / n).is_file()), root / HAM_NAMES[0])
    if not path.is_file():
        raise DataError(f"data file {path} is missing: the centre split needs HAM10000's "
                        "metadata (FLamby ships it as "
                        "flamby/datasets/fed_isic2019/HAM10000_metadata)")
    ham = read_csv(path, ("image_id", "dataset"), dtype={"dataset": str})
    ham = ham[["image_id", "dataset"]].drop_duplicates("image_id")
    return ham.rename(columns={"image_id": "image"})


def _metadata_features(frame: pd.DataFrame) -> np.ndarray:
    age = pd.to_numeric(frame["age_approx"], errors="coerce").to_numpy(dtype=np.float64)
    cols = [np.nan_to_num(age / 85.0), np.isnan(age).astype(np.float64)]
    cols += [(frame["sex"] == s).to_numpy(dtype=np.float64) for s in SEXES]
    cols += [(frame["anatom_site_general"] == s).to_numpy(dtype=np.float64) for s in SITES]
    return np.stack(cols, axis=1).astype(np.float32)
