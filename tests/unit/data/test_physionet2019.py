"""PhysioNet 2019 windows, the two-hospital split, bad files, and the utility score."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from fedhealth.data import physionet2019 as pn
from fedhealth.data.fitted import fit_site, site_stats
from fedhealth.data.preprocess import merge
from fedhealth.data.registry import SiteSpec, load_source, split_source
from fedhealth.data.sepsis_utility import (
    add_sums, normalized_utility, prediction_utility, utility_sums)
from fedhealth.errors import DataError
from tests.fixtures import physionet2019 as fixture
from tests.unit.data.conftest import centralized_auroc


def test_windows_groups_and_labels(sepsis_root: Path) -> None:
    src = load_source("physionet2019", sepsis_root, {"window_hours": "8"})
    assert len(src) == 100 and src.schema.input_shape == (8, 80)
    assert src.schema.modality == "timeseries" and src.schema.task == "binary"
    assert sorted(set(src.groups)) == ["A", "B"] and (src.groups == "A").sum() == 50
    # one window per patient, labelled by SepsisLabel at the patient's last hour
    first = pn.read_patient(sepsis_root / "training" / "training_setA" / "p000001.psv")
    assert src.labels[0] == first[-1, -1]


def test_forward_fill_and_masks() -> None:
    values = np.array([[np.nan, 1.0], [2.0, np.nan], [np.nan, np.nan], [3.0, 4.0]])
    filled, measured = pn.forward_fill(values)
    assert np.array_equal(filled, [[np.nan, 1], [2, 1], [2, 1], [3, 4]], equal_nan=True)
    assert measured.tolist() == [[False, True], [True, False], [False, False], [True, True]]


def test_stride_windows_are_front_padded_and_fitted_federatedly(sepsis_root: Path) -> None:
    src = load_source("physionet2019", sepsis_root, {"window_hours": "12", "stride": "1"})
    hours = sum(len(pn.read_patient(p)) for p in sorted(sepsis_root.rglob("*.psv")))
    assert len(src) == hours  # one window per ICU hour
    sites = split_source(src, SiteSpec(0, 2, "natural", seed=0))
    merged = merge([site_stats(s) for s in sites])
    site = fit_site(sites[0], merged)
    x = site.train_dataset().tensors[0].numpy()
    assert x.shape[1:] == (12, 80) and x.dtype == np.float32 and np.isfinite(x).all()
    masks = x[..., 40:]
    assert set(np.unique(masks)) <= {0.0, 1.0}
    hour0 = np.flatnonzero(site.source.end_hour[site.train_idx] == 0)[0]
    assert (x[hour0, :11] == 0).all()  # 11 padded hours before the first: no data, no mask


def test_centralized_fit_beats_chance(sepsis_root: Path) -> None:
    src = load_source("physionet2019", sepsis_root, {})
    site = fit_site(split_source(src, SiteSpec(0, 1, "none", seed=0, test_fraction=0.3))[0])
    assert centralized_auroc(site) > 0.6


def test_corrupt_file_is_skipped_and_counted(sepsis_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "s"
    shutil.copytree(sepsis_root, root)
    folder = root / "training" / "training_setB"
    (folder / "p100001.psv").write_text("HR|O2Sat\n1|2\n")
    with open(folder / "p100002.psv", "a") as fh:
        fh.write("abc|" * 40 + "0\n")
    (folder / "p100003.psv").write_bytes(b"\xff\xfe\x00garbage")
    src = load_source("physionet2019", root, {})
    assert len(src) == 97
    assert any("skipped 3 of 50 unreadable file(s)" in n for n in src.notes)


def test_bad_label_names_file_and_line(sepsis_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "s"
    shutil.copytree(sepsis_root, root)
    path = root / "training" / "training_setA" / "p000003.psv"
    lines = path.read_text().splitlines()
    lines[2] = lines[2][: lines[2].rfind("|")] + "|7"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"p000003\.psv, line 3: SepsisLabel is '7'"):
        load_source("physionet2019", root, {})


def test_hospital_without_sepsis_still_loads(tmp_path: Path) -> None:
    root = fixture.make(tmp_path, n=20, seed=1, no_sepsis_in="B")
    src = load_source("physionet2019", root, {})
    assert src.labels[src.groups == "B"].sum() == 0
    assert any("hospital B: no window" in n for n in src.notes)


def test_missing_folders_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"training/training_setA .* do not exist"):
        load_source("physionet2019", tmp_path, {})


# --- the challenge's utility score -------------------------------------------------------

def test_utility_known_example() -> None:
    # Reproduces the official compute_prediction_utility on a small case: t_sepsis = 10;
    # alarms at t=2..4 earn 2/3, 5/6, 1 (early-reward slope 1/6) and at t=5 earns 8/9.
    assert prediction_utility([0, 0, 0, 0, 1, 1], [0, 0, 1, 1, 1, 1]) == pytest.approx(
        3.388888888888889)


def test_utility_hand_cases() -> None:
    assert prediction_utility([0] * 5, [1] * 5) == pytest.approx(5 * -0.05)  # false alarms
    assert prediction_utility([0] * 5, [0] * 5) == 0.0
    labels = [0] * 12 + [1] * 12  # onset label at 12 -> t_sepsis = 18
    # a miss is free until t_sepsis - 6 = 12, then costs -2/9 (t - 18) - 4/3 up to t = 21
    missed = sum(-2 / 9 * (t - 18) - 4 / 3 for t in range(13, 22))
    assert prediction_utility(labels, [0] * 24) == pytest.approx(missed)
    # the optimal alarm on [6, 21]: 0 at t=6, up to 1 at t=12, down to 0 at t=21
    best = np.zeros(24)
    best[6:22] = 1
    expected = sum(max((t - 18) / 6 + 2, -0.05) for t in range(6, 13)) + sum(
        -(t - 18) / 9 + 1 / 3 for t in range(13, 22))
    assert prediction_utility(labels, best) == pytest.approx(expected)


def test_normalized_utility_is_summable_across_hospitals() -> None:
    rng = np.random.default_rng(0)
    patients = []
    for i in range(12):
        n = int(rng.integers(10, 40))
        y = np.zeros(n)
        if i % 3 == 0:
            y[int(rng.integers(0, n)):] = 1
        patients.append((y, (rng.random(n) < 0.3).astype(float)))
    ys, ps = zip(*patients)
    whole = utility_sums(ys, ps)
    split = add_sums([utility_sums(ys[:5], ps[:5]), utility_sums(ys[5:], ps[5:])])
    assert split == pytest.approx(whole)
    assert normalized_utility(utility_sums(ys, [np.zeros(len(y)) for y in ys])) == 0.0
    from fedhealth.data.sepsis_utility import best_predictions

    assert normalized_utility(utility_sums(ys, [best_predictions(y) for y in ys])) == 1.0
    assert np.isnan(normalized_utility(utility_sums([np.zeros(5)], [np.zeros(5)])))


def test_patient_series_orders_hours(sepsis_root: Path) -> None:
    src = load_source("physionet2019", sepsis_root, {"stride": "1"})
    idx = np.flatnonzero(src.groups == "A")[::-1]  # deliberately reversed
    labels, preds = pn.patient_series(src, idx, src.labels[idx])
    first = pn.read_patient(sepsis_root / "training" / "training_setA" / "p000001.psv")
    assert np.array_equal(labels[0], first[:, -1]) and np.array_equal(preds[0], first[:, -1])
    assert normalized_utility(utility_sums(labels, preds)) < 1.0  # labels are not optimal
