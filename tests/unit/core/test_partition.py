import numpy as np
import pytest

from fedhealth.data.partition import MIN_PER_SITE, PartitionSpec, assign_sites, train_test_split
from fedhealth.data.registry import SiteSpec, load_source, split_source
from fedhealth.errors import ConfigError


@pytest.mark.parametrize("spec", ["iid", "dirichlet:0.5", "quantity:1.0", "dirichlet:0.1"])
def test_sites_are_disjoint_cover_everything_and_are_seeded(spec: str) -> None:
    strata = np.repeat([0, 1], [300, 200])
    a = assign_sites(strata, 4, PartitionSpec.parse(spec), seed=3)
    b = assign_sites(strata, 4, PartitionSpec.parse(spec), seed=3)
    joined = np.concatenate(a)
    assert sorted(joined.tolist()) == list(range(500))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert min(len(s) for s in a) >= MIN_PER_SITE


def test_dirichlet_skews_labels_more_than_iid() -> None:
    strata = np.repeat([0, 1], [500, 500])

    def spread(spec: str) -> float:
        sites = assign_sites(strata, 5, PartitionSpec.parse(spec), seed=0)
        return float(np.std([strata[s].mean() for s in sites]))

    assert spread("dirichlet:0.2") > 3 * spread("iid")


def test_natural_split_uses_groups_largest_first() -> None:
    groups = np.array(["a"] * 5 + ["b"] * 9 + [None] * 2 + ["c"] * 3, dtype=object)
    sites = assign_sites(np.zeros(19), 2, PartitionSpec.parse("natural"), 0, groups)
    assert [len(s) for s in sites] == [9, 5]


@pytest.mark.parametrize("bad", ["dirichlet", "dirichlet:-1", "quantity:x", "random", "iid:2"])
def test_bad_partition_names_itself(bad: str) -> None:
    with pytest.raises(ConfigError, match="partition"):
        PartitionSpec.parse(bad)


def test_train_test_split_is_stratified() -> None:
    strata = np.repeat([0, 1], [80, 20])
    train, test = train_test_split(np.arange(100), strata, 0.2, seed=0)
    assert len(test) == 20 and strata[test].sum() == 4
    assert not set(train) & set(test)


def test_breast_cancer_sites_union_is_the_global_test_set() -> None:
    source = load_source("breast_cancer")
    assert len(source) == 569 and source.schema.input_shape == (30,)
    assert int(source.labels.sum()) == 212  # malignant is the positive class
    sites = split_source(source, SiteSpec(0, 3, "dirichlet:0.5", 0))
    tests = np.concatenate([s.test_idx for s in sites])
    trains = np.concatenate([s.train_idx for s in sites])
    assert len(np.intersect1d(tests, trains)) == 0 and len(tests) + len(trains) == 569
