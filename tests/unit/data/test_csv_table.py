"""The CSV/Parquet loader on lifelines' real lung table, and its bad-input paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedhealth.data.fitted import fit_site, site_stats
from fedhealth.data.preprocess import merge
from fedhealth.data.registry import SiteSpec, load_source, split_source
from fedhealth.errors import ConfigError, DataError
from tests.unit.data.conftest import centralized_auroc


def test_lung_loads_with_one_group_per_institution(lung_path: Path) -> None:
    src = load_source("csv", lung_path, {"target": "status", "site_column": "inst"})
    assert len(src) == 228
    assert int(src.labels.sum()) == 165
    named = [g for g in src.groups if g is not None]
    assert len(set(named)) == 18 and len(named) == 227  # one blank inst
    assert sorted(set(named), key=int)[:3] == ["1", "2", "3"]
    assert src.schema.input_shape == (16,)  # 8 numeric columns + missing indicators
    assert "inst" not in src.schema.feature_names and "status" not in src.schema.feature_names
    with pytest.raises(DataError, match="not fitted"):
        src.make_dataset(np.arange(3))


def test_federated_stats_give_every_site_the_same_layout(lung_path: Path) -> None:
    src = load_source("csv", lung_path, {"target": "status", "site_column": "inst"})
    sites = split_source(src, SiteSpec(0, 8, "natural", seed=1))
    merged = merge([site_stats(s) for s in sites])
    assert merged.rows == sum(len(s.train_idx) for s in sites)
    fitted = [fit_site(s, merged) for s in sites]
    widths = {f.train_dataset().tensors[0].shape[1] for f in fitted}
    assert widths == {16}
    x = fitted[0].train_dataset().tensors[0].numpy()
    assert np.isfinite(x).all()


def test_centralized_fit_beats_chance(lung_path: Path) -> None:
    # Real data with a weak signal (68 test rows): average over five random splits.
    src = load_source("csv", lung_path, {"target": "status", "drop": "inst"})
    scores = [centralized_auroc(fit_site(split_source(
        src, SiteSpec(0, 1, "none", seed=seed, test_fraction=0.3))[0])) for seed in range(5)]
    assert np.mean(scores) > 0.6


def test_fit_ignores_test_rows(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": np.r_[np.zeros(20), np.full(20, 1e6)],
                          "y": [0, 1] * 20})
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    src = load_source("csv", path, {"target": "y"})
    train, test = np.arange(20), np.arange(20, 40)
    from fedhealth.data.base import SiteData

    site = fit_site(SiteData(src, train, test))
    # all-zero training rows: mean 0, std 1 -> the test rows keep their raw 1e6
    assert site.test_dataset().tensors[0][:, 0].min().item() == pytest.approx(1e6)


def test_categorical_text_positive_label_and_parquet(tmp_path: Path) -> None:
    frame = pd.DataFrame({"ward": ["ICU", "ER", "ICU", None] * 10,
                          "lactate": [1.0, 4.5, None, 2.0] * 10,
                          "outcome": ["dead", "alive", "alive", "dead"] * 10,
                          "hospital": ["north", "south"] * 20})
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    src = load_source("csv", path, {"target": "outcome", "positive": "dead",
                                    "site_column": "hospital"})
    assert src.labels.tolist()[:4] == [1.0, 0.0, 0.0, 1.0]
    assert sorted(set(src.groups)) == ["north", "south"]
    site = fit_site(split_source(src, SiteSpec())[0])
    assert site.schema.feature_names == ("lactate", "lactate:missing", "ward=ICU", "ward=ER",
                                         "ward=<other>", "ward=<missing>")


def test_missing_target_names_file_and_columns(lung_path: Path) -> None:
    with pytest.raises(DataError, match=r"lung\.csv has no target 'death'; columns: inst, time"):
        load_source("csv", lung_path, {"target": "death"})
    with pytest.raises(ConfigError, match="columns: inst"):
        load_source("csv", lung_path, {})
    with pytest.raises(DataError, match="does not exist"):
        load_source("csv", lung_path.parent / "nope.csv", {"target": "status"})


def test_label_outside_expected_set_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,y\n1,0\n2,1\n3,2\n")
    with pytest.raises(DataError, match=r"t\.csv, line 4: target 'y' is '2'"):
        load_source("csv", path, {"target": "y"})
    path.write_text("a,y\n1,dead\n2,alive\n3,unknown\n")
    with pytest.raises(DataError, match=r"line 4: target 'y' is 'unknown'"):
        load_source("csv", path, {"target": "y", "positive": "dead"})


def test_bad_rows_are_skipped_and_counted(tmp_path: Path) -> None:
    rows = [f"{i},{i % 2}" for i in range(30)] + ["oops,1", ",0", "5,"]
    path = tmp_path / "t.csv"
    path.write_text("a,y\n" + "\n".join(rows) + "\n")
    src = load_source("csv", path, {"target": "y"})
    assert len(src) == 31  # "oops" and the blank target are skipped; blank a is imputed
    assert any("1 row(s) with a blank target" in n for n in src.notes)
    assert any("whose 'a' is not a number (first at line 32)" in n for n in src.notes)


def test_no_positive_case_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,y\n" + "\n".join(f"{i},0" for i in range(20)) + "\n")
    src = load_source("csv", path, {"target": "y"})
    assert src.labels.sum() == 0 and any("no positive" in n for n in src.notes)
    site = fit_site(split_source(src, SiteSpec())[0])
    assert len(site.train_dataset()) > 0
