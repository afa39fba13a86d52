"""POST /api/v1/recommend: the estimate request plus constraints and an objective."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from app.estimator.result import Estimate
from app.estimator.workload import Workload
from app.schemas.acquisition import Acquisition
from app.schemas.catalog import ID_PATTERN, Segment, Vendor
from app.schemas.estimate import ModelInput
from app.schemas.gpu import Framework


class Objective(StrEnum):
    fastest = "fastest"
    cheapest = "cheapest"
    balanced = "balanced"


class OwnedGpu(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gpu: str = Field(max_length=80, pattern=ID_PATTERN, description="Catalog GPU id.")
    count: int = Field(default=1, ge=1, le=65_536)


class MemorySavers(BaseModel):
    """Changes the recommender may make to fit a job (each default allowed)."""

    model_config = ConfigDict(extra="forbid")

    activation_checkpointing: bool = Field(
        True, strict=True, description="May turn on full activation checkpointing."
    )
    zero: bool = Field(
        strict=True, default=True, description="Shard with ZeRO-3 / FSDP across data-parallel GPUs."
    )
    optimizer_8bit: bool = Field(True, strict=True, description="May switch AdamW to 8-bit AdamW.")


class Constraints(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_gpus: int = Field(
        strict=True, default=64, ge=1, le=4096, description="Largest GPU count to consider."
    )
    max_budget_usd: float | None = Field(
        default=None, gt=0, le=1e12, description="Largest acceptable cost of the run, USD."
    )
    max_hours: float | None = Field(default=None, gt=0, le=1e7, description="Wall-clock limit.")
    vendors: list[Vendor] = Field(default_factory=list, description="Empty: every vendor.")
    segments: list[Segment] = Field(default_factory=list, description="Empty: every segment.")
    framework: Framework | None = Field(
        default=None, description="Only GPUs it officially supports."
    )
    min_precision: Literal["fp32", "tf32", "bf16", "fp16", "fp8", "fp4"] | None = Field(
        default=None, description="Only GPUs with this precision in hardware (e.g. fp8)."
    )
    cloud_priced_only: bool = Field(
        strict=True, default=False, description="Only GPUs with a cloud price."
    )
    allow: MemorySavers = MemorySavers()


class RecommendRequest(BaseModel):
    # "acquisition own needs owned GPUs", stated for OpenAPI readers and request generators.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "if": {"required": ["acquisition"], "properties": {"acquisition": {"const": "own"}}},
            "then": {"required": ["owned"], "properties": {"owned": {"minItems": 1}}},
        },
    )

    model: ModelInput = Field(
        description="The model: exactly one of preset, transformer, hf_config, parameters."
    )
    workload: Workload = Field(Workload(), description="The job: task, precision, batch, tokens.")
    constraints: Constraints = Field(
        Constraints(), description="Limits on GPUs, money, time and hardware."
    )
    objective: Objective = Field(
        Objective.balanced,
        description="fastest, cheapest or balanced (geometric mean of time and cost).",
    )
    grid_kg_co2_per_kwh: float | None = Field(
        default=None,
        ge=0,
        le=2,
        description="Grid carbon intensity, kg CO2 per kWh; default the world average.",
    )
    acquisition: Acquisition = Field(
        default=Acquisition.rent,
        description="rent: instance offers; buy: GPUs + hosts + power; own: electricity only.",
    )
    usd_per_kwh: float | None = Field(
        default=None,
        ge=0,
        le=10,
        description="Electricity price (buy, own); default the catalog's.",
    )
    owned: list[OwnedGpu] = Field(
        default_factory=list,
        max_length=64,
        validate_default=True,
        description="The GPUs you own (acquisition own).",
    )
    max_options: int = Field(
        default=10,
        ge=1,
        le=500,
        description="Ranked options returned; the rest are pruned by lower bounds (why-not list).",
    )

    @field_validator("owned", mode="after")
    @classmethod
    def _owned_for_own(cls, value: list[OwnedGpu], info: ValidationInfo) -> list[OwnedGpu]:
        if info.data.get("acquisition") is Acquisition.own and not value:
            raise ValueError("acquisition 'own' needs the GPUs you own: [{gpu, count}, ...]")
        return value


class OfferRef(BaseModel):
    """The rented unit behind an option (catalog/offers/)."""

    provider: str = Field(description="Provider id, e.g. aws, lambda.")
    instance: str = Field(description="The provider's name for the instance type.")
    gpus_per_instance: int = Field(description="GPUs in one instance (count).")
    instances: int = Field(description="Instances rented for this option (count).")
    region: str | None = Field(
        description="First region the instance is offered in; None when none is listed."
    )
    usd_per_instance_hour: float = Field(description="On-demand price per instance-hour, USD.")
    usd_per_gpu_hour: float = Field(description="On-demand price per GPU-hour, USD.")
    spot_usd_per_gpu_hour: float | None = Field(
        description="Spot (interruptible) price per GPU-hour, USD; None when none is listed."
    )
    reserved_usd_per_gpu_hour: float | None = Field(
        None, description="Reserved (committed) price per GPU-hour, USD; None when none is listed."
    )
    observed: str = Field(description="When the price was read (ISO date, YYYY-MM-DD).")
    source: dict[str, str] = Field(
        description="Where the price was read: title, url and retrieved (ISO date)."
    )
    stale: bool = Field(description="Observed more than 12 months ago.")


class HostRef(BaseModel):
    """Host machines bought to hold the GPUs (catalog/hosts.yaml)."""

    host: str = Field(description="Catalog host class id.")
    name: str = Field(description="Host class name.")
    count: int = Field(description="Hosts of this class bought (count).")
    usd_each: float = Field(description="Price of one host without GPUs, USD.")


class PurchaseRef(BaseModel):
    """What buying this option means: upfront, hourly cost of owning, break-even vs renting."""

    upfront_usd: float = Field(description="Purchase price of the GPUs and hosts, USD.")
    gpu_usd_each: float = Field(description="Purchase price of one GPU, USD.")
    hosts: list[HostRef] = Field(description="Host machines bought to hold the GPUs.")
    usd_per_hour_owned: float = Field(
        description="Cost of owning per hour of work, USD: amortized purchase plus electricity."
    )
    energy_usd_per_hour: float = Field(
        description="Electricity per hour of work, USD (board power x PUE x price per kWh)."
    )
    breakeven_hours_vs_rent: float | None = Field(
        description="Hours of this work after which buying beats the cheapest rental of the "
        "same GPUs; None without a rental or when renting costs less than the electricity."
    )
    basis: list[str] = Field(
        description="Where each figure came from and what was assumed, one sentence each."
    )


class Verdict(StrEnum):
    fits = "fits"
    fits_with_changes = "fits with changes"
    does_not_fit = "does not fit"


class ServingOption(BaseModel):
    """How an option serves the load (task "serve"): TP group, replicas, price per token."""

    tensor_parallel: int = Field(description="GPUs per replica (tensor-parallel degree).")
    replicas: int = Field(description="Model replicas serving the load (count).")
    max_request_rate_per_replica: float = Field(
        description="Requests per second one replica sustains within the latency targets."
    )
    usd_per_million_output_tokens: float | None = Field(
        description="Cost per million generated tokens, USD; None without a price."
    )
    usd_per_hour: float | None = Field(
        description="Cost of all replicas per hour, USD; None without a price."
    )
    ttft_p90_s: float | None = Field(
        description="Time to first token, 90th percentile, seconds; None when not simulated."
    )
    tpot_p99_s: float | None = Field(
        description="Time per output token, 99th percentile, seconds; None when not simulated."
    )
    simulated: bool = Field(description="False: screened by the static roofline only.")


class RecommendOption(BaseModel):
    rank: int | None = Field(description="1 = best by the objective; None when it does not fit.")
    gpu: str = Field(description="Catalog GPU id.")
    name: str = Field(description="GPU name.")
    vendor: Vendor = Field(description="GPU vendor.")
    segment: Segment = Field(description="Market segment.")
    count: int = Field(description="GPUs in this option (count).")
    verdict: Verdict = Field(
        description="fits, fits with changes (memory savers applied) or does not fit."
    )
    changes: list[str] = Field(description="Memory savers applied to make it fit.")
    total_hours: float | None = Field(
        description="Wall-clock time of the run, hours; None when it does not fit."
    )
    usd: float | None = Field(description="Cost of the run, USD; None without a price or a fit.")
    price_per_gpu_hour_usd: float | None = Field(
        description="Price used, USD per GPU-hour; None without one."
    )
    memory_per_gpu_gb: float | None = Field(
        description="Memory needed per GPU, GB (10^9 bytes); None when it does not fit."
    )
    capacity_gb: float = Field(description="Usable memory per GPU, GB (10^9 bytes).")
    bottleneck: str | None = Field(
        description="What limits the step (compute, memory_bandwidth, communication); None when it does not fit."
    )
    mfu: float | None = Field(
        description="Model FLOPs utilization, fraction 0-1; None when it does not fit."
    )
    pareto: bool = Field(description="On the time-cost Pareto front of the fitting options.")
    reasons: list[str] = Field(
        default_factory=list, description="Why it ranks where it does or was excluded."
    )
    estimate: Estimate | None = Field(
        default=None, description="The full estimate behind the option."
    )
    acquisition: Acquisition = Field(
        Acquisition.rent, description="How the GPUs are had: rent, buy or own."
    )
    offer: OfferRef | None = Field(
        None, description="The rented instances behind the price (rent); None otherwise."
    )
    purchase: PurchaseRef | None = Field(
        None, description="What buying the GPUs costs (buy); None otherwise."
    )
    cost_usd_low: float | None = Field(
        None, description="Low end of the cost, USD (cost less the time error band); None: no cost."
    )
    cost_usd_high: float | None = Field(
        None,
        description="High end of the cost, USD (cost plus the time error band); None: no cost.",
    )
    hours_low: float | None = Field(
        None, description="Low end of the run time, hours (less the error band); None: no fit."
    )
    hours_high: float | None = Field(
        None, description="High end of the run time, hours (plus the error band); None: no fit."
    )
    spot_usd: float | None = Field(default=None, description="The job at the spot price.")
    validated: bool = Field(
        default=False, description="The validation set has measurements of this GPU and task."
    )
    warnings: list[str] = Field(
        default_factory=list, description="Caveats about this option, one sentence each."
    )
    serving: ServingOption | None = Field(default=None, description='Task "serve" only.')


class RecommendResponse(BaseModel):
    objective: Objective = Field(description="The ranking objective used.")
    options: list[RecommendOption] = Field(
        description="Fitting options ranked best first, then the GPUs that do not fit."
    )
    excluded: list[dict[str, str]] = Field(
        default_factory=list, description="GPUs filtered out by a constraint, with the constraint."
    )
    considered: int = Field(description="Catalog GPUs considered (count).")
    model_parameters: float = Field(description="Parameters of the model (count).")
    assumptions: list[str] = Field(description="What the ranking assumed, one sentence each.")
    id: str | None = Field(default=None, description="Saved result id (shareable link /r/{id}).")
    acquisition: Acquisition = Field(
        Acquisition.rent, description="The acquisition mode asked for: rent, buy or own."
    )
    groups: dict[str, list[int]] = Field(
        default_factory=dict,
        description="Option positions by acquisition mode; options of different modes are never "
        "ranked together.",
    )
    pruned: int = Field(
        default=0, description="Options dropped because a lower bound showed they could not rank."
    )


# The README's request, as an OpenAPI example.
RECOMMEND_EXAMPLES: dict[str, Any] = {
    "qlora_cheapest": {
        "summary": "Cheapest QLoRA of Llama 3.1 8B on up to 8 GPUs under $50",
        "value": {
            "model": {"preset": "llama-3.1-8b"},
            "workload": {"task": "qlora", "tokens": 1e8},
            "constraints": {"max_gpus": 8, "max_budget_usd": 50, "framework": "pytorch"},
            "objective": "cheapest",
        },
    },
    "pretrain_transformer": {
        "summary": "Fastest pre-training of a 1.3B transformer given by its dimensions",
        "value": {
            "model": {"transformer": {"layers": 24, "hidden_size": 2048, "heads": 16,
                                      "vocab_size": 50257}},
            "workload": {"task": "pretrain", "seq_len": 2048, "micro_batch": 4,
                         "tokens": 2.6e10},
            "constraints": {"max_gpus": 16},
            "objective": "fastest",
        },
    },
}  # fmt: skip
