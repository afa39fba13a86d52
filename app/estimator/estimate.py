"""One model + workload on one hardware choice: memory, fit, time, cost, energy, and their basis."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from app.estimator.cost import DEFAULT_GRID_KG_CO2_PER_KWH, Pricing, co2_kg, energy_kwh, gpu_hours
from app.estimator.flops import model_ops, training_flops
from app.estimator.hardware import Efficiency, GpuSpec
from app.estimator.memory import (
    Layout,
    activation_bytes_per_element,
    memory_per_gpu,
)
from app.estimator.model import (
    TransformerShape,
    active_parameter_count,
    parameter_count,
    sequence_tokens,
)
from app.estimator.result import (
    ComputeResult,
    CostResult,
    EnergyResult,
    ErrorBand,
    Estimate,
    HardwareEcho,
    InferenceResult,
    MemoryBytes,
    MemoryResult,
    ModelCounts,
    TimeResult,
)
from app.estimator.timing import (
    PhaseTime,
    inference_time,
    training_step_time,
)
from app.estimator.units import GB
from app.estimator.workload import Checkpointing, Optimizer, Parallelism, Task, Workload

MAX_SEARCH_GPUS = 4096
MAX_SEARCH_MICRO_BATCH = 65_536


class EstimateInputError(ValueError):
    """An impossible combination of inputs; `field` names the offending input."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ModelDescription:
    """A model to estimate: its shape and what was assumed to get it."""

    label: str
    shape: TransformerShape
    shape_assumed: bool = False
    assumptions: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def model_counts(model: ModelDescription, trainable_parameters: float) -> ModelCounts:
    """The response's parameter counts: all, trainable, active per token (MoE)."""
    return ModelCounts(
        parameters=float(parameter_count(model.shape)),
        trainable_parameters=trainable_parameters,
        active_parameters=float(active_parameter_count(model.shape)),
        shape_assumed=model.shape_assumed,
    )


@dataclass(frozen=True)
class EstimateContext:
    """Everything besides model and workload: the GPU, its efficiency, price and error band."""

    gpu: GpuSpec
    count: int
    efficiency: Efficiency
    pricing: Pricing | None = None
    error_band: ErrorBand = field(default_factory=lambda: ErrorBand(time_pct=15, memory_pct=10))
    grid_kg_co2_per_kwh: float = DEFAULT_GRID_KG_CO2_PER_KWH
    # Step-time factor fitted on published runs inside the leave-one-source-out validation
    # (catalog/error_bands.yaml, training_throughput.scale); 1.0 = the model as derived.
    training_time_scale: float = 1.0


def make_layout(shape: TransformerShape, count: int, parallelism: Parallelism) -> Layout:
    """Check the parallel layout against the model and GPU count."""
    t, p = parallelism.tensor, parallelism.pipeline
    if count % (t * p):
        raise EstimateInputError(
            "workload.parallelism",
            f"tensor x pipeline ({t} x {p} = {t * p}) must divide hardware.count ({count})",
        )
    if shape.heads % t:
        raise EstimateInputError(
            "workload.parallelism.tensor",
            f"tensor parallel degree ({t}) must divide the attention heads ({shape.heads})",
        )
    if p > shape.total_layers:
        raise EstimateInputError(
            "workload.parallelism.pipeline",
            f"pipeline stages ({p}) cannot exceed the layers ({shape.total_layers})",
        )
    data, ep = count // (t * p), parallelism.expert
    if ep > 1 and (data % ep or not shape.is_moe or shape.experts % ep):
        raise EstimateInputError(
            "workload.parallelism.expert",
            f"expert parallel degree ({ep}) must divide the data-parallel ranks ({data}) and the "
            f"experts ({shape.experts}) of a mixture-of-experts model",
        )
    return Layout(count=count, tensor=t, pipeline=p, zero_stage=parallelism.zero_stage, expert=ep)


def _fits(shape: TransformerShape, workload: Workload, layout: Layout, capacity: float) -> bool:
    return memory_per_gpu(shape, workload, layout).total <= capacity


def _with_batch(workload: Workload, batch: int) -> Workload:
    if workload.task is Task.inference:
        inference = workload.inference_config.model_copy(update={"batch": batch})
        return workload.model_copy(update={"inference": inference})
    return workload.model_copy(update={"micro_batch": batch, "global_batch": None})


def max_batch_that_fits(
    shape: TransformerShape, workload: Workload, layout: Layout, capacity: float
) -> int:
    """Largest micro-batch (inference: batch) whose memory fits; memory grows with it."""
    if not _fits(shape, _with_batch(workload, 1), layout, capacity):
        return 0
    low, high = 1, 2
    while high <= MAX_SEARCH_MICRO_BATCH and _fits(
        shape, _with_batch(workload, high), layout, capacity
    ):
        low, high = high, high * 2
    high = min(high, MAX_SEARCH_MICRO_BATCH + 1)
    while high - low > 1:
        mid = (low + high) // 2
        if _fits(shape, _with_batch(workload, mid), layout, capacity):
            low = mid
        else:
            high = mid
    return low


def min_gpus_that_fit(
    shape: TransformerShape, workload: Workload, layout: Layout, capacity: float
) -> int | None:
    """Fewest GPUs that fit: training adds data-parallel ranks with ZeRO-3 (FSDP) sharding;
    inference adds tensor-parallel ranks (a power of two dividing the heads)."""
    if workload.task is Task.inference:
        t = 1
        while t <= MAX_SEARCH_GPUS and shape.heads % t == 0:
            trial = Layout(
                count=t * layout.pipeline, tensor=t, pipeline=layout.pipeline, zero_stage=0
            )
            if _fits(shape, workload, trial, capacity):
                return trial.count
            t *= 2
        return None
    base = layout.tensor * layout.pipeline
    data = 1
    while base * data <= MAX_SEARCH_GPUS:
        trial = Layout(
            count=base * data,
            tensor=layout.tensor,
            pipeline=layout.pipeline,
            zero_stage=3 if data > 1 else layout.zero_stage,
        )
        if _fits(shape, workload, trial, capacity):
            return trial.count
        data *= 2
    return None


def _memory_result(
    shape: TransformerShape,
    workload: Workload,
    layout: Layout,
    gpu: GpuSpec,
    breakdown: MemoryBytes,
    *,
    detailed: bool = True,
) -> MemoryResult:
    """Memory figures; `detailed` adds the searches (largest micro-batch, fewest GPUs)."""
    capacity = gpu.memory_capacity_bytes
    return MemoryResult(
        per_gpu_bytes=breakdown,
        total_per_gpu_gb=breakdown.total / GB,
        capacity_gb=capacity / GB,
        fits=breakdown.total <= capacity,
        max_micro_batch=max_batch_that_fits(shape, workload, layout, capacity) if detailed else -1,
        min_gpus_to_fit=min_gpus_that_fit(shape, workload, layout, capacity) if detailed else None,
    )


def _suggestions(
    shape: TransformerShape, workload: Workload, layout: Layout, gpu: GpuSpec
) -> list[str]:
    """What would make a job that does not fit fit, each with the memory it would need."""
    capacity = gpu.memory_capacity_bytes
    out: list[str] = []

    def need(w: Workload, lay: Layout) -> float:
        return memory_per_gpu(shape, w, lay).total / GB

    if workload.is_training:
        if workload.activation_checkpointing is not Checkpointing.full:
            w = workload.model_copy(update={"activation_checkpointing": Checkpointing.full})
            out.append(
                f"with full activation checkpointing it needs {need(w, layout):.1f} GB per GPU"
            )
        if layout.data > 1 and layout.zero_stage < 3:
            out.append(
                f"with ZeRO-3 / FSDP it needs {need(workload, replace(layout, zero_stage=3)):.1f} GB per GPU"
            )
        if (
            workload.task in (Task.pretrain, Task.finetune)
            and workload.optimizer is Optimizer.adamw
        ):
            w = workload.model_copy(update={"optimizer": Optimizer.adamw_8bit})
            out.append(f"with 8-bit AdamW it needs {need(w, layout):.1f} GB per GPU")
        if workload.task is Task.finetune:
            for task in (Task.lora, Task.qlora):
                w = workload.model_copy(update={"task": task})
                out.append(f"as {task.value.upper()} it needs {need(w, layout):.1f} GB per GPU")
        if workload.micro_batch > 1:
            w = workload.model_copy(
                update={"micro_batch": 1, "global_batch": workload.global_batch}
            )
            out.append(
                f"with micro_batch 1 (more gradient accumulation) it needs {need(w, layout):.1f} GB per GPU"
            )
    else:
        inference = workload.inference_config
        if (inference.weight_precision or workload.precision.value) in ("bf16", "fp16", "fp32"):
            for fmt in ("int8", "int4"):
                w = workload.model_copy(
                    update={"inference": inference.model_copy(update={"weight_precision": fmt})}
                )
                out.append(f"with {fmt} weights it needs {need(w, layout):.1f} GB per GPU")
        if inference.batch > 1:
            w = _with_batch(workload, 1)
            out.append(f"with batch 1 it needs {need(w, layout):.1f} GB per GPU")
    minimum = min_gpus_that_fit(shape, workload, layout, capacity)
    if minimum is not None and workload.task is Task.inference:
        degree = minimum // layout.pipeline
        if degree != layout.tensor:
            out.append(f"tensor parallelism of degree {degree} ({minimum} GPUs) fits it")
    elif minimum is not None and minimum > layout.count:
        out.append(f"{minimum} GPUs with ZeRO-3 / FSDP fit it")
    return out


def _total_tokens(workload: Workload, shape: TransformerShape) -> tuple[float | None, str | None]:
    if workload.tokens is not None:
        return workload.tokens, None
    if workload.samples is not None:
        epochs = workload.epochs or 1.0
        seq = sequence_tokens(shape, workload.seq_len)
        return (
            workload.samples * epochs * seq,
            f"tokens = samples x epochs x {seq} tokens per sample",
        )
    return None, None


def cost_and_energy(
    count: int, total_s: float, gpu: GpuSpec, ctx: EstimateContext, warnings: list[str]
) -> tuple[CostResult, EnergyResult]:
    """GPU-hours x the price; board power x time; CO2 at the grid's intensity."""
    hours = gpu_hours(count, total_s)
    price = ctx.pricing
    cost = CostResult(
        gpu_hours=hours,
        usd=hours * price.usd_per_gpu_hour if price else None,
        price_per_gpu_hour_usd=price.usd_per_gpu_hour if price else None,
        price_source=price.source if price else None,
    )
    if price is None:
        warnings.append(f"no price in the catalog for {gpu.name}: cost not estimated")
    kwh = energy_kwh(count, gpu.board_power_w, total_s)
    energy = EnergyResult(
        kwh=kwh,
        co2_kg=co2_kg(kwh, ctx.grid_kg_co2_per_kwh),
        grid_kg_co2_per_kwh=ctx.grid_kg_co2_per_kwh,
    )
    return cost, energy


def hardware_assumptions(
    gpu: GpuSpec,
    eff: Efficiency,
    layout: Layout,
    memory: MemoryResult,
    peak: float,
    used_precision: str,
    ctx: EstimateContext,
) -> list[str]:
    """The hardware-side basis every estimate states."""
    lines = [
        f"efficiency: {eff.source} (matmul {eff.matmul_fraction:.0%} of dense peak, memory "
        f"bandwidth {eff.bandwidth_fraction:.0%}, attention {eff.attention_fraction:.0%}, "
        f"{eff.overhead_s * 1e6:.0f} us per kernel)",
        f"{gpu.name}: {peak / 1e12:,.1f} dense TFLOP/s ({used_precision}), "
        f"{gpu.memory_bandwidth_gb_s:,.0f} GB/s, {gpu.memory_gib:g} GiB (capacity {memory.capacity_gb:.1f} GB)",
        f"layout: {layout.data} data x {layout.tensor} tensor x {layout.pipeline} pipeline, "
        f"ZeRO stage {layout.zero_stage}",
        f"links: {gpu.node_size(layout.count)} GPUs per node"
        + ("" if gpu.gpus_per_node else " (default for the GPU class)")
        + f", {gpu.intra_node_link_gb_s(gpu.node_size(layout.count)):.0f} GB/s per direction inside "
        f"a node, {gpu.network_gb_s_per_gpu * 8:.0f} Gb/s network per GPU between nodes"
        + (
            ""
            if gpu.network_gbps_per_gpu or gpu.scale_out_gb_s
            else " (default for the GPU class: one NIC per GPU as DGX/HGX systems ship)"
        ),
        f"energy: board power {gpu.board_power_w:g} W at full load; CO2 at {ctx.grid_kg_co2_per_kwh} kg/kWh",
    ]
    if gpu.clock_derate < 1.0:
        lines.append(
            f"power cap {gpu.board_power_w:g} W of {gpu.tdp_w:g} W: sustained clock and matrix "
            f"throughput x{gpu.clock_derate:.2f} (dynamic power ~ f^3, 10% static share)"
        )
    return lines


@dataclass
class _TimePart:
    """What the inference or training branch of an estimate contributes."""

    step_s: float
    total_s: float
    tokens_per_s: float
    mfu: float
    flops_per_token: float
    total_flops: float
    steps: float
    breakdown_s: dict[str, float]
    phase: PhaseTime
    trainable: float
    inference: InferenceResult | None = None
    assumptions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _check_inputs(
    shape: TransformerShape, workload: Workload, layout: Layout, gpu: GpuSpec
) -> tuple[str, list[str]]:
    """Input checks that need the layout; returns the precision used and warnings."""
    if workload.global_batch is not None and workload.global_batch % (
        workload.micro_batch * layout.data
    ):
        raise EstimateInputError(
            "workload.global_batch",
            f"global_batch ({workload.global_batch}) must be a multiple of micro_batch x data-parallel "
            f"ranks ({workload.micro_batch} x {layout.data})",
        )
    if workload.attention == "flash" and workload.precision.value in ("fp32", "tf32"):
        raise EstimateInputError(
            "workload.attention",
            f"attention 'flash' runs in fp16/bf16 only (FlashAttention-2); with precision "
            f"{workload.precision.value} use 'sdpa' or 'eager'",
        )
    if (
        workload.attention == "flash"
        and gpu.vendor == "nvidia"
        and gpu.architecture
        in (
            "Volta",
            "Turing",
            "Pascal",
        )
    ):
        raise EstimateInputError(
            "workload.attention",
            f"attention 'flash' (FlashAttention-2) needs an Ampere or newer NVIDIA GPU; "
            f"{gpu.name} is {gpu.architecture}: use 'sdpa' or 'eager'",
        )
    warnings: list[str] = []
    precision = workload.precision.value
    _, used_precision = gpu.peak_flops(precision)
    if used_precision != precision:
        warnings.append(
            f"{gpu.name} has no {precision} matrix throughput in its datasheet; estimated at its "
            f"{used_precision} rate"
        )
    if shape.max_position_embeddings and workload.seq_len > shape.max_position_embeddings:
        warnings.append(
            f"seq_len {workload.seq_len} exceeds the model's {shape.max_position_embeddings} positions"
        )
    return used_precision, warnings


def _memory_part(
    shape: TransformerShape, workload: Workload, layout: Layout, gpu: GpuSpec, detailed: bool
) -> tuple[MemoryResult, MemoryBytes, list[str], list[str]]:
    """Memory, fit, and what would make it fit (warnings, suggestions)."""
    breakdown = memory_per_gpu(shape, workload, layout)
    memory = _memory_result(shape, workload, layout, gpu, breakdown, detailed=detailed)
    warnings: list[str] = []
    suggestions: list[str] = []
    if not memory.fits and detailed:
        warnings.append(
            f"does not fit: {memory.total_per_gpu_gb:.1f} GB > {memory.capacity_gb:.1f} GB per GPU"
        )
        suggestions = _suggestions(shape, workload, layout, gpu)
    elif memory.total_per_gpu_gb > 0.9 * memory.capacity_gb:
        warnings.append(
            f"tight: {memory.total_per_gpu_gb:.1f} GB of {memory.capacity_gb:.1f} GB; fragmentation may "
            "cause out-of-memory errors"
        )
    return memory, breakdown, warnings, suggestions


def _inference_part(
    shape: TransformerShape, workload: Workload, layout: Layout, ctx: EstimateContext, peak: float
) -> _TimePart:
    """Prefill and decode: time to first token, decode throughput, request time."""
    inf = workload.inference_config
    it = inference_time(shape, workload, layout, ctx.gpu, ctx.efficiency)
    replicas = max(1, layout.count // (layout.tensor * layout.pipeline))
    per_sequence = 1.0 / it.decode_step_s
    decode_tps = inf.batch * per_sequence * replicas
    request_s = it.prefill_s + inf.output_tokens * it.decode_step_s
    # Output tokens per second over whole requests (prefill included), as serving benchmarks
    # report throughput.
    throughput_tps = inf.batch * max(1, inf.output_tokens) * replicas / request_s
    part_assumptions: list[str] = []
    if workload.tokens is not None:
        total_s = workload.tokens / decode_tps
        part_assumptions.append(
            "total time = tokens / decode throughput (prefill amortized into batches)"
        )
    else:
        total_s = request_s
        part_assumptions.append("total time is one batch: prefill + output_tokens decode steps")
    flops_per_token = 2.0 * active_parameter_count(shape)
    return _TimePart(
        step_s=it.decode_step_s,
        total_s=total_s,
        tokens_per_s=throughput_tps,
        mfu=flops_per_token * throughput_tps / (layout.count * peak),
        flops_per_token=flops_per_token,
        total_flops=flops_per_token
        * (workload.tokens or inf.batch * (inf.prompt_tokens + inf.output_tokens)),
        steps=float(inf.output_tokens),
        breakdown_s={
            "prefill_s": it.prefill_s,
            "decode_step_s": it.decode_step_s,
            "decode_compute_s": it.decode.compute_s,
            "decode_memory_s": it.decode.memory_s,
            "decode_communication_s": it.decode.communication_s,
        },
        phase=it.decode,
        trainable=0.0,
        inference=InferenceResult(
            time_to_first_token_s=it.prefill_s,
            decode_tokens_per_second=decode_tps,
            decode_tokens_per_second_per_sequence=per_sequence,
            replicas=replicas,
        ),
        assumptions=part_assumptions,
    )


def _training_part(
    shape: TransformerShape,
    workload: Workload,
    layout: Layout,
    ctx: EstimateContext,
    peak: float,
    trainable: float,
) -> _TimePart:
    """One optimizer step, the whole run, FLOPs and MFU; the step scaled by the validation's
    leave-one-source-out factor when it has one (ctx.training_time_scale)."""
    tt = training_step_time(shape, workload, layout, ctx.gpu, ctx.efficiency)
    seq = sequence_tokens(shape, workload.seq_len)
    part_assumptions: list[str] = []
    part_warnings: list[str] = []
    step_s = tt.step_s * ctx.training_time_scale
    tokens_per_step = tt.global_batch * seq
    tokens_per_s = tokens_per_step / step_s
    total_tokens, how = _total_tokens(workload, shape)
    if how:
        part_assumptions.append(how)
    if total_tokens is None:
        part_warnings.append("no tokens or samples given: totals are for one optimizer step")
        total_tokens = float(tokens_per_step)
    steps = total_tokens / tokens_per_step
    ops = model_ops(
        shape,
        batch=1,
        seq_len=seq,
        act_bytes=activation_bytes_per_element(workload.precision),
        weight_bytes=2,
        flash=workload.fused_attention,
    )
    # Adapter training skips the frozen weights' gradient matmuls: forward + input gradients
    # = 2/3 of full training (Hu et al. 2021, LoRA, sec. 4.2).
    work = 2.0 / 3.0 if workload.is_adapter else 1.0
    flops_per_token = work * training_flops(ops, workload.activation_checkpointing.value) / seq
    per_step = tt.micro_batches
    breakdown_s = {
        "forward_s": tt.forward_per_micro_batch_s * per_step,
        "backward_s": tt.backward_per_micro_batch_s * per_step,
        "recompute_s": tt.recompute_per_micro_batch_s * per_step,
        "tensor_parallel_comm_s": tt.tensor_comm_per_micro_batch_s * per_step,
        "expert_all_to_all_s": tt.expert_comm_per_micro_batch_s * per_step,
        "data_parallel_comm_exposed_s": tt.data_comm_exposed_per_step_s,
        "pipeline_bubble_s": tt.pipeline_bubble_per_step_s,
        "optimizer_s": tt.optimizer_per_step_s,
    }
    if ctx.training_time_scale != 1.0:
        breakdown_s["calibration_s"] = step_s - tt.step_s
        part_assumptions.append(
            f"step time x {ctx.training_time_scale:.3f}: the end-to-end factor fitted on "
            "published runs (leave-one-source-out validation, catalog/error_bands.yaml)"
        )
    if workload.task is Task.qlora and "activation_checkpointing" not in workload.model_fields_set:
        part_assumptions.append(
            "QLoRA with gradient checkpointing (PEFT's prepare_model_for_kbit_training default)"
        )
    if workload.global_batch is None:
        part_assumptions.append(
            f"global_batch = micro_batch x data-parallel ranks = {tt.global_batch} (no gradient accumulation)"
        )
    return _TimePart(
        step_s=step_s,
        total_s=steps * step_s,
        tokens_per_s=tokens_per_s,
        mfu=work * training_flops(ops) / seq * tokens_per_s / (layout.count * peak),
        flops_per_token=flops_per_token,
        total_flops=flops_per_token * total_tokens,
        steps=steps,
        breakdown_s=breakdown_s,
        phase=tt.breakdown.scaled(ctx.training_time_scale),
        trainable=trainable,
        assumptions=part_assumptions,
        warnings=part_warnings,
    )


def _bottleneck(memory: MemoryResult, phase: PhaseTime) -> str:
    if not memory.fits:
        return "memory_capacity"
    parts = {
        "compute": phase.compute_s,
        "memory_bandwidth": phase.memory_s,
        "communication": phase.communication_s,
    }
    return max(parts, key=lambda k: parts[k])


def estimate(
    model: ModelDescription, workload: Workload, ctx: EstimateContext, *, detailed: bool = True
) -> Estimate:
    """Memory per GPU, fit, step and total time, cost and energy for this job on these GPUs.

    `detailed=False` skips the searches (largest micro-batch, fewest GPUs, what would make it
    fit): the recommender runs many estimates and does its own search.
    """
    if workload.task is Task.serve:
        from app.estimator.serving_estimate import estimate_serving  # imports this module

        return estimate_serving(model, workload, ctx)
    shape, gpu, eff = model.shape, ctx.gpu, ctx.efficiency
    layout = make_layout(shape, ctx.count, workload.parallelism)
    used_precision, warnings = _check_inputs(shape, workload, layout, gpu)
    warnings = list(model.warnings) + warnings
    assumptions = list(model.assumptions)
    memory, breakdown, memory_warnings, suggestions = _memory_part(
        shape, workload, layout, gpu, detailed
    )
    warnings += memory_warnings
    peak, _ = gpu.peak_flops(workload.precision.value)
    if workload.task is Task.inference:
        part = _inference_part(shape, workload, layout, ctx, peak)
    else:
        part = _training_part(shape, workload, layout, ctx, peak, breakdown.trainable_parameters)
    assumptions += part.assumptions
    warnings += part.warnings
    cost, energy = cost_and_energy(layout.count, part.total_s, gpu, ctx, warnings)
    assumptions += hardware_assumptions(gpu, eff, layout, memory, peak, used_precision, ctx)
    if workload.is_training:
        assumptions.append(
            "activations in "
            + ("fp32" if activation_bytes_per_element(workload.precision) == 4 else "16-bit")
            + (", flash attention" if workload.fused_attention else ", unfused attention")
            + f", checkpointing {workload.activation_checkpointing.value}, "
            + (f"dropout {workload.dropout:g}" if workload.dropout else "no dropout")
        )
    return Estimate(
        model=model_counts(model, part.trainable),
        hardware=HardwareEcho(
            gpu=gpu.id,
            name=gpu.name,
            count=layout.count,
            layout={
                "data": layout.data,
                "tensor": layout.tensor,
                "pipeline": layout.pipeline,
                "zero_stage": layout.zero_stage,
                "expert": layout.expert,
            },
        ),
        memory=memory,
        compute=ComputeResult(flops_per_token=part.flops_per_token, total_flops=part.total_flops),
        time=TimeResult(
            step_seconds=part.step_s,
            total_seconds=part.total_s,
            tokens_per_second=part.tokens_per_s,
            per_gpu_tokens_per_second=part.tokens_per_s / layout.count,
            mfu=part.mfu,
            model_tflops_per_gpu=part.mfu * peak / 1e12,
            efficiency_source=eff.source,
            steps=part.steps,
            breakdown_seconds=part.breakdown_s,
        ),
        inference=part.inference,
        cost=cost,
        energy=energy,
        bottleneck=_bottleneck(memory, part.phase),
        error_band=ctx.error_band,
        assumptions=assumptions,
        warnings=warnings,
        suggestions=suggestions,
    )
