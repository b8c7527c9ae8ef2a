"""Data sets by name, and the one function a node calls to get its own split.

A loader takes the data folder (or file) and loader options (`target`, `site_column`,
...) and returns a `DataSource`. Issue-specific loaders register here by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from fedhealth.data.base import DataSource, SiteData
from fedhealth.data.partition import PartitionSpec, assign_sites, train_test_split
from fedhealth.errors import ConfigError

Loader = Callable[[Path | None, Mapping[str, str]], DataSource]

# name -> "module:function"; imported on use so a node loads only what it needs.
# Every loader has the signature `load(data_dir: Path | None, options: Mapping[str, str])`.
LOADERS: dict[str, str] = {
    "breast_cancer": "fedhealth.data.registry:_load_breast_cancer",
    "csv": "fedhealth.data.csv_table:load",
    "mimic3": "fedhealth.data.mimic3:load",
    "physionet2019": "fedhealth.data.physionet2019:load",
    "isic2019": "fedhealth.data.isic2019:load",
    "ptb-ecg": "fedhealth.data.ptb:load",
    "ptbxl": "fedhealth.data.ptbxl:load",
    "chexpert": "fedhealth.data.chexpert:load",
}
DEFAULT_DATASET = "breast_cancer"


def _load_breast_cancer(data_dir: Path | None, options: Mapping[str, str]) -> DataSource:
    from fedhealth.data import breast_cancer

    return breast_cancer.load(data_dir)


def register(name: str, target: str) -> None:
    """Register a loader as `module:function`."""
    LOADERS[name] = target


def load_source(name: str, data_dir: Path | None = None,
                options: Mapping[str, str] | None = None) -> DataSource:
    """Load the named data set; `ConfigError` for an unknown name."""
    if name not in LOADERS:
        raise ConfigError(f"unknown dataset {name!r}; known: {', '.join(sorted(LOADERS))}")
    module, _, func = LOADERS[name].partition(":")
    loader: Loader = getattr(importlib.import_module(module), func)
    return loader(Path(data_dir) if data_dir else None, dict(options or {}))


@dataclass(frozen=True)
class SiteSpec:
    """Which hospital this is among `count`, and how the records are divided."""

    index: int = 0
    count: int = 1
    partition: str = "none"
    seed: int = 0
    test_fraction: float = 0.2

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ConfigError(f"site index {self.index} is outside 0..{self.count - 1}")


def split_source(source: DataSource, spec: SiteSpec) -> list[SiteData]:
    """Every hospital's split of `source` (deterministic in `spec.seed`)."""
    part = PartitionSpec.parse(spec.partition)
    strata = source.strata
    sites = assign_sites(strata, spec.count, part, spec.seed, source.groups)
    out = []
    for i, idx in enumerate(sites):
        train, test = train_test_split(idx, strata, spec.test_fraction, spec.seed * 7919 + i)
        out.append(SiteData(source, train, test))
    return out


def load_site(name: str, data_dir: Path | None, spec: SiteSpec,
              options: Mapping[str, str] | None = None) -> SiteData:
    """This hospital's train and test split."""
    return split_source(load_source(name, data_dir, options), spec)[spec.index]
