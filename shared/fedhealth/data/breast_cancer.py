"""The embedded default data set: Wisconsin Diagnostic Breast Cancer (WDBC).

569 real fine-needle-aspirate records, 30 features, malignant vs benign. The CSV ships
inside scikit-learn, so the demo needs no download; it is read straight from the
package's files without importing scikit-learn (which would cost the node start-up time).
Label 1 is malignant (the clinically positive finding).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from fedhealth.data.base import DataSource
from fedhealth.data.tabular import tabular_source
from fedhealth.errors import DataError

_MEASURES = (
    "radius", "texture", "perimeter", "area", "smoothness", "compactness",
    "concavity", "concave points", "symmetry", "fractal dimension",
)
FEATURE_NAMES: tuple[str, ...] = tuple(
    f"{stat} {m}" for stat in ("mean", "error", "worst") for m in _MEASURES
)


def bundled_csv() -> Path:
    """Path of the WDBC CSV inside the installed scikit-learn package."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("the default data set needs scikit-learn installed (it ships the WDBC CSV)")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "breast_cancer.csv"
    if not path.is_file():
        raise DataError(f"data file {path} is missing from the scikit-learn install")
    return path


def load(path: Path | None = None) -> DataSource:
    """Load WDBC from `path` (default: the copy in scikit-learn)."""
    path = Path(path) if path else bundled_csv()
    try:
        header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
        raw = np.loadtxt(path, delimiter=",", skiprows=1)
    except FileNotFoundError:
        raise DataError(f"data file {path} does not exist") from None
    except (ValueError, IndexError) as err:
        raise DataError(f"data file {path} is not the WDBC CSV: {err}") from None
    if raw.ndim != 2 or raw.shape[1] != 31 or int(header[0]) != raw.shape[0]:
        raise DataError(f"data file {path}: expected {header[0]} rows of 30 features + target")
    x, target = raw[:, :30], raw[:, 30]
    if not set(np.unique(target)) <= {0.0, 1.0}:
        raise DataError(f"data file {path}: target column holds values other than 0/1")
    y = (target == 0).astype(np.float32)  # scikit-learn codes malignant as 0
    return tabular_source("breast_cancer", x, y, list(FEATURE_NAMES),
                          label_names=("benign", "malignant"))
