"""Model specs (architecture name + JSON parameters) and the builders behind them.

`spec_for` runs without torch: the coordinator derives the spec from the schema the
hospitals report, and a node builds the module. Builders are imported on use.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from typing import Any

from fedhealth.data.base import Schema
from fedhealth.errors import ConfigError

# arch -> "module:builder"; a builder takes the params as keyword arguments.
# Every builder accepts `input_shape` and `n_outputs` (fusion also `tabular_features`).
BUILDERS: dict[str, str] = {
    "mlp": "fedhealth.models.mlp:build",
    "cnn": "fedhealth.models.cnn:build",
    "resnet18": "fedhealth.models.resnet:build",
    "ecg_cnn": "fedhealth.models.ecg_cnn:build",
    "gru": "fedhealth.models.gru:build",
    "fusion": "fedhealth.models.fusion:build",
}
DEFAULT_ARCH = {"tabular": "mlp", "image": "cnn", "ecg": "ecg_cnn", "timeseries": "gru",
                "multimodal": "fusion"}


@dataclass(frozen=True)
class ModelSpec:
    """An architecture and its hyper-parameters; enough to rebuild the module anywhere."""

    arch: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(self.params, sort_keys=True)

    @classmethod
    def from_json(cls, arch: str, params_json: str) -> ModelSpec:
        try:
            params = json.loads(params_json) if params_json else {}
        except json.JSONDecodeError as err:
            raise ConfigError(f"model {arch!r}: parameters are not JSON: {err}") from None
        return cls(arch, params)


def n_outputs(schema: Schema) -> int:
    """Logits the model needs: 1 for binary, one per label otherwise."""
    return 1 if schema.task == "binary" else len(schema.label_names)


def spec_for(schema: Schema, arch: str | None = None, **overrides: Any) -> ModelSpec:
    """The default model for `schema` (or `arch`), sized to its inputs and outputs."""
    arch = arch or DEFAULT_ARCH.get(schema.modality)
    if arch is None:
        raise ConfigError(f"no default model for modality {schema.modality!r}; pass a model")
    if arch not in BUILDERS:
        raise ConfigError(f"unknown model {arch!r}; known: {', '.join(sorted(BUILDERS))}")
    params: dict[str, Any] = {"input_shape": list(schema.input_shape),
                              "n_outputs": n_outputs(schema)}
    if arch == "fusion":
        params["tabular_features"] = len(schema.feature_names)
    params.update(overrides)
    return ModelSpec(arch, params)


def build(spec: ModelSpec) -> Any:
    """Instantiate the torch module for `spec`."""
    if spec.arch not in BUILDERS:
        raise ConfigError(f"unknown model {spec.arch!r}; known: {', '.join(sorted(BUILDERS))}")
    module, _, func = BUILDERS[spec.arch].partition(":")
    try:
        return getattr(importlib.import_module(module), func)(**spec.params)
    except TypeError as err:
        raise ConfigError(f"model {spec.arch!r}: bad parameters {spec.params}: {err}") from None
