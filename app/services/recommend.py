"""Recommend: the same job against every catalog GPU under the user's constraints, ranked."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.errors import InvalidInputError, NotFoundError
from app.estimator.compiled import CompiledModel, compiled_memory, estimate_compiled
from app.estimator.estimate import (
    EstimateContext,
    EstimateInputError,
    estimate,
    make_layout,
)
from app.estimator.hardware import GPUS_PER_NODE
from app.estimator.memory import Layout, memory_per_gpu
from app.estimator.model import parameter_count
from app.estimator.result import Estimate
from app.estimator.workload import Checkpointing, Optimizer, Parallelism, Task, Workload
from app.repositories import recommendations as recommendations_repo
from app.schemas.catalog import CatalogGpu, PriceKind
from app.schemas.recommend import (
    Constraints,
    Objective,
    RecommendOption,
    RecommendRequest,
    RecommendResponse,
    Verdict,
)
from app.services.catalog import LoadedCatalog
from app.services.efficiency import efficiency_for
from app.services.estimate import (
    ResolvedModel,
    check_positions,
    error_band_for,
    gpu_spec,
    pricing_for,
    resolve_model,
)


def _counts(max_gpus: int) -> list[int]:
    """1, 2, 4, 8, ... up to max_gpus."""
    out, n = [], 1
    while n <= max_gpus:
        out.append(n)
        n *= 2
    return out


def _exclusion(gpu: CatalogGpu, constraints: Constraints, catalog: LoadedCatalog) -> str | None:
    """The constraint that rules this GPU out, if any."""
    if constraints.vendors and gpu.vendor not in constraints.vendors:
        return f"vendor {gpu.vendor.value} not in {', '.join(v.value for v in constraints.vendors)}"
    if constraints.segments and gpu.segment not in constraints.segments:
        return (
            f"segment {gpu.segment.value} not in {', '.join(s.value for s in constraints.segments)}"
        )
    framework = constraints.framework
    if framework is not None and getattr(gpu.ecosystem.frameworks, framework.value) is not True:
        return f"{framework.value} does not officially support it"
    precision = constraints.min_precision
    if precision is not None and not getattr(gpu.peak_tflops, precision):
        return f"no {precision} in hardware"
    cloud = any(p.kind is PriceKind.cloud_on_demand for p in catalog.prices_for(gpu.id))
    if constraints.cloud_priced_only and not cloud:
        return "no cloud price in the catalog"
    return None


@dataclass(frozen=True)
class _Plan:
    count: int
    workload: Workload
    changes: tuple[str, ...]


def _variants(
    workload: Workload, count: int, allow: Constraints
) -> list[tuple[Workload, tuple[str, ...]]]:
    """The workload as given, then with the memory savers the user allows, mildest first."""
    savers = allow.allow
    steps: list[tuple[dict[str, object], str]] = []
    if (
        savers.activation_checkpointing
        and workload.is_training
        and workload.activation_checkpointing is not Checkpointing.full
    ):
        steps.append(
            ({"activation_checkpointing": Checkpointing.full}, "full activation checkpointing")
        )
    if savers.zero and workload.is_training and count > 1 and workload.parallelism.zero_stage < 3:
        steps.append(
            (
                {"parallelism": workload.parallelism.model_copy(update={"zero_stage": 3})},
                "ZeRO-3 / FSDP sharding",
            )
        )
    if (
        savers.optimizer_8bit
        and workload.task in (Task.pretrain, Task.finetune)
        and workload.optimizer is Optimizer.adamw
    ):
        steps.append(({"optimizer": Optimizer.adamw_8bit}, "8-bit AdamW"))
    if workload.task is Task.inference and count > 1 and workload.parallelism.tensor == 1:
        degree = min(count, GPUS_PER_NODE)
        steps.append(
            (
                {"parallelism": workload.parallelism.model_copy(update={"tensor": degree})},
                f"tensor parallelism of degree {degree}",
            )
        )
    out: list[tuple[Workload, tuple[str, ...]]] = [(workload, ())]
    update: dict[str, object] = {}
    names: list[str] = []
    for change, name in steps:  # cumulative: each step keeps the previous ones
        update.update(change)
        names.append(name)
        out.append((workload.model_copy(update=dict(update)), tuple(names)))
    return out


def _layout(model: ResolvedModel, count: int, workload: Workload) -> Layout:
    """The parallel layout (compiled-cost models are data-parallel only)."""
    if isinstance(model, CompiledModel):
        p = workload.parallelism
        if p.tensor != 1 or p.pipeline != 1:
            raise EstimateInputError(
                "workload.parallelism", f"{model.name} is estimated data-parallel only"
            )
        return Layout(count=count, tensor=1, pipeline=1, zero_stage=p.zero_stage)
    return make_layout(model.shape, count, workload.parallelism)


def _memory(model: ResolvedModel, workload: Workload, layout: Layout) -> float:
    if isinstance(model, CompiledModel):
        return compiled_memory(model, workload, layout, workload.micro_batch).total
    return memory_per_gpu(model.shape, workload, layout).total


def _layout_ok(model: ResolvedModel, workload: Workload, count: int) -> bool:
    try:
        _layout(model, count, workload)
    except EstimateInputError:
        return False
    if workload.global_batch is not None:
        data = count // (workload.parallelism.tensor * workload.parallelism.pipeline)
        return workload.global_batch % (workload.micro_batch * data) == 0
    return True


def check_inputs_for_every_gpu(
    model: ResolvedModel, workload: Workload, constraints: Constraints
) -> None:
    """Raise, naming the fields, when the inputs rule out every GPU count before any GPU is
    tried: the answer would otherwise be a table of 'does not fit' rows hiding the real cause.

    - the global batch must split into micro-batches over the data-parallel GPUs of at least
      one count tried (1, 2, 4, ... up to max_gpus);
    - the parallel layout (tensor/pipeline degrees against heads and layers) must work for at
      least one count;
    """
    counts = _counts(constraints.max_gpus)
    first_error: EstimateInputError | None = None
    layouts_ok = []
    for count in counts:
        try:
            _layout(model, count, workload)
        except EstimateInputError as exc:
            first_error = first_error or exc
            continue
        layouts_ok.append(count)
    if not layouts_ok and first_error is not None:
        raise InvalidInputError(first_error.message, fields=(first_error.field,))
    if workload.global_batch is None:
        return
    split = workload.parallelism.tensor * workload.parallelism.pipeline
    dividing = [
        c for c in layouts_ok if workload.global_batch % (workload.micro_batch * (c // split)) == 0
    ]
    if not dividing:
        suggestion = workload.micro_batch * math.ceil(workload.global_batch / workload.micro_batch)
        raise InvalidInputError(
            f"global_batch ({workload.global_batch}) must be a multiple of micro_batch "
            f"({workload.micro_batch}) x the data-parallel GPU count, and no count up to "
            f"max_gpus ({constraints.max_gpus}) allows it; try global_batch {suggestion} or "
            "micro_batch 1",
            fields=("workload.global_batch", "workload.micro_batch"),
        )


@dataclass(frozen=True)
class _Candidate:
    count: int
    workload: Workload
    changes: tuple[str, ...]
    memory_bytes: float


def _candidates(
    model: ResolvedModel, workload: Workload, constraints: Constraints
) -> list[list[_Candidate]]:
    """Per GPU count, the workload variants (mildest first) and the memory each needs per GPU.

    Memory does not depend on which GPU runs the job, so it is computed once per request and
    every catalog GPU is then checked against its capacity.
    """
    table: list[list[_Candidate]] = []
    for count in _counts(constraints.max_gpus):
        if not _layout_ok(model, workload, count):
            continue
        row = []
        for variant, changes in _variants(workload, count, constraints):
            try:
                layout = _layout(model, count, variant)
            except EstimateInputError:  # e.g. tensor parallelism that does not divide the heads
                continue
            row.append(_Candidate(count, variant, changes, _memory(model, variant, layout)))
        table.append(row)
    return table


def _plans(table: list[list[_Candidate]], gpu: CatalogGpu) -> list[_Plan]:
    """For each GPU count, the mildest variant that fits this GPU."""
    capacity = gpu_spec(gpu).memory_capacity_bytes
    plans = []
    for row in table:
        fitting = next((c for c in row if c.memory_bytes <= capacity), None)
        if fitting is not None:
            plans.append(_Plan(fitting.count, fitting.workload, fitting.changes))
    return plans


def _estimate(
    model: ResolvedModel,
    plan: _Plan,
    gpu: CatalogGpu,
    catalog: LoadedCatalog,
    request: RecommendRequest,
) -> Estimate:
    spec = gpu_spec(gpu)
    ctx = EstimateContext(
        gpu=spec,
        count=plan.count,
        efficiency=efficiency_for(spec, plan.workload.precision.value, catalog),
        pricing=pricing_for(gpu, catalog),
        error_band=error_band_for(catalog),
        **(
            {"grid_kg_co2_per_kwh": request.grid_kg_co2_per_kwh}
            if request.grid_kg_co2_per_kwh is not None
            else {}
        ),
    )
    if isinstance(model, CompiledModel):
        return estimate_compiled(model, plan.workload, ctx, detailed=False)
    return estimate(model, plan.workload, ctx, detailed=False)


def _option(gpu: CatalogGpu, count: int, verdict: Verdict) -> RecommendOption:
    return RecommendOption(
        rank=None,
        gpu=gpu.id,
        name=gpu.name,
        vendor=gpu.vendor,
        segment=gpu.segment,
        count=count,
        verdict=verdict,
        changes=[],
        total_hours=None,
        usd=None,
        price_per_gpu_hour_usd=None,
        memory_per_gpu_gb=None,
        capacity_gb=gpu_spec(gpu).memory_capacity_bytes / 1e9,
        bottleneck=None,
        mfu=None,
        pareto=False,
    )


def _mark_pareto(options: list[RecommendOption]) -> None:
    """Options no other option beats on both time and cost (priced options only)."""
    priced = [o for o in options if o.usd is not None and o.total_hours is not None]
    for o in priced:
        assert o.usd is not None
        assert o.total_hours is not None
        o.pareto = not any(
            p is not o
            and p.usd is not None
            and p.total_hours is not None
            and p.usd <= o.usd
            and p.total_hours <= o.total_hours
            and (p.usd < o.usd or p.total_hours < o.total_hours)
            for p in priced
        )


def _score(
    option: RecommendOption, objective: Objective, best_hours: float, best_usd: float
) -> tuple[float, float]:
    hours = option.total_hours or math.inf
    usd = option.usd if option.usd is not None else math.inf
    if objective is Objective.fastest:
        return (hours, usd)
    if objective is Objective.cheapest:
        return (usd, hours)
    # balanced: geometric mean of time and cost, each relative to the best option.
    if math.isinf(usd):
        return (math.inf, hours)
    return (math.sqrt((hours / best_hours) * (usd / best_usd)), hours)


def _parameters(model: ResolvedModel) -> float:
    return (
        model.parameters
        if isinstance(model, CompiledModel)
        else float(parameter_count(model.shape))
    )


def _basis(model: ResolvedModel) -> list[str]:
    if isinstance(model, CompiledModel):
        return [f"model: {model.name}, per-sample costs from {model.source}"]
    return list(model.assumptions) + list(model.warnings)


def recommend(request: RecommendRequest, catalog: LoadedCatalog) -> RecommendResponse:
    """Rank every catalog GPU for this job under the constraints."""
    model = resolve_model(request.model, catalog)
    constraints = request.constraints
    workload = request.workload
    parallelism: Parallelism = workload.parallelism
    if parallelism.tensor * parallelism.pipeline > constraints.max_gpus:
        raise InvalidInputError(
            f"tensor x pipeline ({parallelism.tensor * parallelism.pipeline}) exceeds constraints.max_gpus "
            f"({constraints.max_gpus})",
            fields=("constraints.max_gpus",),
        )
    check_inputs_for_every_gpu(model, workload, constraints)
    options: list[RecommendOption] = []
    excluded: list[dict[str, str]] = []
    table = _candidates(model, workload, constraints)
    for gpu in catalog.gpus:
        reason = _exclusion(gpu, constraints, catalog)
        if reason is not None:
            excluded.append({"gpu": gpu.id, "reason": reason})
            continue
        try:
            gpu_spec(gpu).peak_flops(workload.precision.value)
        except ValueError:
            excluded.append(
                {"gpu": gpu.id, "reason": f"no throughput figure for {workload.precision.value}"}
            )
            continue
        plans = _plans(table, gpu)
        if not plans:
            options.append(_option(gpu, constraints.max_gpus, Verdict.does_not_fit))
            continue
        chosen: tuple[_Plan, Estimate] | None = None
        for plan in plans:  # smallest count first; more GPUs only to meet a time limit
            result = _estimate(model, plan, gpu, catalog, request)
            chosen = (plan, result)
            hours = result.time.total_seconds / 3600
            if constraints.max_hours is None or hours <= constraints.max_hours:
                break
        assert chosen is not None
        plan, result = chosen
        option = _option(
            gpu, plan.count, Verdict.fits if not plan.changes else Verdict.fits_with_changes
        )
        option.changes = list(plan.changes)
        option.total_hours = result.time.total_seconds / 3600
        option.usd = result.cost.usd
        option.price_per_gpu_hour_usd = result.cost.price_per_gpu_hour_usd
        option.memory_per_gpu_gb = result.memory.total_per_gpu_gb
        option.bottleneck = result.bottleneck
        option.mfu = result.time.mfu
        option.estimate = result
        if constraints.max_hours is not None and option.total_hours > constraints.max_hours:
            excluded.append(
                {"gpu": gpu.id, "reason": f"needs {option.total_hours:,.1f} h > max_hours"}
            )
            continue
        if constraints.max_budget_usd is not None and (
            option.usd is None or option.usd > constraints.max_budget_usd
        ):
            cost = "no price" if option.usd is None else f"${option.usd:,.0f}"
            excluded.append({"gpu": gpu.id, "reason": f"{cost} over max_budget_usd"})
            continue
        options.append(option)

    fitting = [o for o in options if o.verdict is not Verdict.does_not_fit]
    _mark_pareto(fitting)
    best_hours = min((o.total_hours for o in fitting if o.total_hours), default=1.0)
    best_usd = min((o.usd for o in fitting if o.usd), default=1.0)
    fitting.sort(key=lambda o: _score(o, request.objective, best_hours, best_usd))
    for rank, option in enumerate(fitting, start=1):
        option.rank = rank
    not_fitting = sorted(
        (o for o in options if o.verdict is Verdict.does_not_fit), key=lambda o: -o.capacity_gb
    )
    least = min((c for row in table for c in row), key=lambda c: c.memory_bytes, default=None)
    for option in not_fitting:
        if least is None:
            option.reasons.append(f"no GPU count up to {constraints.max_gpus} can run this layout")
            continue
        savers = f" with {', '.join(least.changes)}" if least.changes else ""
        option.reasons.append(
            f"needs at least {least.memory_bytes / 1e9:,.1f} GB per GPU (on {least.count} "
            f"GPU{'s' if least.count > 1 else ''}{savers}), has {option.capacity_gb:,.1f} GB: does not fit on up to "
            f"{constraints.max_gpus} GPUs even with the allowed memory savers"
        )
    return RecommendResponse(
        objective=request.objective,
        options=fitting + not_fitting,
        excluded=excluded,
        considered=len(catalog.gpus),
        model_parameters=_parameters(model),
        assumptions=[
            *_basis(model),
            "each GPU gets the smallest count in 1, 2, 4, ... that fits (more only to meet max_hours)",
            f"objective {request.objective.value}: "
            + {
                "fastest": "least wall-clock time",
                "cheapest": "least money (unpriced GPUs last)",
                "balanced": "least geometric mean of time and cost, each relative to the best",
            }[request.objective.value],
        ],
    )


# Full estimates are kept for the best options only: the rest carry their summary fields.
DETAILED_OPTIONS = 10


def _trim(response: RecommendResponse) -> RecommendResponse:
    for option in response.options[DETAILED_OPTIONS:]:
        option.estimate = None
    return response


def recommend_for_form(
    session: Session, request: RecommendRequest, catalog: LoadedCatalog
) -> RecommendResponse:
    """The web form's recommendation: a sequence longer than a model's learned positions is a
    form error there (`check_positions`), then as `recommend_and_save`."""
    check_positions(resolve_model(request.model, catalog), request.workload)
    return recommend_and_save(session, request, catalog)


def recommend_and_save(
    session: Session, request: RecommendRequest, catalog: LoadedCatalog
) -> RecommendResponse:
    """Rank, then save request and answer under a short random id for a shareable link."""
    response = _trim(recommend(request, catalog))
    response.id = secrets.token_urlsafe(9)  # 12 characters, 72 random bits
    recommendations_repo.add(
        session,
        id=response.id,
        request=request.model_dump(mode="json"),
        response=response.model_dump(mode="json"),
        catalog_version=catalog.version,
    )
    return response


def get_saved(
    session: Session, recommendation_id: str
) -> tuple[RecommendRequest, RecommendResponse, str]:
    """A saved recommendation exactly as it was answered; NotFoundError for an unknown id."""
    saved = recommendations_repo.get(session, recommendation_id)
    if saved is None:
        raise NotFoundError(f"no saved recommendation with id '{recommendation_id}'")
    return (
        RecommendRequest.model_validate(saved.request),
        RecommendResponse.model_validate(saved.response),
        saved.catalog_version,
    )


def chart_points(response: RecommendResponse) -> list[dict[str, object]]:
    """What the results page plots: time, cost and memory parts (GB) of the ranked options."""
    points: list[dict[str, object]] = []
    for option in response.options:
        if option.rank is None:
            continue
        parts: dict[str, float] = {}
        if option.estimate is not None:
            parts = {
                k: v / 1e9 for k, v in option.estimate.memory.per_gpu_bytes.model_dump().items()
            }
        points.append(
            {
                "label": f"{option.count}x {option.name}",
                "rank": option.rank,
                "hours": option.total_hours,
                "usd": option.usd,
                "pareto": option.pareto,
                "capacity_gb": option.capacity_gb,
                "memory_gb": parts,
            }
        )
    return points
