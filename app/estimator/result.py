"""The estimate as the API returns it (field names are the v1 contract of docs/api.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, computed_field


class ModelCounts(BaseModel):
    parameters: float
    trainable_parameters: float
    active_parameters: float | None = Field(None, description="Per token (MoE); else = parameters.")
    shape_assumed: bool = False


class MemoryBytes(BaseModel):
    """Every component of one GPU's memory for a job, bytes (the estimator's breakdown and the
    API's `memory.per_gpu_bytes`)."""

    weights: float
    gradients: float
    optimizer_states: float
    activations: float
    kv_cache: float
    overhead: float
    trainable_parameters: float = Field(default=0.0, exclude=True)

    @property
    def tensors(self) -> float:
        """Live tensors: what torch.cuda.max_memory_allocated counts."""
        return (
            self.weights + self.gradients + self.optimizer_states + self.activations + self.kv_cache
        )

    @property
    def total(self) -> float:
        """Device memory in use: tensors plus the runtime context, buffers and reserve."""
        return self.tensors + self.overhead


class MemoryResult(BaseModel):
    per_gpu_bytes: MemoryBytes
    total_per_gpu_gb: float
    capacity_gb: float
    fits: bool
    max_micro_batch: int = Field(
        description="Largest micro-batch (inference: batch) that fits; 0 if none."
    )
    min_gpus_to_fit: int | None = Field(
        None,
        description="Fewest GPUs (same parallel layout, ZeRO-3 sharding) that fit; None if none up to 4096.",
    )

    @computed_field(  # type: ignore[prop-decorator]
        description="Peak of live tensors per GPU, GB: what torch.cuda.max_memory_allocated reports."
    )
    @property
    def allocated_peak_gb(self) -> float:
        return self.per_gpu_bytes.tensors / 1e9

    @computed_field(  # type: ignore[prop-decorator]
        description="Device memory in use per GPU, GB: what nvidia-smi shows (tensors plus the "
        "runtime context, communicator buffers and the caching allocator's reserve); `fits` and "
        "`max_micro_batch` are judged on it. Equals total_per_gpu_gb."
    )
    @property
    def device_used_gb(self) -> float:
        return self.total_per_gpu_gb


class ComputeResult(BaseModel):
    flops_per_token: float = Field(
        description="Training: forward + backward (+ recompute) per token."
    )
    total_flops: float


class TimeResult(BaseModel):
    step_seconds: float
    total_seconds: float
    tokens_per_second: float
    per_gpu_tokens_per_second: float
    mfu: float = Field(description="Model FLOPs utilization: model FLOP/s / (GPUs x dense peak).")
    model_tflops_per_gpu: float = Field(
        0.0, description="Model TFLOP/s each GPU achieves (MFU x peak)."
    )
    efficiency_source: str
    steps: float | None = None
    breakdown_seconds: dict[str, float] = Field(default_factory=dict)


class InferenceResult(BaseModel):
    time_to_first_token_s: float
    decode_tokens_per_second: float = Field(
        description="All sequences of the batch, per replica set."
    )
    decode_tokens_per_second_per_sequence: float
    replicas: int


class Percentiles(BaseModel):
    p50: float
    p90: float
    p99: float


class ServingPoint(BaseModel):
    """One point of the throughput-latency curve (closed loop at `concurrency` users)."""

    concurrency: int
    output_tokens_per_second_per_gpu: float
    output_tokens_per_second_per_user: float
    ttft_p90_s: float
    tpot_p99_s: float


class ServingResult(BaseModel):
    """Serving under load (task "serve"): latency percentiles, throughput, capacity, price."""

    ttft_s: Percentiles
    tpot_s: Percentiles
    e2e_s: Percentiles
    queue_s: Percentiles
    output_tokens_per_second: float = Field(description="All replicas.")
    output_tokens_per_second_per_user: float
    request_rate: float = Field(description="Requests/s served (all replicas).")
    max_request_rate_within_targets: float = Field(
        description="Highest Poisson rate (all replicas) meeting both targets; 0 if none."
    )
    gpus_for_request_rate: int | None = Field(
        description="GPUs (this TP degree x replicas) that serve the requested rate within the "
        "targets; None if no replica count can."
    )
    usd_per_million_output_tokens: float | None
    usd_per_hour: float | None
    kwh_per_million_output_tokens: float
    bottleneck: Literal["kv_capacity", "memory_bandwidth", "compute", "queueing"]
    meets_targets: bool
    targets: dict[str, float]
    engine: str
    tensor_parallel: int
    replicas: int
    kv_cache_blocks: int
    kv_cache_tokens: int
    block_size_tokens: int
    max_kv_blocks_used: int
    requests_simulated: int
    completed: int
    dropped: int
    preemptions: int
    mean_running_requests: float
    saturation_output_tokens_per_second: float = Field(description="All replicas kept full.")
    static_batch: dict[str, float] = Field(
        default_factory=dict,
        description="What a static-batch roofline (prefill all, decode at mean context) says.",
    )
    curve: list[ServingPoint] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class CostResult(BaseModel):
    gpu_hours: float
    usd: float | None
    price_per_gpu_hour_usd: float | None
    price_source: str | None


class EnergyResult(BaseModel):
    kwh: float
    co2_kg: float
    grid_kg_co2_per_kwh: float


class ErrorBand(BaseModel):
    """How far off estimates of this kind were on published runs from sources the estimator's
    fit never saw: `time_pct` for the time family named by `family` (training_throughput,
    full_run or inference), `memory_pct` for peak memory; `basis` says how it was measured."""

    time_pct: float
    memory_pct: float
    basis: str = ""
    family: str | None = None


class HardwareEcho(BaseModel):
    gpu: str
    name: str
    count: int
    layout: dict[str, int]


class Estimate(BaseModel):
    model: ModelCounts
    hardware: HardwareEcho
    memory: MemoryResult
    compute: ComputeResult
    time: TimeResult
    inference: InferenceResult | None = None
    serving: ServingResult | None = None
    cost: CostResult
    energy: EnergyResult
    bottleneck: Literal["compute", "memory_bandwidth", "communication", "memory_capacity"]
    error_band: ErrorBand
    assumptions: list[str]
    warnings: list[str]
    suggestions: list[str] = Field(
        default_factory=list, description="Changes that would make it fit."
    )
