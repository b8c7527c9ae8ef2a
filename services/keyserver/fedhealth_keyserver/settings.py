"""Key server settings: env vars `FEDHEALTH_KEYSERVER_*`, an optional YAML file, flags."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class KeyServerSettings(BaseSettings):
    """Where to listen."""

    model_config = SettingsConfigDict(env_prefix="FEDHEALTH_KEYSERVER_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535, description="0 picks a free port")
    port_file: Path | None = Field(None, description="write the bound port here once serving")
    max_nodes_per_round: int = Field(10_000, ge=1)
    log_level: str = "info"
    log_json: bool = True
