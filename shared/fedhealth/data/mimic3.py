"""MIMIC-III in-hospital mortality (`--dataset mimic3`), demo v1.4 or the full release.

One row per ICU stay: adults (age at admission >= 18; the shifted ages over 89 are set
to 91.4), the first ICU stay of each admission, stays of at least `hours` hours (default
24, so no one who died inside the feature window is in it). Features: age, sex, and the
mean/min/max over the first `hours` hours of five CHARTEVENTS vitals and ten LABEVENTS
labs (NaN where never measured; imputed with a missing indicator once fitted). Label:
`admissions.hospital_expire_flag`.

Headers are lowercased, so the demo's lowercase and the full release's quoted uppercase
headers both work; `X.csv` or `X.csv.gz` is read. CHARTEVENTS and LABEVENTS are read in
chunks of the needed columns only (the full CHARTEVENTS is 33 GB). A row with an
unparseable id or time is skipped and counted in the notes. Options: `hours`,
`site_column` (an ICUSTAYS column such as `first_careunit`, for a natural split).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from fedhealth.data.base import DataSource
from fedhealth.data.fitted import frame_source
from fedhealth.errors import ConfigError, DataError

VITALS: dict[str, tuple[int, ...]] = {
    "hr": (211, 220045), "sbp": (51, 442, 455, 220179, 220050), "rr": (618, 220210),
    "spo2": (646, 220277), "temp": (676, 223762),
}
LABS: dict[str, tuple[int, ...]] = {
    "creatinine": (50912,), "lactate": (50813,), "wbc": (51301,), "bun": (51006,),
    "sodium": (50983,), "potassium": (50971,), "glucose": (50931,), "hemoglobin": (51222,),
    "platelets": (51265,), "bicarbonate": (50882,),
}
# Values outside these bounds are charting errors (e.g. HR 0 or 999999), not patients.
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "hr": (1, 300), "sbp": (1, 400), "rr": (1, 150), "spo2": (1, 100), "temp": (25, 45),
}
STATS = ("mean", "min", "max")
FEATURES: tuple[str, ...] = ("age", "male") + tuple(
    f"{v}_{s}" for v in (*VITALS, *LABS) for s in STATS)
# Columns the loader reads, per file (lowercase); `check` reports the absent ones.
REQUIRED: dict[str, tuple[str, ...]] = {
    "PATIENTS": ("subject_id", "gender", "dob"),
    "ADMISSIONS": ("subject_id", "hadm_id", "admittime", "hospital_expire_flag"),
    "ICUSTAYS": ("subject_id", "hadm_id", "icustay_id", "first_careunit", "intime", "outtime"),
    "CHARTEVENTS": ("icustay_id", "itemid", "charttime", "valuenum"),
    "LABEVENTS": ("subject_id", "itemid", "charttime", "valuenum"),
}
OLD_AGE = 91.4
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
CHUNK_ROWS = 1_000_000


def find_file(root: Path, table: str) -> Path:
    """`root/TABLE.csv` or `.csv.gz`; DataError naming the file when neither exists."""
    for name in (f"{table}.csv", f"{table}.csv.gz"):
        if (root / name).is_file():
            return root / name
    raise DataError(f"MIMIC-III file {root / (table + '.csv')} does not exist")


def _columns(path: Path, wanted: tuple[str, ...], optional: tuple[str, ...] = ()
             ) -> dict[str, str]:
    """Map of lowercase name -> the header's own spelling, for `wanted` and `optional`."""
    try:
        header = pd.read_csv(path, nrows=0).columns
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise DataError(f"{path} cannot be read as CSV: {err}") from None
    own = {str(c).strip().lower(): c for c in header}
    absent = [w for w in wanted if w not in own]
    if absent:
        raise DataError(f"{path} has no column(s) {', '.join(absent)}")
    return {w: own[w] for w in (*wanted, *optional) if w in own}


def read_table(path: Path, wanted: tuple[str, ...], optional: tuple[str, ...] = (),
               chunksize: int | None = None) -> Iterator[pd.DataFrame]:
    """The `wanted` columns of `path` as strings with lowercase names, in chunks."""
    names = _columns(path, wanted, optional)
    rename = {own: low for low, own in names.items()}
    reader = pd.read_csv(path, usecols=list(names.values()), dtype=str,
                         chunksize=chunksize or CHUNK_ROWS)
    try:
        for chunk in reader:
            yield chunk.rename(columns=rename)
    except (ValueError, pd.errors.ParserError) as err:
        raise DataError(f"{path} is malformed: {err}") from None


def _whole(path: Path, wanted: tuple[str, ...], optional: tuple[str, ...] = ()) -> pd.DataFrame:
    return pd.concat(list(read_table(path, wanted, optional)), ignore_index=True)


def _times(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, format=TIME_FORMAT, errors="coerce")


def _ids(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce").astype("Int64")


def cohort(root: Path, hours: float, notes: list[str],
           extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """Adult first ICU stays of at least `hours`, with age, sex, label and intime."""
    pat_path, adm_path, icu_path = (find_file(root, t) for t in ("PATIENTS", "ADMISSIONS",
                                                                 "ICUSTAYS"))
    pat = _whole(pat_path, REQUIRED["PATIENTS"])
    adm = _whole(adm_path, REQUIRED["ADMISSIONS"])
    icu = _whole(icu_path, REQUIRED["ICUSTAYS"] + extra)

    flag = adm["hospital_expire_flag"].str.strip()
    bad = ~flag.isin(["0", "1"])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{adm_path}, line {i + 2}: hospital_expire_flag is "
                        f"{adm['hospital_expire_flag'].iloc[i]!r}; expected 0 or 1")
    pat = pat.assign(subject_id=_ids(pat.subject_id), dob=_times(pat.dob))
    adm = adm.assign(subject_id=_ids(adm.subject_id), hadm_id=_ids(adm.hadm_id),
                     admittime=_times(adm.admittime), died=flag.astype(int))
    icu = icu.assign(subject_id=_ids(icu.subject_id), hadm_id=_ids(icu.hadm_id),
                     icustay_id=_ids(icu.icustay_id), intime=_times(icu.intime),
                     outtime=_times(icu.outtime))
    for path, frame, cols in ((pat_path, pat, ["subject_id", "dob"]),
                              (adm_path, adm, ["subject_id", "hadm_id", "admittime"]),
                              (icu_path, icu, ["subject_id", "hadm_id", "icustay_id", "intime",
                                               "outtime"])):
        broken = frame[cols].isna().any(axis=1)
        if broken.any():
            notes.append(f"{path}: skipped {int(broken.sum())} row(s) with a missing or "
                         f"unparseable {'/'.join(cols)} (first at line "
                         f"{int(np.flatnonzero(broken.to_numpy())[0]) + 2})")
            frame.drop(index=frame.index[broken], inplace=True)

    stays = (icu.sort_values(["hadm_id", "intime"])
             .drop_duplicates("hadm_id", keep="first")
             .merge(adm[["hadm_id", "admittime", "died"]], on="hadm_id", how="inner")
             .merge(pat[["subject_id", "gender", "dob"]], on="subject_id", how="inner"))
    # Year arithmetic: the dob of patients over 89 lies ~300 years back, past what a
    # nanosecond timedelta can hold.
    age = ((stays.admittime.dt.year - stays.dob.dt.year)
           + (stays.admittime.dt.dayofyear - stays.dob.dt.dayofyear) / 365.25)
    stays["age"] = np.where(age > 89, OLD_AGE, age)
    stays["male"] = stays.gender.str.strip().str.upper().map({"M": 1.0, "F": 0.0})
    long_enough = (stays.outtime - stays.intime) >= pd.Timedelta(hours=hours)
    adult = stays.age >= 18
    notes.append(f"{root}: {len(icu)} ICU stays, {int((~adult).sum())} of minors and "
                 f"{int((adult & ~long_enough).sum())} adult first stays under {hours:g} h "
                 f"left out; {int((adult & long_enough).sum())} stays kept")
    return stays[adult & long_enough].sort_values("icustay_id").reset_index(drop=True)


def _events(path: Path, key: str, items: dict[str, tuple[int, ...]], stays: pd.DataFrame,
            hours: float, notes: list[str], optional: tuple[str, ...] = ()) -> pd.DataFrame:
    """(icustay_id, var, value) of the wanted items inside each stay's first `hours`."""
    var_of = {item: var for var, ids in items.items() for item in ids}
    wanted = (key, "itemid", "charttime", "valuenum")
    keys = set(stays[key].astype(int))
    parts, bad_time = [], 0
    for chunk in read_table(path, wanted, optional):
        item = pd.to_numeric(chunk.itemid, errors="coerce")
        owner = pd.to_numeric(chunk[key], errors="coerce")
        keep = item.isin(var_of.keys()) & owner.isin(keys)
        if "error" in chunk:
            keep &= chunk["error"].fillna("0").str.strip() != "1"
        if not keep.any():
            continue
        sel = pd.DataFrame({key: owner[keep].astype(np.int64),
                            "var": item[keep].astype(int).map(var_of),
                            "time": _times(chunk.charttime[keep]),
                            "value": pd.to_numeric(chunk.valuenum[keep], errors="coerce")})
        bad_time += int(sel.time.isna().sum())
        parts.append(sel.dropna(subset=["time", "value"]))
    if bad_time:
        notes.append(f"{path}: skipped {bad_time} event row(s) with an unparseable charttime")
    if not parts:
        return pd.DataFrame({"icustay_id": [], "var": [], "value": []})
    ev = pd.concat(parts, ignore_index=True).merge(
        stays[[key, "icustay_id", "intime"]] if key != "icustay_id"
        else stays[["icustay_id", "intime"]], on=key)
    inside = (ev.time >= ev.intime) & (ev.time <= ev.intime + pd.Timedelta(hours=hours))
    ev = ev[inside]
    for var, (low, high) in PLAUSIBLE.items():
        ev = ev[(ev["var"] != var) | ev.value.between(low, high)]
    return ev[["icustay_id", "var", "value"]]


def features(root: Path, hours: float = 24.0, notes: list[str] | None = None,
             extra: tuple[str, ...] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(stays, feature frame with columns FEATURES, one row per stay, same order)."""
    notes = notes if notes is not None else []
    stays = cohort(root, hours, notes, extra)
    chart = _events(find_file(root, "CHARTEVENTS"), "icustay_id", VITALS, stays, hours,
                    notes, optional=("error",))
    labs = _events(find_file(root, "LABEVENTS"), "subject_id", LABS, stays, hours, notes)
    ev = pd.concat([chart, labs], ignore_index=True)
    agg = ev.groupby(["icustay_id", "var"]).value.agg(list(STATS)).unstack("var")
    agg.columns = [f"{var}_{stat}" for stat, var in agg.columns]
    frame = stays[["icustay_id", "age", "male"]].merge(
        agg, left_on="icustay_id", right_index=True, how="left")
    return stays, frame.reindex(columns=list(FEATURES)).astype(np.float64)


def load(data_dir: Path | None, options: Mapping[str, str]) -> DataSource:
    """The mortality task from the MIMIC-III folder `data_dir`."""
    if data_dir is None:
        raise ConfigError("dataset mimic3 needs --data-dir: the folder holding PATIENTS.csv")
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"MIMIC-III folder {root} does not exist")
    inner = [p.parent for p in root.glob("*/PATIENTS.csv*")]
    if not list(root.glob("PATIENTS.csv*")) and len(inner) == 1:
        root = inner[0]
    try:
        hours = float(options.get("hours", 24))
    except ValueError:
        raise ConfigError(f"mimic3 option hours={options['hours']!r} is not a number") from None
    site = options.get("site_column")
    notes: list[str] = []
    stays, frame = features(root, hours, notes, extra=(site,) if site else ())
    y = stays.died.to_numpy(dtype=np.float32)
    groups = None
    if site:
        groups = np.array([None if pd.isna(v) else str(v) for v in stays[site]], dtype=object)
    if len(y) and y.sum() == 0:
        notes.append(f"{root}: no in-hospital death among the kept stays")
    return frame_source("mimic3", frame, y, list(FEATURES), [], groups,
                        label_names=("survived", "died"), notes=notes)
