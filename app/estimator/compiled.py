"""Models described by their compiled costs rather than transformer dimensions (ResNet-50, the
LSTM language model): per-sample FLOPs, bytes and activation memory measured by XLA's cost and
memory analysis of a JAX implementation (scripts/compile_model_costs.py -> catalog/model_costs.yaml).

Time is a roofline over the whole step (max of FLOPs at the achievable matmul rate and bytes at
the achievable bandwidth), plus data-parallel gradient synchronization and the optimizer step;
memory is weights, gradients and optimizer states from the parameter count, plus activations
per sample scaled from the fp32 compile to the training precision.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.estimator.collectives import all_reduce_s
from app.estimator.estimate import (
    EstimateContext,
    EstimateInputError,
    cost_and_energy,
    hardware_assumptions,
    memory_bytes,
)
from app.estimator.memory import (
    Layout,
    MemoryBreakdown,
    activation_bytes_per_element,
    optimizer_bytes_per_param,
    overhead_bytes,
    weight_bytes_per_param,
)
from app.estimator.result import (
    ComputeResult,
    Estimate,
    HardwareEcho,
    MemoryResult,
    ModelCounts,
    TimeResult,
)
from app.estimator.units import GB
from app.estimator.workload import Workload


@dataclass(frozen=True)
class CompiledModel:
    """Per-sample costs of one model, as XLA counted them at fp32."""

    name: str
    parameters: float
    tokens_per_sample: int
    forward_flops_per_sample: float
    training_flops_per_sample: float
    training_bytes_per_sample: float
    forward_bytes_per_sample: float
    activation_bytes_per_sample: float
    source: str

    def scaled_bytes(self, per_sample_bytes: float, activation_bytes: float) -> float:
        """fp32-compiled bytes at another activation width (2 bytes for 16-bit training)."""
        return per_sample_bytes * activation_bytes / 4.0


def estimate_compiled(
    model: CompiledModel, workload: Workload, ctx: EstimateContext, *, detailed: bool = True
) -> Estimate:
    """Memory, time, cost and energy for a compiled-cost model (data parallel only)."""
    gpu, eff = ctx.gpu, ctx.efficiency
    parallelism = workload.parallelism
    if parallelism.tensor != 1 or parallelism.pipeline != 1:
        raise EstimateInputError(
            "workload.parallelism",
            f"{model.name} is estimated data-parallel only (tensor = pipeline = 1)",
        )
    layout = Layout(count=ctx.count, tensor=1, pipeline=1, zero_stage=parallelism.zero_stage)
    a = activation_bytes_per_element(workload.precision)
    precision = workload.precision.value
    peak, used_precision = gpu.peak_flops(precision)
    warnings: list[str] = []
    if used_precision != precision:
        warnings.append(
            f"{gpu.name} has no {precision} matrix throughput; estimated at its {used_precision} rate"
        )
    b = workload.micro_batch if workload.is_training else workload.inference_config.batch
    breakdown = compiled_memory(model, workload, layout, b)
    capacity = gpu.memory_capacity_bytes

    def total_for(batch: int) -> float:
        return compiled_memory(model, workload, layout, batch).total

    max_batch = -1
    if detailed:
        max_batch = 0
        while max_batch < 1_000_000 and total_for(max(1, max_batch * 2)) <= capacity:
            max_batch = max(1, max_batch * 2)
    memory = MemoryResult(
        per_gpu_bytes=memory_bytes(breakdown),
        total_per_gpu_gb=breakdown.total / GB,
        capacity_gb=capacity / GB,
        fits=breakdown.total <= capacity,
        max_micro_batch=max_batch,
        min_gpus_to_fit=None,
    )
    if not memory.fits:
        warnings.append(
            f"does not fit: {memory.total_per_gpu_gb:.1f} GB > {memory.capacity_gb:.1f} GB per GPU"
        )

    rate = peak * eff.matmul_fraction
    bandwidth = gpu.bandwidth_bytes_s * eff.bandwidth_fraction
    if workload.is_training:
        flops = model.training_flops_per_sample * b
        moved = model.scaled_bytes(model.training_bytes_per_sample, a) * b
    else:
        flops = model.forward_flops_per_sample * b
        moved = model.scaled_bytes(model.forward_bytes_per_sample, a) * b
    compute_s, memory_s = flops / rate, moved / bandwidth
    step_s = max(compute_s, memory_s)
    comm_s = 0.0
    if workload.is_training and layout.data > 1:
        grad_bytes = model.parameters * (4.0 if not workload.mixed_precision else 2.0)
        fabric = gpu.fabric(layout.count, eff.allreduce_fraction)
        comm = all_reduce_s(grad_bytes, layout.data, fabric.gpus_per_node, fabric)
        comm_s = max(0.0, comm - step_s / 2)  # overlapped with the backward (~ 2/3 of the step)
    optimizer_s = model.parameters * 28 / bandwidth if workload.is_training else 0.0
    step_s += comm_s + optimizer_s
    samples_per_s = b * layout.count / step_s
    tokens_per_s = samples_per_s * model.tokens_per_sample
    samples = (workload.samples or 0.0) * (workload.epochs or 1.0)
    assumptions = [
        f"model: {model.name}, {model.parameters:,.0f} parameters; per-sample costs from {model.source}",
        "one step = the whole compiled graph as a roofline: max(FLOPs at the achievable matmul rate, "
        "bytes at the achievable bandwidth); bytes and activations scaled from the fp32 compile",
    ]
    if samples:
        total_s = samples / samples_per_s
        assumptions.append(f"{samples:,.0f} samples = samples x epochs")
    elif workload.tokens:
        total_s = workload.tokens / tokens_per_s
    else:
        total_s = step_s
        warnings.append("no samples x epochs or tokens given: totals are for one step")
    cost, energy = cost_and_energy(layout.count, total_s, gpu, ctx, warnings)
    assumptions += hardware_assumptions(gpu, eff, layout, memory, peak, used_precision, ctx)
    flops_per_sample = (
        model.training_flops_per_sample if workload.is_training else model.forward_flops_per_sample
    )
    parts = {"compute": compute_s, "memory_bandwidth": memory_s, "communication": comm_s}
    return Estimate(
        model=ModelCounts(
            parameters=model.parameters,
            trainable_parameters=model.parameters if workload.is_training else 0.0,
            active_parameters=model.parameters,
        ),
        hardware=HardwareEcho(
            gpu=gpu.id,
            name=gpu.name,
            count=layout.count,
            layout={
                "data": layout.data,
                "tensor": 1,
                "pipeline": 1,
                "zero_stage": layout.zero_stage,
            },
        ),
        memory=memory,
        compute=ComputeResult(
            flops_per_token=flops_per_sample / model.tokens_per_sample,
            total_flops=flops_per_sample
            * samples_per_s
            * total_s
            / max(1, layout.count)
            * layout.count,
        ),
        time=TimeResult(
            step_seconds=step_s,
            total_seconds=total_s,
            tokens_per_second=tokens_per_s,
            per_gpu_tokens_per_second=tokens_per_s / layout.count,
            mfu=flops_per_sample * samples_per_s / (layout.count * peak),
            model_tflops_per_gpu=flops_per_sample * samples_per_s / layout.count / 1e12,
            efficiency_source=eff.source,
            steps=total_s / step_s,
            breakdown_seconds={
                "compute_s": compute_s,
                "memory_s": memory_s,
                "communication_exposed_s": comm_s,
                "optimizer_s": optimizer_s,
            },
        ),
        inference=None,
        cost=cost,
        energy=energy,
        bottleneck="memory_capacity" if not memory.fits else max(parts, key=lambda k: parts[k]),
        error_band=ctx.error_band,
        assumptions=assumptions,
        warnings=warnings,
    )


def compiled_memory(
    model: CompiledModel, workload: Workload, layout: Layout, batch: int
) -> MemoryBreakdown:
    """Weights, gradients and optimizer states from the parameter count (ZeRO-sharded over the
    data-parallel ranks), activations per sample from XLA's buffer assignment."""
    a = activation_bytes_per_element(workload.precision)
    p = model.parameters
    w_bytes = weight_bytes_per_param(workload)
    weights = p * w_bytes
    gradients = p * w_bytes if workload.is_training else 0.0
    states = p * optimizer_bytes_per_param(workload) if workload.is_training else 0.0
    if layout.zero_stage >= 1:
        states /= layout.data
    if layout.zero_stage >= 2:
        gradients /= layout.data
    if layout.zero_stage >= 3:
        weights /= layout.data
    activations = model.scaled_bytes(model.activation_bytes_per_sample, a) * batch
    tensors = weights + gradients + states + activations
    return MemoryBreakdown(
        weights=weights,
        gradients=gradients,
        optimizer_states=states,
        activations=activations,
        kv_cache=0.0,
        overhead=overhead_bytes(tensors, layout.count),
        trainable_parameters=p if workload.is_training else 0.0,
    )
