"""Coordinator settings: env vars `FEDHEALTH_COORDINATOR_*`, an optional YAML file, flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fedhealth.strategy import STRATEGIES


class CoordinatorSettings(BaseSettings):
    """Everything the coordinator needs to run one federation."""

    model_config = SettingsConfigDict(env_prefix="FEDHEALTH_COORDINATOR_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535, description="0 picks a free port")
    port_file: Path | None = Field(None, description="write the bound port here once serving")
    run_dir: Path = Path("runs/latest")
    run_id: str = ""
    hospitals: int = Field(3, ge=1, le=10_000, description="hospitals expected to join")
    min_hospitals: int = Field(0, ge=0, description="fewest live hospitals to go on (0: 1)")
    rounds: int = Field(10, ge=1, le=100_000)
    fraction_fit: float = Field(1.0, gt=0, le=1)
    join_timeout_s: float = Field(120.0, gt=0)
    round_timeout_s: float = Field(60.0, gt=0, description="deadline for each stage of a round")
    strategy: str = "fedavg"
    server_lr: float = Field(1.0, gt=0)
    local_epochs: int = Field(1, ge=1)
    batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(0.003, gt=0)
    optimizer: Literal["sgd", "adam"] = "adam"
    proximal_mu: float = Field(0.0, ge=0)
    model: str = ""
    model_params: str = Field("{}", description="JSON object of model hyper-parameters")
    seed: int = 0
    privacy: Literal["none", "secagg", "dp", "dp+secagg", "hdp+secagg"] = Field(
        "dp+secagg", description="deployed default: DP-SGD and secure aggregation; the local "
                                 "simulation (fedhealth run) chooses its own")
    hospital_clip: float = Field(1.0, gt=0, description="hospital-level DP: update L2 clip")
    max_dropouts: int = Field(0, ge=0, description="hospital-level DP: dropouts planned per round")
    epsilon: float = Field(1.0, gt=0, allow_inf_nan=False,
                           description="DP target epsilon per hospital for the run")
    delta: float = Field(1e-5, gt=0, lt=1, description="DP target delta per hospital")
    accountant: Literal["rdp", "prv"] = "rdp"
    max_grad_norm: float = Field(1.0, gt=0, description="DP-SGD per-record clipping norm")
    metrics_port: int = Field(-1, ge=-1, le=65535,
                              description="Prometheus metrics port (-1: off, 0: any free port)")
    keyserver: str = Field("", description="host:port of the key server (secure aggregation)")
    secagg_threshold: float = Field(2 / 3, gt=0.5, le=1.0,
                                    description="fraction of a round's nodes needed to unmask")
    secagg_clip: float = Field(4.0, gt=0, description="quantization range of update values")
    secagg_degree: int = Field(0, ge=0, description="SecAgg+ neighbours per node; 0: all")
    local_baselines: bool = True
    export_model: bool = True
    log_level: str = "info"
    log_json: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> CoordinatorSettings:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}")
        if self.min_hospitals > self.hospitals:
            raise ValueError("min_hospitals cannot exceed hospitals")
        if "secagg" in self.privacy and not self.keyserver:
            raise ValueError(f"privacy {self.privacy} needs the keyserver address (keyserver); "
                             "to run without secure aggregation choose privacy none or dp "
                             "explicitly")
        if self.strategy == "fedprox" and self.proximal_mu <= 0:
            raise ValueError("strategy fedprox needs proximal_mu > 0")
        return self
