"""The estimate as the API returns it (field names are the v1 contract of docs/api.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, computed_field


class ModelCounts(BaseModel):
    parameters: float = Field(description="Total parameters (count).")
    trainable_parameters: float = Field(
        description="Parameters the optimizer updates (count; adapters only for LoRA/QLoRA)."
    )
    active_parameters: float | None = Field(None, description="Per token (MoE); else = parameters.")
    shape_assumed: bool = Field(
        False, description="True when the shape was assumed from a bare parameter count."
    )


class MemoryBytes(BaseModel):
    """Every component of one GPU's memory for a job, bytes (the estimator's breakdown and the
    API's `memory.per_gpu_bytes`)."""

    weights: float = Field(description="Model weights per GPU, bytes.")
    gradients: float = Field(description="Gradients per GPU, bytes.")
    optimizer_states: float = Field(
        description="Optimizer states (and fp32 master weights) per GPU, bytes."
    )
    activations: float = Field(
        description="Activations kept for the backward pass (or one forward pass) per GPU, bytes."
    )
    kv_cache: float = Field(description="KV cache per GPU (inference), bytes.")
    overhead: float = Field(
        description="Runtime overhead per GPU (CUDA/ROCm context, allocator, workspaces), bytes."
    )
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
    per_gpu_bytes: MemoryBytes = Field(description="Memory per GPU by component, bytes.")
    total_per_gpu_gb: float = Field(description="Total memory per GPU, GB (10^9 bytes).")
    capacity_gb: float = Field(description="Usable device memory per GPU, GB (10^9 bytes).")
    fits: bool = Field(description="True when total_per_gpu_gb <= capacity_gb.")
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
    total_flops: float = Field(
        description="FLOPs of the whole run (training tokens x flops_per_token), FLOP."
    )


class TimeResult(BaseModel):
    step_seconds: float = Field(
        description="Wall-clock time of one optimizer step (inference: one batch), s."
    )
    total_seconds: float = Field(description="Wall-clock time of the whole run, s.")
    tokens_per_second: float = Field(
        description="Tokens processed per second by all GPUs together, tokens/s."
    )
    per_gpu_tokens_per_second: float = Field(
        description="tokens_per_second divided by the GPU count, tokens/s."
    )
    mfu: float = Field(description="Model FLOPs utilization: model FLOP/s / (GPUs x dense peak).")
    model_tflops_per_gpu: float = Field(
        0.0, description="Model TFLOP/s each GPU achieves (MFU x peak)."
    )
    efficiency_source: str = Field(
        description="Where the achievable-throughput efficiency came from: 'probe:<run id>' or 'default:...'."
    )
    steps: float | None = Field(
        None, description="Optimizer steps in the run (count); None when not training."
    )
    breakdown_seconds: dict[str, float] = Field(
        default_factory=dict,
        description="Step time by part (compute, memory, communication, optimizer, ...), s.",
    )


class InferenceResult(BaseModel):
    time_to_first_token_s: float = Field(description="Prefill latency of the prompt, s.")
    decode_tokens_per_second: float = Field(
        description="All sequences of the batch, per replica set."
    )
    decode_tokens_per_second_per_sequence: float = Field(
        description="Decode speed of one sequence, tokens/s."
    )
    replicas: int = Field(description="Model replicas the GPUs hold (count).")


class Percentiles(BaseModel):
    """Percentiles of a latency over the simulated requests, seconds."""

    p50: float = Field(description="Median, seconds.")
    p90: float = Field(description="90th percentile, seconds.")
    p99: float = Field(description="99th percentile, seconds.")


class ServingPoint(BaseModel):
    """One point of the throughput-latency curve (closed loop at `concurrency` users)."""

    concurrency: int = Field(description="Closed-loop users at this point (count).")
    output_tokens_per_second_per_gpu: float = Field(
        description="Generated tokens per second per GPU, tokens/s."
    )
    output_tokens_per_second_per_user: float = Field(
        description="Generated tokens per second one user sees, tokens/s."
    )
    ttft_p90_s: float = Field(description="Time to first token, 90th percentile, seconds.")
    tpot_p99_s: float = Field(description="Time per output token, 99th percentile, seconds.")


class ServingResult(BaseModel):
    """Serving under load (task "serve"): latency percentiles, throughput, capacity, price."""

    ttft_s: Percentiles = Field(description="Time to first token, seconds.")
    tpot_s: Percentiles = Field(description="Time per output token after the first, seconds.")
    e2e_s: Percentiles = Field(description="Request end-to-end latency, seconds.")
    queue_s: Percentiles = Field(description="Time waiting before being scheduled, seconds.")
    output_tokens_per_second: float = Field(description="All replicas, tokens/s.")
    output_tokens_per_second_per_user: float = Field(
        description="Generated tokens per second one request sees, tokens/s."
    )
    request_rate: float = Field(description="Requests/s served (all replicas).")
    max_request_rate_within_targets: float = Field(
        description="Highest Poisson rate (all replicas) meeting both targets; 0 if none."
    )
    gpus_for_request_rate: int | None = Field(
        description="GPUs (this TP degree x replicas) that serve the requested rate within the "
        "targets; None if no replica count can."
    )
    usd_per_million_output_tokens: float | None = Field(
        description="Cost per million generated tokens, USD; None without a price."
    )
    usd_per_hour: float | None = Field(
        description="Cost of all the GPUs per hour, USD; None without a price."
    )
    kwh_per_million_output_tokens: float = Field(
        description="Energy per million generated tokens at board power, kWh."
    )
    bottleneck: Literal["kv_capacity", "memory_bandwidth", "compute", "queueing"] = Field(
        description="What limits serving: KV-cache capacity, memory bandwidth, compute or queueing."
    )
    meets_targets: bool = Field(description="p90 TTFT and p99 TPOT are within the targets.")
    targets: dict[str, float] = Field(
        description="The latency targets used, seconds: ttft_p90_s and tpot_p99_s."
    )
    engine: str = Field(description="Serving engine modelled, e.g. vllm.")
    tensor_parallel: int = Field(description="GPUs per replica (tensor-parallel degree).")
    replicas: int = Field(description="Model replicas (count).")
    kv_cache_blocks: int = Field(description="KV-cache blocks one replica holds (count).")
    kv_cache_tokens: int = Field(description="Tokens the KV cache of one replica holds (count).")
    block_size_tokens: int = Field(description="Tokens per KV-cache block (count).")
    max_kv_blocks_used: int = Field(
        description="Most KV-cache blocks in use at once in the simulation (count)."
    )
    requests_simulated: int = Field(description="Requests simulated per replica (count).")
    completed: int = Field(description="Simulated requests completed (count).")
    dropped: int = Field(description="Simulated requests dropped, e.g. too long to fit (count).")
    preemptions: int = Field(
        description="Times a running request was preempted for KV-cache space (count)."
    )
    mean_running_requests: float = Field(
        description="Requests running at once, time-averaged (count)."
    )
    saturation_output_tokens_per_second: float = Field(description="All replicas kept full.")
    static_batch: dict[str, float] = Field(
        default_factory=dict,
        description="What a static-batch roofline (prefill all, decode at mean context) says.",
    )
    curve: list[ServingPoint] = Field(
        default_factory=list,
        description="Throughput-latency curve at 1, 2, 4, ... closed-loop users (when asked).",
    )
    notes: list[str] = Field(
        default_factory=list, description="Remarks about the serving result, one sentence each."
    )


class CostResult(BaseModel):
    gpu_hours: float = Field(description="GPU count x wall-clock hours, GPU-h.")
    usd: float | None = Field(description="Cost of the run, USD; None without a price.")
    price_per_gpu_hour_usd: float | None = Field(
        description="Price used, USD per GPU-hour; None without a price."
    )
    price_source: str | None = Field(
        description="Which price was used (provider, instance, date, source title)."
    )


class EnergyResult(BaseModel):
    kwh: float = Field(description="Energy at board power for the run, kWh.")
    co2_kg: float = Field(description="CO2 emitted for that energy at the grid intensity, kg.")
    grid_kg_co2_per_kwh: float = Field(description="Grid carbon intensity used, kg CO2 per kWh.")


class ErrorBand(BaseModel):
    """How far off estimates of this kind were on published runs from sources the estimator's
    fit never saw: `time_pct` for the time family named by `family` (training_throughput,
    full_run or inference), `memory_pct` for peak memory; `basis` says how it was measured."""

    time_pct: float = Field(
        description="Time estimates are within this many percent (75th percentile of "
        "leave-one-source-out validation errors of the family), %."
    )
    memory_pct: float = Field(
        description="Memory estimates are within this many percent (75th percentile), %."
    )
    basis: str = Field("", description="What the band is measured on (validation rows and source).")
    family: str | None = Field(
        None,
        description="The validation family the band comes from: training_throughput, full_run, "
        "memory, inference or serving.",
    )


class HardwareEcho(BaseModel):
    gpu: str = Field(description="Catalog GPU id.")
    name: str = Field(description="GPU name.")
    count: int = Field(description="Number of GPUs (count).")
    layout: dict[str, int] = Field(
        description="Parallel layout degrees: data, tensor, pipeline, zero_stage (counts)."
    )


class Estimate(BaseModel):
    model: ModelCounts = Field(description="Parameter counts of the model.")
    hardware: HardwareEcho = Field(description="The hardware estimated, as resolved.")
    memory: MemoryResult = Field(description="Memory per GPU and whether it fits.")
    compute: ComputeResult = Field(description="FLOPs per token and for the run.")
    time: TimeResult = Field(description="Step and total time, throughput, MFU.")
    inference: InferenceResult | None = Field(
        None, description="Latency and decode speed (inference only)."
    )
    serving: ServingResult | None = Field(
        None, description='Latency percentiles, capacity and cost per token (task "serve").'
    )
    cost: CostResult = Field(description="GPU-hours and money.")
    energy: EnergyResult = Field(description="Energy and CO2.")
    bottleneck: Literal["compute", "memory_bandwidth", "communication", "memory_capacity"] = Field(
        description="What limits the step: compute, memory_bandwidth, communication or memory_capacity."
    )
    error_band: ErrorBand = Field(
        description="How far off the estimate may be, from the project's validation."
    )
    assumptions: list[str] = Field(description="What the estimate assumed, one sentence each.")
    warnings: list[str] = Field(
        description="What the user should know (tight memory, missing precision, ...)."
    )
    suggestions: list[str] = Field(
        default_factory=list, description="Changes that would make it fit."
    )
