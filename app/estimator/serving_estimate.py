"""The estimate for task "serve": the serving simulation wrapped in the API's Estimate.

`estimate.estimate` hands serve workloads here. Memory is the engine's budget (weights, the
profiled activation peak, its reserve and the KV cache it preallocates); time, cost and energy
come from the simulated request stream; the `serving` block carries latency percentiles,
capacity within the targets, GPUs for the user's rate and price per million output tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.estimator.estimate import (
    EstimateContext,
    EstimateInputError,
    ModelDescription,
    cost_and_energy,
    hardware_assumptions,
    make_layout,
    model_counts,
)
from app.estimator.model import Architecture, active_parameter_count
from app.estimator.result import (
    ComputeResult,
    Estimate,
    HardwareEcho,
    InferenceResult,
    MemoryBytes,
    MemoryResult,
    Percentiles,
    ServingPoint,
    ServingResult,
    TimeResult,
)
from app.estimator.serving import (
    ENGINES,
    MAX_SIMULATED_TOKENS,
    Capacity,
    IterationModel,
    KvCapacity,
    ServingSetup,
    SimulationResult,
    Targets,
    TrafficSpec,
    build_iteration_model,
    curve,
    kv_capacity,
    max_request_rate,
    simulate,
    static_batch_estimate,
)
from app.estimator.units import GB
from app.estimator.workload import ServingConfig, Workload

# Tensor-parallel degrees tried when a replica of the requested degree cannot meet the
# targets at any rate (powers of two within one 8-GPU node, as serving engines deploy).
TP_DEGREES = (1, 2, 4, 8)


@dataclass(frozen=True)
class Prepared:
    """A serving setup with its iteration model and KV capacity, built once."""

    setup: ServingSetup
    model: IterationModel
    capacity: KvCapacity


def prepare(setup: ServingSetup) -> Prepared:
    engine = ENGINES[setup.engine]
    budget = engine.max_batched_tokens(setup.gpu.memory_gib)
    return Prepared(
        setup, build_iteration_model(setup, budget + engine.max_num_seqs), kv_capacity(setup)
    )


def traffic_for(cfg: ServingConfig, replicas: int) -> TrafficSpec:
    """One replica's share of the stream: the rate (and users) split evenly across replicas."""
    rate = cfg.request_rate / replicas if cfg.request_rate else None
    users = math.ceil(cfg.concurrency / replicas) if cfg.concurrency else None
    if rate is None and users is None:
        users = 1
    return TrafficSpec(
        prompt_tokens=cfg.prompt_tokens,
        output_tokens=cfg.output_tokens,
        distribution=cfg.distribution,
        request_rate=rate,
        concurrency=users,
        num_requests=cfg.num_requests,
        seed=cfg.seed,
    )


def _p(values: dict[str, float]) -> Percentiles:
    return Percentiles(p50=values["p50"], p90=values["p90"], p99=values["p99"])


def _bottleneck(sim: SimulationResult, prepared: Prepared) -> str:
    if sim.preemptions or sim.kv_limited_share > 0.1 or sim.dropped:
        return "kv_capacity"
    if sim.queue_s["p90"] > 0.05 and sim.queue_s["p90"] > 0.5 * sim.ttft_s["p90"]:
        return "queueing"
    return "compute" if sim.compute_bound_share > 0.5 else "memory_bandwidth"


def gpus_for_rate(rate: float | None, capacity: Capacity, tensor_parallel: int) -> int | None:
    """Replicas x TP degree for `rate` requests/s at the replica's capacity within targets."""
    if rate is None:
        return None
    if capacity.max_request_rate <= 0:
        return None
    return tensor_parallel * math.ceil(rate / capacity.max_request_rate - 1e-9)


def estimate_serving(model: ModelDescription, workload: Workload, ctx: EstimateContext) -> Estimate:
    """Simulate the request stream on `ctx.count` GPUs (replicas of a TP group)."""
    shape, gpu, eff = model.shape, ctx.gpu, ctx.efficiency
    cfg = workload.serving_config
    if shape.architecture is not Architecture.decoder:
        raise EstimateInputError(
            "workload.task", "serve simulates decoder-only language models (generation)"
        )
    if workload.parallelism.pipeline != 1:
        raise EstimateInputError(
            "workload.parallelism.pipeline", "serve supports tensor parallelism only (pipeline 1)"
        )
    layout = make_layout(shape, ctx.count, workload.parallelism)
    t = layout.tensor
    replicas = cfg.replicas or max(1, ctx.count // t)
    if replicas * t != ctx.count:
        raise EstimateInputError(
            "workload.serving.replicas",
            f"replicas x tensor ({replicas} x {t}) must equal hardware.count ({ctx.count})",
        )
    setup = ServingSetup(
        shape=shape,
        gpu=gpu,
        efficiency=eff,
        tensor_parallel=t,
        engine=cfg.engine,
        weight_precision=cfg.weight_precision,
        kv_cache_precision=cfg.kv_cache_precision,
    )
    prepared = prepare(setup)
    cap = prepared.capacity
    engine = ENGINES[cfg.engine]
    warnings = list(model.warnings)
    assumptions = list(model.assumptions)
    notes: list[str] = []
    targets = Targets(cfg.ttft_p90_s, cfg.tpot_p99_s)
    traffic = traffic_for(cfg, replicas)
    one_request_tokens = cfg.prompt_tokens + cfg.output_tokens
    fits = cap.blocks * cap.block_size_tokens >= one_request_tokens
    if not fits:
        warnings.append(
            f"does not fit: after {cap.weights_bytes / GB:.1f} GB of weights per GPU the KV cache "
            f"holds {cap.tokens:,} tokens, less than one request ({one_request_tokens:,})"
        )
    sim = simulate(setup, traffic, model=prepared.model, capacity=cap)
    if sim.requests < traffic.num_requests:
        notes.append(
            f"simulated {sim.requests} of {traffic.num_requests} requests per replica: "
            f"{MAX_SIMULATED_TOKENS:,} prompt + output tokens is the simulation's work limit"
        )
    capacity = (
        max_request_rate(setup, traffic, targets, prepared.model, cap)
        if fits
        else Capacity(0.0, 0.0, 0.0, "the model does not fit")
    )
    if capacity.reason:
        notes.append(f"no rate meets the targets on {t} GPU(s) per replica: {capacity.reason}")
    served_rate = sim.completed / sim.duration_s * replicas if sim.completed else 0.0
    user_rate = cfg.request_rate if cfg.request_rate else served_rate
    gpus = gpus_for_rate(user_rate, capacity, t)
    if gpus is None and fits:
        # fewest GPUs that could: larger tensor-parallel groups
        for degree in TP_DEGREES:
            if degree <= t or shape.heads % degree or degree > 8:
                continue
            bigger = prepare(
                ServingSetup(
                    shape,
                    gpu,
                    eff,
                    degree,
                    cfg.engine,
                    cfg.weight_precision,
                    cfg.kv_cache_precision,
                )
            )
            if bigger.capacity.tokens < one_request_tokens:
                continue
            alt = max_request_rate(
                bigger.setup, traffic_for(cfg, 1), targets, bigger.model, bigger.capacity
            )
            found = gpus_for_rate(user_rate, alt, degree)
            if found is not None:
                gpus = found
                notes.append(
                    f"with tensor parallelism {degree}, {found} GPU(s) meet the targets at "
                    f"{user_rate:.3g} requests/s"
                )
                break
        if gpus is None:
            notes.append(
                "no tensor-parallel degree up to 8 meets the targets at any rate: relax "
                "ttft_p90_s / tpot_p99_s, shorten prompts, or use a faster GPU"
            )
    tokens_per_s = sim.output_tokens_per_second * replicas
    price = ctx.pricing
    usd_per_hour = price.usd_per_gpu_hour * ctx.count if price else None
    usd_per_million = (
        usd_per_hour / (tokens_per_s * 3600) * 1e6 if usd_per_hour and tokens_per_s else None
    )
    kwh_per_million = (
        ctx.count * gpu.tdp_w / 1000 / (tokens_per_s * 3600) * 1e6 if tokens_per_s else 0.0
    )
    meets = targets.met(sim)
    if sim.dropped:
        warnings.append(
            f"{sim.dropped} of {sim.requests} simulated requests dropped: "
            + "; ".join(sim.dropped_reasons)
        )
    if cfg.request_rate and not meets:
        warnings.append(
            f"at {cfg.request_rate:g} requests/s the targets are missed (p90 TTFT "
            f"{sim.ttft_s['p90']:.3g} s, p99 TPOT {sim.tpot_s['p99']:.3g} s)"
        )
    points: list[ServingPoint] = []
    if cfg.curve and fits:
        for run, c in zip(
            curve(setup, traffic, prepared.model, cap), (2**k for k in range(20)), strict=False
        ):
            points.append(
                ServingPoint(
                    concurrency=c,
                    output_tokens_per_second_per_gpu=run.output_tokens_per_second / t,
                    output_tokens_per_second_per_user=run.output_tokens_per_second_per_user,
                    ttft_p90_s=run.ttft_s["p90"],
                    tpot_p99_s=run.tpot_s["p99"],
                )
            )
    static_ttft, static_tpot, static_tps = static_batch_estimate(
        setup,
        prepared.model,
        cfg.prompt_tokens,
        cfg.output_tokens,
        max(1, min(engine.max_num_seqs, round(sim.mean_running) or 1)),
    )
    bottleneck = _bottleneck(sim, prepared) if fits else "kv_capacity"
    serving = ServingResult(
        ttft_s=_p(sim.ttft_s),
        tpot_s=_p(sim.tpot_s),
        e2e_s=_p(sim.e2e_s),
        queue_s=_p(sim.queue_s),
        output_tokens_per_second=tokens_per_s,
        output_tokens_per_second_per_user=sim.output_tokens_per_second_per_user,
        request_rate=served_rate,
        max_request_rate_within_targets=capacity.max_request_rate * replicas,
        gpus_for_request_rate=gpus,
        usd_per_million_output_tokens=usd_per_million,
        usd_per_hour=usd_per_hour,
        kwh_per_million_output_tokens=kwh_per_million,
        bottleneck=bottleneck,
        meets_targets=meets,
        targets={"ttft_p90_s": cfg.ttft_p90_s, "tpot_p99_s": cfg.tpot_p99_s},
        engine=cfg.engine,
        tensor_parallel=t,
        replicas=replicas,
        kv_cache_blocks=cap.blocks,
        kv_cache_tokens=cap.tokens,
        block_size_tokens=cap.block_size_tokens,
        max_kv_blocks_used=sim.max_blocks_used,
        requests_simulated=sim.requests,
        completed=sim.completed,
        dropped=sim.dropped,
        preemptions=sim.preemptions,
        mean_running_requests=sim.mean_running,
        saturation_output_tokens_per_second=capacity.saturation_output_tokens_per_second * replicas,
        static_batch={
            "ttft_s": static_ttft,
            "tpot_s": static_tpot,
            "output_tokens_per_second": static_tps * replicas,
        },
        curve=points,
        notes=notes,
    )
    assumptions += [
        f"engine {cfg.engine}: blocks of {cap.block_size_tokens} tokens, "
        f"{engine.max_batched_tokens(gpu.memory_gib)} tokens per iteration (chunked prefill), "
        f"at most {engine.max_num_seqs} sequences, memory fraction {engine.memory_fraction:g}, "
        f"CUDA graphs up to batch {engine.cuda_graph_max_batch}, "
        f"{engine.step_overhead_s * 1e3:.1f} ms CPU per iteration ({engine.source})",
        f"weights {cfg.weight_precision}, KV cache {cfg.kv_cache_precision}: "
        f"{cap.kv_bytes_per_token / 1e3:.1f} kB per token per GPU, {cap.blocks:,} blocks "
        f"({cap.tokens:,} tokens) after {cap.weights_bytes / GB:.1f} GB weights, "
        f"{cap.activation_bytes / GB:.1f} GB activations, {cap.reserved_bytes / GB:.1f} GB reserved",
        f"load: {cfg.num_requests} requests per replica, "
        + (
            f"Poisson arrivals at {cfg.request_rate:g}/s in total"
            if cfg.request_rate
            else f"{cfg.concurrency or 1} closed-loop users"
        )
        + f", {cfg.distribution} lengths around {cfg.prompt_tokens} in / {cfg.output_tokens} out, "
        f"seed {cfg.seed}, split evenly over {replicas} replica(s)",
        "price per million output tokens = GPUs x price per GPU-hour / output tokens per hour "
        "at the simulated load",
    ]
    if cfg.weight_precision == "fp8" and not gpu.peak_tflops.get("fp8"):
        notes.append(
            f"{gpu.name} has no fp8 math: fp8 weights are dequantized to bf16 (weight-only)"
        )
    cost, energy = cost_and_energy(ctx.count, sim.duration_s, gpu, ctx, warnings)
    capacity_bytes = gpu.memory_capacity_bytes
    total = cap.weights_bytes + cap.activation_bytes + cap.kv_bytes + cap.reserved_bytes
    memory = MemoryResult(
        per_gpu_bytes=MemoryBytes(
            weights=cap.weights_bytes,
            gradients=0.0,
            optimizer_states=0.0,
            activations=cap.activation_bytes,
            kv_cache=cap.kv_bytes,
            overhead=cap.reserved_bytes,
        ),
        total_per_gpu_gb=total / GB,
        capacity_gb=capacity_bytes / GB,
        fits=fits,
        max_micro_batch=engine.max_num_seqs,
        min_gpus_to_fit=None,
    )
    flops_per_token = 2.0 * active_parameter_count(shape)
    peak, used_precision = gpu.peak_flops("fp8" if cfg.weight_precision == "fp8" else "bf16")
    mfu = flops_per_token * tokens_per_s / (ctx.count * peak)
    assumptions += hardware_assumptions(gpu, eff, layout, memory, peak, used_precision, ctx)
    estimate_bottleneck = {
        "kv_capacity": "memory_capacity",
        "memory_bandwidth": "memory_bandwidth",
        "compute": "compute",
        "queueing": "compute" if sim.compute_bound_share > 0.5 else "memory_bandwidth",
    }[bottleneck]
    return Estimate(
        model=model_counts(model, 0.0),
        hardware=HardwareEcho(
            gpu=gpu.id,
            name=gpu.name,
            count=ctx.count,
            layout={"data": replicas, "tensor": t, "pipeline": 1, "zero_stage": 0},
        ),
        memory=memory,
        compute=ComputeResult(
            flops_per_token=flops_per_token,
            total_flops=flops_per_token * sim.completed * (cfg.prompt_tokens + cfg.output_tokens),
        ),
        time=TimeResult(
            step_seconds=sim.tpot_s["p50"],
            total_seconds=sim.duration_s,
            tokens_per_second=tokens_per_s,
            per_gpu_tokens_per_second=tokens_per_s / ctx.count,
            mfu=mfu,
            model_tflops_per_gpu=mfu * peak / 1e12,
            efficiency_source=eff.source,
            steps=float(sim.iterations),
            breakdown_seconds={
                "ttft_p50_s": sim.ttft_s["p50"],
                "tpot_p50_s": sim.tpot_s["p50"],
                "queue_p50_s": sim.queue_s["p50"],
            },
        ),
        inference=InferenceResult(
            time_to_first_token_s=sim.ttft_s["p50"],
            decode_tokens_per_second=tokens_per_s,
            decode_tokens_per_second_per_sequence=sim.output_tokens_per_second_per_user,
            replicas=replicas,
        ),
        serving=serving,
        cost=cost,
        energy=energy,
        bottleneck=estimate_bottleneck,
        error_band=ctx.error_band,
        assumptions=assumptions,
        warnings=warnings,
        suggestions=[],
    )
