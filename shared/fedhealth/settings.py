"""Settings shared by every service: env vars with a prefix, an optional YAML file, and
one-line errors that name the bad setting.

Precedence, highest first: explicit values (command-line flags), environment variables,
the YAML file, defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from fedhealth.errors import ConfigError

S = TypeVar("S", bound=BaseSettings)


class _YamlSource(PydanticBaseSettingsSource):
    """Reads settings from a YAML mapping; keys are the field names."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def _read_yaml(path: Path, fields: set[str]) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of setting: value")
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting(s) {', '.join(unknown)}")
    return data


def load(cls: type[S], config_file: Path | None = None, **overrides: Any) -> S:
    """Build `cls` from overrides, env vars and `config_file`; raise `ConfigError` naming
    every bad setting (as its env var) on failure."""
    yaml_data = _read_yaml(config_file, set(cls.model_fields)) if config_file else {}
    explicit = {k: v for k, v in overrides.items() if v is not None}

    class _WithYaml(cls):  # type: ignore[valid-type, misc]
        @classmethod
        def settings_customise_sources(
            cls_, settings_cls: type[BaseSettings], init_settings: Any, env_settings: Any,
            dotenv_settings: Any, file_secret_settings: Any,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, _YamlSource(settings_cls, yaml_data),
                    file_secret_settings)

    _WithYaml.__name__ = cls.__name__
    try:
        built = _WithYaml(**explicit)
    except ValidationError as err:
        prefix = str(cls.model_config.get("env_prefix", ""))
        problems = []
        for e in err.errors():
            msg = str(e["msg"]).removeprefix("Value error, ")
            if not e["loc"]:  # a rule across settings: its message names them
                problems.append(msg)
                continue
            field = str(e["loc"][0])
            problems.append(f"{field} ({prefix}{field.upper()}): {msg}")
        raise ConfigError("invalid setting: " + "; ".join(problems)) from None
    return built  # type: ignore[no-any-return]
