"""POST /api/v1/recommend: the estimate request plus constraints and an objective."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.estimator.result import Estimate
from app.estimator.workload import Workload
from app.schemas.catalog import Segment, Vendor
from app.schemas.estimate import ModelInput
from app.schemas.gpu import Framework


class Objective(StrEnum):
    fastest = "fastest"
    cheapest = "cheapest"
    balanced = "balanced"


class MemorySavers(BaseModel):
    """Changes the recommender may make to fit a job (each default allowed)."""

    model_config = ConfigDict(extra="forbid")

    activation_checkpointing: bool = True
    zero: bool = Field(
        default=True, description="Shard with ZeRO-3 / FSDP across data-parallel GPUs."
    )
    optimizer_8bit: bool = True


class Constraints(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_gpus: int = Field(default=64, ge=1, le=4096, description="Largest GPU count to consider.")
    max_budget_usd: float | None = Field(default=None, gt=0, le=1e12)
    max_hours: float | None = Field(default=None, gt=0, le=1e7, description="Wall-clock limit.")
    vendors: list[Vendor] = Field(default_factory=list, description="Empty: every vendor.")
    segments: list[Segment] = Field(default_factory=list, description="Empty: every segment.")
    framework: Framework | None = Field(
        default=None, description="Only GPUs it officially supports."
    )
    min_precision: Literal["fp32", "tf32", "bf16", "fp16", "fp8", "fp4"] | None = Field(
        default=None, description="Only GPUs with this precision in hardware (e.g. fp8)."
    )
    cloud_priced_only: bool = Field(default=False, description="Only GPUs with a cloud price.")
    allow: MemorySavers = MemorySavers()


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: ModelInput
    workload: Workload = Workload()
    constraints: Constraints = Constraints()
    objective: Objective = Objective.balanced
    grid_kg_co2_per_kwh: float | None = Field(default=None, ge=0, le=2)


class Verdict(StrEnum):
    fits = "fits"
    fits_with_changes = "fits with changes"
    does_not_fit = "does not fit"


class ServingOption(BaseModel):
    """How an option serves the load (task "serve"): TP group, replicas, price per token."""

    tensor_parallel: int
    replicas: int
    max_request_rate_per_replica: float = Field(description="Within the latency targets.")
    usd_per_million_output_tokens: float | None
    usd_per_hour: float | None
    ttft_p90_s: float | None
    tpot_p99_s: float | None
    simulated: bool = Field(description="False: screened by the static roofline only.")


class RecommendOption(BaseModel):
    rank: int | None = Field(description="1 = best by the objective; None when it does not fit.")
    gpu: str
    name: str
    vendor: Vendor
    segment: Segment
    count: int
    verdict: Verdict
    changes: list[str] = Field(description="Memory savers applied to make it fit.")
    total_hours: float | None
    usd: float | None
    price_per_gpu_hour_usd: float | None
    memory_per_gpu_gb: float | None
    capacity_gb: float
    bottleneck: str | None
    mfu: float | None
    pareto: bool = Field(description="On the time-cost Pareto front of the fitting options.")
    reasons: list[str] = Field(
        default_factory=list, description="Why it ranks where it does or was excluded."
    )
    estimate: Estimate | None = Field(
        default=None, description="The full estimate behind the option."
    )
    serving: ServingOption | None = Field(default=None, description='Task "serve" only.')


class RecommendResponse(BaseModel):
    objective: Objective
    options: list[RecommendOption]
    excluded: list[dict[str, str]] = Field(
        default_factory=list, description="GPUs filtered out by a constraint, with the constraint."
    )
    considered: int
    model_parameters: float
    assumptions: list[str]
    id: str | None = Field(default=None, description="Saved result id (shareable link /r/{id}).")
