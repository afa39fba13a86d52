"""POST /api/v1/estimate: request and response (the v1 contract of design.md).

The response type is the estimator's own result model, re-exported here so routers depend on
schemas only."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.estimator.model import TransformerShape
from app.estimator.result import Estimate
from app.estimator.workload import Workload
from app.schemas.catalog import ID_PATTERN


class ModelInput(BaseModel):
    """Exactly one of: a preset id, transformer dimensions, a pasted config.json, a parameter count."""

    model_config = ConfigDict(extra="forbid")

    preset: str | None = Field(
        default=None, max_length=80, description="A model preset id (GET /api/v1/models)."
    )
    transformer: TransformerShape | None = None
    hf_config: dict[str, Any] | None = Field(
        default=None, description="A Hugging Face config.json, as is."
    )
    parameters: float | None = Field(
        default=None,
        gt=0,
        le=1e14,
        description="A bare parameter count; the shape is then assumed.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ModelInput:
        given = [
            k
            for k in ("preset", "transformer", "hf_config", "parameters")
            if getattr(self, k) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of preset, transformer, hf_config, parameters"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


class HardwareInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gpu: str = Field(max_length=80, pattern=ID_PATTERN, description="Catalog GPU id.")
    count: int = Field(default=1, ge=1, le=65_536, description="Number of GPUs.")
    price_per_gpu_hour_usd: float | None = Field(
        default=None, gt=0, le=1_000, description="Your own price; default the catalog's."
    )
    inter_node_gb_s: float | None = Field(
        default=None, gt=0, le=10_000, description="Network bandwidth per GPU between nodes, GB/s."
    )
    gpus_per_node: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="GPUs in one node (sharing the fast link); must divide count. Default 8 for "
        "datacenter GPUs, 4 for workstation and consumer cards.",
    )
    network_gbps_per_gpu: float | None = Field(
        default=None,
        gt=0,
        le=100_000,
        description="Scale-out network per GPU between nodes, Gb/s. Default 400 for Hopper/"
        "Blackwell/MI300-class, 200 for Ampere datacenter GPUs, else 100.",
    )
    power_limit_w: float | None = Field(
        default=None,
        gt=0,
        le=5_000,
        description="Board power cap, W (between a third of the board's TDP and the TDP); "
        "default the TDP.",
    )


class EstimateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: ModelInput
    workload: Workload = Workload()
    hardware: HardwareInput
    grid_kg_co2_per_kwh: float | None = Field(
        default=None, ge=0, le=2, description="Grid carbon intensity; default the world average."
    )


EstimateResponse = Estimate
