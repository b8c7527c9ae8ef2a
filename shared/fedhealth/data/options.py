"""Loader options (string key/value pairs) parsed with errors that name the key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fedhealth.errors import ConfigError


def int_option(options: Mapping[str, str], name: str, default: int, low: int = 1,
               high: int | None = None) -> int:
    """An integer loader option within [low, high]; `ConfigError` naming it otherwise."""
    raw = options.get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"option {name}={raw!r} is not an integer") from None
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise ConfigError(f"option {name}={value} is outside {bound}")
    return value


def flag_option(options: Mapping[str, str], name: str, default: bool = False) -> bool:
    """A 0/1 (also true/false, yes/no) loader option."""
    raw = str(options.get(name, "1" if default else "0")).strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"option {name}={raw!r} must be 0 or 1")


def choice_option(options: Mapping[str, str], name: str, choices: Sequence[str],
                  default: str) -> str:
    """A loader option that must be one of `choices`."""
    value = str(options.get(name, default)).strip().lower()
    if value not in choices:
        raise ConfigError(f"option {name}={value!r} must be one of {', '.join(choices)}")
    return value


def float_option(options: Mapping[str, str], name: str, default: float, low: float) -> float:
    """A float loader option greater than `low`."""
    raw = options.get(name, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"option {name}={raw!r} is not a number") from None
    if not value > low:
        raise ConfigError(f"option {name}={value:g} must be greater than {low:g}")
    return value
