"""Split records across simulated hospitals, then each hospital into train and test.

Partition specs: `iid`; `dirichlet:<alpha>` (label skew: each class is spread over the
hospitals with Dirichlet(alpha) proportions); `quantity:<alpha>` (size skew: hospital
sizes drawn from Dirichlet(alpha), labels iid); `natural` (the data set's own site
column, largest sites first); `none` (this node's data is all its own). Every hospital
keeps a held-out test split; the global test set is the union of those splits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedhealth.errors import ConfigError, DataError

MIN_PER_SITE = 5  # at least 4 to train on and 1 to test: 100 simulated hospitals fit the default data


@dataclass(frozen=True)
class PartitionSpec:
    """A parsed partition string."""

    kind: str
    alpha: float = 0.0

    @classmethod
    def parse(cls, text: str) -> PartitionSpec:
        kind, _, arg = text.partition(":")
        if kind in ("iid", "natural", "none") and not arg:
            return cls(kind)
        if kind in ("dirichlet", "quantity"):
            try:
                alpha = float(arg)
            except ValueError:
                alpha = -1.0
            if not alpha > 0:
                raise ConfigError(f"partition {text!r}: {kind} needs a positive alpha, e.g. {kind}:0.5")
            return cls(kind, alpha)
        raise ConfigError(
            f"partition {text!r} is not one of iid, dirichlet:<alpha>, quantity:<alpha>, natural, none"
        )


def assign_sites(
    strata: np.ndarray, n_sites: int, spec: PartitionSpec, seed: int,
    groups: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Record indices of each of `n_sites` hospitals; disjoint and covering every record."""
    n = len(strata)
    if n_sites < 1:
        raise ConfigError("the number of hospitals must be at least 1")
    if spec.kind == "none":
        if n_sites != 1:
            raise ConfigError("partition 'none' (all records are this node's) needs exactly one hospital")
        return [np.arange(n)]
    if spec.kind == "natural":
        return _natural(groups, n_sites)
    if n < n_sites * MIN_PER_SITE:
        raise ConfigError(f"{n} records cannot give {n_sites} hospitals {MIN_PER_SITE} records each")
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        if spec.kind == "iid":
            sites = _split_by_proportions(rng.permutation(n), np.full(n_sites, 1.0 / n_sites))
        elif spec.kind == "quantity":
            sites = _split_by_proportions(rng.permutation(n), rng.dirichlet(np.full(n_sites, spec.alpha)))
        else:
            sites = [[] for _ in range(n_sites)]
            for cls in np.unique(strata):
                members = rng.permutation(np.flatnonzero(strata == cls))
                share = rng.dirichlet(np.full(n_sites, spec.alpha))
                for site, part in enumerate(_split_by_proportions(members, share)):
                    sites[site].extend(part.tolist())
            sites = [np.asarray(s, dtype=np.int64) for s in sites]
        if min(len(s) for s in sites) >= MIN_PER_SITE:
            return [np.sort(s) for s in sites]
    raise ConfigError(
        f"partition {spec.kind}:{spec.alpha:g} left a hospital with fewer than {MIN_PER_SITE} "
        f"records in 1000 draws; use a larger alpha or fewer hospitals"
    )


def _split_by_proportions(idx: np.ndarray, share: np.ndarray) -> list[np.ndarray]:
    cuts = (np.cumsum(share)[:-1] * len(idx)).round().astype(int)
    return [np.asarray(p, dtype=np.int64) for p in np.split(idx, cuts)]


def _natural(groups: np.ndarray | None, n_sites: int) -> list[np.ndarray]:
    if groups is None:
        raise ConfigError("partition 'natural' needs a data set with a site column")
    g = np.asarray(groups, dtype=object)
    valid = np.array([x is not None and x == x and str(x) != "" for x in g])
    names, counts = np.unique(g[valid].astype(str), return_counts=True)
    order = np.argsort(-counts, kind="stable")
    if n_sites > len(names):
        raise ConfigError(f"the data has {len(names)} sites, fewer than the {n_sites} hospitals asked for")
    keys = g.astype(str)
    return [np.flatnonzero(valid & (keys == names[i])) for i in order[:n_sites]]


def site_names(groups: np.ndarray, n_sites: int) -> list[str]:
    """The natural site names, in the order `assign_sites(..., natural)` uses."""
    g = np.asarray(groups, dtype=object)
    valid = np.array([x is not None and x == x and str(x) != "" for x in g])
    names, counts = np.unique(g[valid].astype(str), return_counts=True)
    return [str(names[i]) for i in np.argsort(-counts, kind="stable")[:n_sites]]


def train_test_split(
    idx: np.ndarray, strata: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of one hospital's records; each class with 2+ records lands in both."""
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test fraction must be in (0, 1), not {test_fraction}")
    rng = np.random.default_rng(seed)
    train: list[int] = []
    test: list[int] = []
    local = strata[idx]
    for cls in np.unique(local):
        members = rng.permutation(idx[local == cls])
        k = int(round(len(members) * test_fraction))
        if len(members) >= 2:
            k = min(max(k, 1), len(members) - 1)
        test.extend(members[:k].tolist())
        train.extend(members[k:].tolist())
    if not test and len(train) >= 2:
        test.append(train.pop(int(rng.integers(len(train)))))
    if not train or not test:
        raise DataError(f"a hospital with {len(idx)} records cannot be split into train and test")
    return np.sort(np.asarray(train, dtype=np.int64)), np.sort(np.asarray(test, dtype=np.int64))
