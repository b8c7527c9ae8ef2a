"""Command-line flags generated from a service's settings model, so flags, env vars and
YAML keys never drift apart: field `round_timeout_s` is `--round-timeout-s`,
`FEDHEALTH_<SERVICE>_ROUND_TIMEOUT_S` and `round_timeout_s:` in the YAML file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TypeVar

from pydantic_settings import BaseSettings

from fedhealth import settings as settings_mod

S = TypeVar("S", bound=BaseSettings)


def add_settings_arguments(parser: argparse.ArgumentParser, cls: type[BaseSettings],
                           skip: set[str] | None = None) -> None:
    """One `--flag` per settings field (values are validated by the model, not argparse)."""
    parser.add_argument("--config", type=Path, help="YAML file of settings")
    prefix = str(cls.model_config.get("env_prefix", ""))
    for name, field in cls.model_fields.items():
        if skip and name in skip:
            continue
        flag = "--" + name.replace("_", "-")
        help_text = (field.description or "") + f" [env {prefix}{name.upper()}; default {field.default!r}]"
        parser.add_argument(flag, dest=f"s_{name}", metavar=name.upper(), help=help_text)


def settings_from_args(cls: type[S], args: argparse.Namespace, **extra: Any) -> S:
    """Build settings from parsed flags (highest precedence), env vars and --config."""
    overrides = {k[2:]: v for k, v in vars(args).items() if k.startswith("s_") and v is not None}
    overrides.update({k: v for k, v in extra.items() if v is not None})
    return settings_mod.load(cls, getattr(args, "config", None), **overrides)
