"""Sources whose inputs need a transform fitted on training rows before use.

A loader that preprocesses (imputation, scaling, one-hot) returns a `FittableSource`:
its `make_dataset` refuses to run until it is bound to statistics, so test rows can
never shape the transform by accident. The node's flow:

    site = load_site(...)                       # SiteData over a FittableSource
    stats = site_stats(site)                    # summable stats of the training rows
    # federated: every hospital sends `stats`, the coordinator returns merge(all)
    site = fit_site(site, merged_or_None)       # None: fit on this site's training rows

In a federation the hospitals must bind the same merged stats: a categorical vocabulary
fitted per site would give each hospital a different input width.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fedhealth.data.base import DataSource, Schema, SiteData
from fedhealth.data.tabular import tabular_source
from fedhealth.errors import DataError

if TYPE_CHECKING:  # pandas costs ~0.7 s to import: nodes on data without it never pay
    import pandas as pd

    from fedhealth.data.preprocess import PreprocessStats


def _unfitted(idx: np.ndarray) -> object:
    raise DataError("this data set's preprocessing is not fitted yet: call "
                    "fedhealth.data.fitted.fit_site(site) (or with merged federated stats) first")


@dataclass
class FittableSource(DataSource):
    """A `DataSource` that must be bound to preprocessing statistics before use."""

    stats_of: Callable[[np.ndarray], PreprocessStats] | None = None
    bind: Callable[[PreprocessStats], DataSource] | None = None


def site_stats(site: SiteData) -> PreprocessStats | None:
    """Summable preprocessing stats of the site's training rows (None: nothing to fit)."""
    source = site.source
    if isinstance(source, FittableSource) and source.stats_of is not None:
        return source.stats_of(site.train_idx)
    return None


def fit_site(site: SiteData, stats: PreprocessStats | None = None) -> SiteData:
    """The site with its source bound to `stats` (default: its own training rows' stats).

    Sources without preprocessing are returned unchanged, so callers can apply this to
    every data set."""
    source = site.source
    if not isinstance(source, FittableSource) or source.bind is None:
        return site
    bound = source.bind(stats if stats is not None else site_stats(site))
    bound.notes = list(source.notes) + [n for n in bound.notes if n not in source.notes]
    return SiteData(bound, site.train_idx, site.test_idx)


def frame_source(
    name: str, frame: pd.DataFrame, y: np.ndarray, numeric: list[str], categorical: list[str],
    groups: np.ndarray | None = None, label_names: tuple[str, ...] = ("negative", "positive"),
    notes: list[str] | None = None, max_categories: int = 20,
) -> FittableSource:
    """A binary tabular source over the feature columns of `frame`, preprocessed with a
    `Preprocessor` once bound to stats. Without categorical columns the input width is
    known before fitting (two columns per numeric feature); with them it is 0 until then."""
    from fedhealth.data.preprocess import Preprocessor

    frame = frame[numeric + categorical].reset_index(drop=True)
    y = np.asarray(y, dtype=np.float32)
    template = Preprocessor(numeric, categorical, max_categories)

    def stats_of(idx: np.ndarray) -> PreprocessStats:
        return template.local_stats(frame.iloc[np.asarray(idx)])

    def bind(stats: PreprocessStats) -> DataSource:
        pre = Preprocessor(numeric, categorical, max_categories).use(stats)
        bound = tabular_source(name, pre.transform(frame), y, pre.feature_names, groups,
                               label_names)
        bound.notes = list(notes or [])
        return bound

    width = 0 if categorical else 2 * len(numeric)
    names = () if categorical else tuple(n for c in numeric for n in (c, f"{c}:missing"))
    return FittableSource(
        schema=Schema(dataset=name, modality="tabular", task="binary", input_shape=(width,),
                      feature_names=names, label_names=label_names),
        labels=y, make_dataset=_unfitted, groups=groups, notes=list(notes or []),
        stats_of=stats_of, bind=bind)
