"""Estimate use case: resolve the model, the GPU, its efficiency and price, then call the
estimator."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.errors import InvalidInputError, NotFoundError
from app.estimator.compiled import CompiledModel, estimate_compiled
from app.estimator.cost import Pricing, amortized_price
from app.estimator.estimate import EstimateContext, EstimateInputError, ModelDescription, estimate
from app.estimator.hardware import GpuSpec
from app.estimator.hf_config import HfConfigError, shape_from_hf_config
from app.estimator.model import (
    ASSUMED_ASPECT_RATIO,
    parameter_count,
    shape_for_parameter_count,
    shape_from_preset_architecture,
)
from app.estimator.result import ErrorBand, Estimate
from app.estimator.workload import Task, Workload
from app.metrics import ESTIMATE_ERRORS
from app.schemas.catalog import CatalogGpu, CatalogPrice, PriceKind
from app.schemas.estimate import EstimateRequest, HardwareInput, ModelInput
from app.services.catalog import LoadedCatalog
from app.services.efficiency import MeasuredGpu, efficiency_for, measured_efficiencies
from app.services.market import apply_acquisition

TRANSFORMER_KINDS = {"decoder", "encoder", "encoder-decoder", "vision-transformer"}


def _invalid(field: str, message: str) -> InvalidInputError:
    return InvalidInputError(message, fields=(field,))


ResolvedModel = ModelDescription | CompiledModel


def _compiled(preset_id: str, name: str, catalog: LoadedCatalog) -> CompiledModel | None:
    costs = catalog.model_costs.get(preset_id)
    if costs is None:
        return None
    per = costs.per_sample
    return CompiledModel(
        name=name,
        parameters=costs.parameters,
        tokens_per_sample=costs.tokens_per_sample,
        forward_flops_per_sample=per["forward_flops"],
        training_flops_per_sample=per["training_flops"],
        training_bytes_per_sample=per["training_bytes_accessed"],
        forward_bytes_per_sample=per["forward_bytes_accessed"],
        activation_bytes_per_sample=per["activation_bytes"],
        source="XLA cost/memory analysis of its JAX implementation (catalog/model_costs.yaml)",
    )


def resolve_model(
    model: ModelInput, catalog: LoadedCatalog, workload: Workload | None = None
) -> ResolvedModel:
    """The model from whichever description was given, with what was assumed: transformer
    dimensions, or (CNN and RNN presets) compiled per-sample costs. Given the workload, its
    adapter settings are checked against the model too (check_adapter)."""
    resolved = _resolve_model(model, catalog)
    if workload is not None:
        check_adapter(resolved, workload)
    return resolved


def check_adapter(model: ResolvedModel, workload: Workload) -> None:
    """A LoRA rank above the hidden size is not low-rank: the adapter would be larger than the
    layer it adapts (Hu et al. 2021, "LoRA", arXiv:2106.09685, sec. 4: r << min(d, k))."""
    if not workload.is_adapter or isinstance(model, CompiledModel):
        return
    rank = workload.lora_config.rank
    if rank > model.shape.hidden_size:
        raise _invalid(
            "workload.lora.rank",
            f"workload.lora.rank ({rank}) must not exceed the model's hidden size "
            f"({model.shape.hidden_size})",
        )


def _resolve_model(model: ModelInput, catalog: LoadedCatalog) -> ResolvedModel:
    if model.preset is not None:
        preset = catalog.model(model.preset)
        if preset is None:
            raise _invalid(
                "model.preset",
                f"unknown preset '{model.preset}'; GET /api/v1/models lists them",
            )
        if preset.kind not in TRANSFORMER_KINDS:
            compiled = _compiled(preset.id, preset.name, catalog)
            if compiled is None:
                raise _invalid(
                    "model.preset",
                    f"preset '{preset.id}' is a {preset.kind} without compiled costs "
                    "(regenerate catalog/model_costs.yaml with scripts/compile_model_costs.py)",
                )
            return compiled
        shape = shape_from_preset_architecture(preset.kind, preset.architecture)
        computed = parameter_count(shape)
        return ModelDescription(
            label=preset.name,
            shape=shape,
            assumptions=(
                f"model: preset {preset.id}, {computed:,} parameters (published {preset.published_parameters:,.0f})",
            ),
        )
    if model.transformer is not None:
        return ModelDescription(label="transformer", shape=model.transformer)
    if model.hf_config is not None:
        try:
            shape = shape_from_hf_config(model.hf_config)
        except HfConfigError as exc:
            raise InvalidInputError(
                exc.message,
                fields=[f"model.hf_config.{f}" for f in exc.fields] or ["model.hf_config"],
            ) from exc
        except ValueError as exc:  # the shape itself is inconsistent (e.g. heads vs hidden)
            raise _invalid("model.hf_config", str(exc)) from exc
        return ModelDescription(
            label=str(model.hf_config.get("model_type")),
            shape=shape,
            assumptions=(
                f"model: from config.json (model_type {model.hf_config.get('model_type')})",
            ),
        )
    assert model.parameters is not None
    shape = shape_for_parameter_count(model.parameters)
    return ModelDescription(
        label=f"{model.parameters:.3g} parameters",
        shape=shape,
        shape_assumed=True,
        warnings=(
            f"shape assumed from the parameter count: a Llama-style decoder with {shape.layers} layers, "
            f"hidden {shape.hidden_size}, SwiGLU MLP {shape.ffn}, 32k vocabulary "
            f"(hidden/layers = {ASSUMED_ASPECT_RATIO}), {parameter_count(shape):,} parameters; "
            "activation memory and attention cost depend on the real shape",
        ),
    )


def check_positions(model: ResolvedModel, workload: Workload) -> None:
    """A model with learned position embeddings has no position beyond its table, so a longer
    sequence is impossible: a 422 naming seq_len and the model. RoPE and relative-position
    models only get the estimator's warning (context extension is common practice).

    The web form applies it; the API keeps the estimator's warning, because its default
    seq_len (2048) exceeds GPT-2's and BERT's tables and scripts rely on that default."""
    if isinstance(model, CompiledModel):
        return
    shape = model.shape
    if (
        shape.position_embedding == "learned"
        and shape.max_position_embeddings
        and workload.seq_len > shape.max_position_embeddings
    ):
        raise InvalidInputError(
            f"seq_len ({workload.seq_len}) is longer than the model's "
            f"{shape.max_position_embeddings} learned positions; use at most "
            f"{shape.max_position_embeddings} or another model",
            fields=("workload.seq_len", "model"),
        )


def gpu_spec(gpu: CatalogGpu, hardware: HardwareInput | None = None) -> GpuSpec:
    """Estimator-facing figures of a catalog GPU (plus the request's overrides)."""
    link = gpu.interconnect
    return GpuSpec(
        id=gpu.id,
        name=gpu.name,
        vendor=gpu.vendor.value,
        architecture=gpu.architecture,
        segment=gpu.segment.value,
        memory_gib=gpu.memory_gb,
        memory_bandwidth_gb_s=gpu.memory_bandwidth_gb_s,
        peak_tflops=gpu.peak_tflops.model_dump(),
        tdp_w=gpu.tdp_w or 0.0,
        platform=gpu.ecosystem.platform.value,
        interconnect_type=link.type if link else None,
        interconnect_bandwidth_gb_s=link.bandwidth_gb_s if link else None,
        pcie_gen=gpu.pcie_gen,
        scale_out_gb_s=hardware.inter_node_gb_s if hardware else None,
        gpus_per_node=hardware.gpus_per_node if hardware else None,
        network_gbps_per_gpu=hardware.network_gbps_per_gpu if hardware else None,
        peer_to_peer=getattr(gpu, "peer_to_peer", None),
        power_limit_w=hardware.power_limit_w if hardware else None,
    )


def check_hardware(gpu: CatalogGpu, hardware: HardwareInput) -> None:
    """Hardware inputs that only make sense against this GPU and count (422 naming the field)."""
    node = hardware.gpus_per_node
    if node is not None and hardware.count > node and hardware.count % node:
        raise _invalid(
            "hardware.gpus_per_node",
            f"gpus_per_node ({node}) must divide hardware.count ({hardware.count}): whole nodes only",
        )
    if hardware.power_limit_w is not None and gpu.tdp_w:
        low = gpu.tdp_w / 3
        if not low <= hardware.power_limit_w <= gpu.tdp_w:
            raise _invalid(
                "hardware.power_limit_w",
                f"power_limit_w must be between {low:.0f} and {gpu.tdp_w:.0f} W for {gpu.name} "
                f"(a third of its board power to its board power), got {hardware.power_limit_w:g}",
            )


def _price_label(price: CatalogPrice) -> str:
    where = " ".join(x for x in (price.provider, price.instance, price.region) if x)
    when = "date unknown" if price.observed == "unknown" else f"observed {price.observed}"
    return f"{where}, {price.kind.value.replace('_', '-')}, {when} ({price.source.title})"


def pricing_for(
    gpu: CatalogGpu, catalog: LoadedCatalog, override: float | None = None
) -> Pricing | None:
    """The price used for cost: the user's, else the lowest dated on-demand cloud price, else
    an undated one, else a purchase (or launch) price amortized over three years."""
    if override is not None:
        return Pricing(override, "price given in the request")
    prices = catalog.prices_for(gpu.id)
    cloud = [p for p in prices if p.kind is PriceKind.cloud_on_demand and p.usd_per_gpu_hour]
    dated = [p for p in cloud if p.observed != "unknown"]
    for pool in (dated, cloud):
        if pool:
            best = min(pool, key=lambda p: p.usd_per_gpu_hour or 0.0)
            return Pricing(best.usd_per_gpu_hour or 0.0, _price_label(best))
    purchases = [p for p in prices if p.kind is PriceKind.purchase and p.purchase_usd]
    if purchases:
        best = min(purchases, key=lambda p: p.purchase_usd or 0.0)
        return amortized_price(best.purchase_usd or 0.0, _price_label(best))
    if gpu.launch_price_usd:
        return amortized_price(gpu.launch_price_usd, f"launch price of {gpu.name}")
    return None


DEFAULT_ERROR_BAND = ErrorBand(
    time_pct=15,
    memory_pct=10,
    basis="default until `gpu-advisor validate --write-error-band` has been run",
)


def training_time_scale(catalog: LoadedCatalog) -> float:
    """Step-time factor = 1 / the throughput scale the leave-one-source-out validation fitted
    for training throughput (1.0 where it did not lower the out-of-sample error)."""
    band = catalog.error_band
    record = band.families.get("training_throughput") if band else None
    return 1.0 / record.scale if record else 1.0


def estimate_family(workload: Workload) -> str:
    """The validation family whose error an estimate of this workload quotes."""
    if workload.task is Task.inference:
        return "inference"
    if workload.tokens is not None or workload.samples is not None:
        return "full_run"
    return "training_throughput"


def error_band_for(catalog: LoadedCatalog, family: str = "training_throughput") -> ErrorBand:
    """The validation-backed band of this family (catalog/error_bands.yaml: leave-one-source-out
    error), falling back to training throughput for a family without rows, else the default."""
    band = catalog.error_band
    if band is None:
        return DEFAULT_ERROR_BAND
    memory = band.families.get("memory")
    chosen = family if family in band.families else "training_throughput"
    record = band.families.get(chosen)
    time_pct = record.p75_pct if record and record.p75_pct is not None else band.time_pct
    return ErrorBand(
        time_pct=time_pct,
        memory_pct=memory.p75_pct if memory and memory.p75_pct is not None else band.memory_pct,
        basis=f"{chosen}: {band.basis}" if record else band.basis,
        family=chosen if record else None,
    )


def _probe_for(
    session: Session | None, gpu_id: str, catalog: LoadedCatalog
) -> tuple[MeasuredGpu | None, str | None]:
    """Measured efficiency for this GPU model if the database has it; the estimate still works
    from the loaded catalog when the database is unreachable (with a warning)."""
    if session is None:
        return None, None
    try:
        return measured_efficiencies(session, [gpu_id]).get(gpu_id), None
    except SQLAlchemyError:
        session.rollback()
        return None, "database unreachable: probe measurements were not consulted"


def run_estimate(
    request: EstimateRequest,
    catalog: LoadedCatalog,
    session: Session | None = None,
    error_band: ErrorBand | None = None,
) -> Estimate:
    """Estimate one model + workload on one hardware choice (probe measurements of the GPU
    model are used when the database holds some)."""
    gpu = catalog.gpu(request.hardware.gpu)
    if gpu is None:
        raise NotFoundError(
            f"no GPU with id '{request.hardware.gpu}'",
            detail={"loc": ["body", "hardware", "gpu"], "hint": "GET /api/v1/gpus lists the ids"},
        )
    model = resolve_model(request.model, catalog, request.workload)
    probe, problem = _probe_for(session, gpu.id, catalog)
    result = estimate_with(
        model,
        request.workload,
        gpu,
        request.hardware,
        catalog,
        probe,
        error_band,
        request.grid_kg_co2_per_kwh,
    )
    if problem:
        result.warnings.append(problem)
    if request.hardware.price_per_gpu_hour_usd is None:
        apply_acquisition(result, gpu, request.hardware.count, request, catalog)
    return result


def estimate_with(
    model: ResolvedModel,
    workload: Workload,
    gpu: CatalogGpu,
    hardware: HardwareInput,
    catalog: LoadedCatalog,
    probe: MeasuredGpu | None = None,
    error_band: ErrorBand | None = None,
    grid_kg_co2_per_kwh: float | None = None,
    *,
    calibrated: bool = True,
) -> Estimate:
    """The estimator on a resolved model and catalog GPU; input errors become 422s.
    `calibrated=False` leaves out the validation's fitted step-time factor (the validation
    itself scores the model without it and fits it leave-one-source-out)."""
    check_hardware(gpu, hardware)
    spec = gpu_spec(gpu, hardware)
    try:
        spec.peak_flops(workload.precision.value)
    except ValueError as exc:
        ESTIMATE_ERRORS.labels(kind="precision").inc()
        raise _invalid("workload.precision", str(exc)) from exc
    ctx = EstimateContext(
        gpu=spec,
        count=hardware.count,
        efficiency=efficiency_for(spec, workload.precision.value, catalog, probe),
        pricing=pricing_for(gpu, catalog, hardware.price_per_gpu_hour_usd),
        error_band=error_band or error_band_for(catalog, estimate_family(workload)),
        training_time_scale=training_time_scale(catalog) if calibrated else 1.0,
        **({"grid_kg_co2_per_kwh": grid_kg_co2_per_kwh} if grid_kg_co2_per_kwh is not None else {}),
    )
    if isinstance(model, CompiledModel) and workload.attention is not None:
        raise _invalid(
            "workload.attention",
            f"{model.name} has no attention layers: workload.attention applies to transformer "
            "models only (leave it out)",
        )
    try:
        if isinstance(model, CompiledModel):
            if workload.task is Task.serve:
                raise EstimateInputError(
                    "workload.task", f"serve simulates language models; {model.name} is not one"
                )
            result = estimate_compiled(model, workload, ctx)
        else:
            result = estimate(model, workload, ctx)
    except EstimateInputError as exc:
        ESTIMATE_ERRORS.labels(kind="layout").inc()
        raise _invalid(exc.field, exc.message) from exc
    if gpu.tdp_w is None:
        result.warnings.append(f"{gpu.name} has no published board power: energy not estimated")
    return result
