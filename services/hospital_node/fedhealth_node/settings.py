"""Hospital node settings: env vars `FEDHEALTH_NODE_*`, an optional YAML file, flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fedhealth import node_ids


class NodeSettings(BaseSettings):
    """One hospital: who it is, where its data lives, where the coordinator is."""

    model_config = SettingsConfigDict(env_prefix="FEDHEALTH_NODE_", extra="forbid")

    node_id: str = Field("hospital-1", min_length=1, max_length=128)
    coordinator: str = Field("127.0.0.1:50051", description="host:port of the coordinator")
    connect_timeout_s: float = Field(15.0, gt=0)
    keyserver: str = Field("", description="host:port of the key server (secure aggregation)")
    require_secure_aggregation: bool = Field(
        True, description="refuse any run that would send this hospital's update unmasked "
                          "(the local simulation, fedhealth run, sets it from --privacy)")
    require_dp: bool = Field(
        True, description="refuse to train on this hospital's records without differential "
                          "privacy (DP-SGD or hospital-level DP); fedhealth run sets it from "
                          "--privacy")
    dataset: str = "breast_cancer"
    data_dir: Path | None = Field(None, description="data folder or file (default: bundled)")
    data_options: dict[str, str] = Field(default_factory=dict,
                                         description="loader options as a JSON object")
    partition: str = Field("none", description="none, iid, dirichlet:A, quantity:A, natural")
    site_index: int = Field(0, ge=0)
    num_sites: int = Field(1, ge=1)
    seed: int = 0
    test_fraction: float = Field(0.2, gt=0, lt=1)
    ledger_path: Path | None = Field(None, description="this hospital's privacy ledger (JSON)")
    new_ledger: bool = Field(False, description="create the ledger: only on a first start")
    dp_epsilon: float | None = Field(None, gt=0, allow_inf_nan=False,
                                     description="own budget, if below the run's")
    dp_delta: float | None = Field(None, gt=0, lt=1, description="own delta, if below the run's")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = Field(1, ge=1, le=256, description="torch CPU threads")
    log_level: str = "info"
    log_json: bool = True

    @field_validator("node_id")
    @classmethod
    def _safe_id(cls, v: str) -> str:
        if not node_ids.is_valid(v):
            raise ValueError(f"node_id must be {node_ids.RULE}")
        return v

    @field_validator("coordinator")
    @classmethod
    def _address(cls, v: str) -> str:
        host, _, port = v.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{v!r} is not host:port")
        return v
