"""Recommend: the same job against every catalog GPU under the user's constraints, ranked.

Each option is something the user can act on under one acquisition mode (never mixed in one
ranking): `rent` prices the instances actually rented (catalog/offers/), `buy` the GPUs and the
hosts that hold them plus electricity, `own` electricity only. Counts respect how many GPUs one
host holds and whether a GPU can span hosts; options needing software the GPU lacks are removed
with their reason.

Search: memory per GPU count and workload variant is computed once per request (it does not
depend on the GPU). Every (GPU, count) gets a cheap lower bound on its time (model FLOPs at
the dense peak) and cost (that time x the unit's price per hour); candidates are estimated in
order of that bound and the search stops once no remaining bound can beat the `max_options`-th
best option found, so only a few dozen full estimates run for the whole catalog.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from app.errors import InvalidInputError
from app.estimator.compiled import CompiledModel, compiled_memory, estimate_compiled
from app.estimator.cost import Pricing
from app.estimator.estimate import (
    EstimateContext,
    EstimateInputError,
    estimate,
    make_layout,
)
from app.estimator.hardware import GPUS_PER_NODE, Efficiency, GpuSpec
from app.estimator.memory import Layout, memory_per_gpu
from app.estimator.model import active_parameter_count, parameter_count
from app.estimator.result import Estimate
from app.estimator.workload import Checkpointing, Optimizer, Parallelism, Task, Workload
from app.schemas.acquisition import Acquisition
from app.schemas.catalog import CatalogGpu, PriceKind
from app.schemas.recommend import (
    Constraints,
    HostRef,
    Objective,
    OfferRef,
    PurchaseRef,
    RecommendOption,
    RecommendRequest,
    RecommendResponse,
    Verdict,
)
from app.services.catalog import LoadedCatalog
from app.services.efficiency import MeasuredGpu, efficiency_for
from app.services.estimate import (
    ResolvedModel,
    error_band_for,
    estimate_family,
    gpu_spec,
    resolve_model,
    training_time_scale,
)
from app.services.market import Market, Purchase, Rental, market_for, powers_of_two

# Balanced ranks by time x cost (the geometric mean of each relative to the best option orders
# options the same way); an option that needs a community-supported technique counts as this
# much slower and dearer (a stated penalty: unofficial support costs debugging time).
COMMUNITY_PENALTY = 1.25


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
    if constraints.cloud_priced_only and not (
        catalog.offers_for(gpu.id)
        or any(p.kind is PriceKind.cloud_on_demand for p in catalog.prices_for(gpu.id))
    ):
        return "no cloud price in the catalog"
    return None


@dataclass(frozen=True)
class _Candidate:
    """One workload variant at one GPU count and the memory it needs per GPU."""

    count: int
    workload: Workload
    changes: tuple[str, ...]
    techniques: tuple[str, ...]
    memory_bytes: float


def _variants(
    workload: Workload, count: int, constraints: Constraints
) -> list[tuple[Workload, tuple[str, ...], tuple[str, ...]]]:
    """The workload as given, then with the memory savers the user allows, mildest first:
    smaller micro-batches with gradient accumulation (same tokens per step), then full
    activation checkpointing, ZeRO-3 / FSDP, 8-bit AdamW; inference: tensor parallelism.
    Each carries the software techniques it needs."""
    savers = constraints.allow
    steps: list[tuple[dict[str, object], str, str | None]] = []
    p = workload.parallelism
    if workload.is_training and workload.micro_batch > 1:
        data = max(1, count // (p.tensor * p.pipeline))
        global_batch = workload.global_batch or workload.micro_batch * data
        micro = workload.micro_batch // 2
        while micro >= 1:
            if global_batch % (micro * data) == 0:
                steps.append(
                    (
                        {"micro_batch": micro, "global_batch": global_batch},
                        f"micro-batch {micro} with gradient accumulation",
                        None,
                    )
                )
            micro //= 2
    if (
        savers.activation_checkpointing
        and workload.is_training
        and workload.activation_checkpointing is not Checkpointing.full
    ):
        steps.append(
            (
                {"activation_checkpointing": Checkpointing.full},
                "full activation checkpointing",
                None,
            )
        )
    if savers.zero and workload.is_training and count > 1 and p.zero_stage < 3:
        steps.append(
            (
                {"parallelism": p.model_copy(update={"zero_stage": 3})},
                "ZeRO-3 / FSDP sharding",
                "fsdp",
            )
        )
    if (
        savers.optimizer_8bit
        and workload.task in (Task.pretrain, Task.finetune)
        and workload.optimizer is Optimizer.adamw
    ):
        steps.append(({"optimizer": Optimizer.adamw_8bit}, "8-bit AdamW", "bitsandbytes"))
    if workload.task is Task.inference and count > 1 and p.tensor == 1:
        degree = min(count, GPUS_PER_NODE)
        steps.append(
            (
                {"parallelism": p.model_copy(update={"tensor": degree})},
                f"tensor parallelism of degree {degree}",
                None,
            )
        )
    out: list[tuple[Workload, tuple[str, ...], tuple[str, ...]]] = [(workload, (), ())]
    update: dict[str, object] = {}
    names: list[str] = []
    techniques: list[str] = []
    for change, name, technique in steps:  # cumulative: each step keeps the previous ones
        update.update(change)
        if name.startswith("micro-batch"):  # a smaller micro-batch replaces the previous one
            names = [n for n in names if not n.startswith("micro-batch")]
        names.append(name)
        if technique:
            techniques.append(technique)
        out.append((workload.model_copy(update=dict(update)), tuple(names), tuple(techniques)))
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


def _required_techniques(workload: Workload, constraints: Constraints) -> list[tuple[str, str]]:
    """Software the job as asked needs (technique, what for)."""
    out: list[tuple[str, str]] = []
    if constraints.framework is not None:
        out.append((constraints.framework.value, f"{constraints.framework.value} was required"))
    if workload.task is Task.qlora:
        out += [("qlora", "QLoRA"), ("bitsandbytes", "QLoRA's 4-bit weights")]
    if workload.optimizer is Optimizer.adamw_8bit:
        out.append(("bitsandbytes", "8-bit AdamW"))
    if workload.is_training and workload.precision.value == "fp8":
        out.append(("fp8-training", "fp8 training"))
    if (
        workload.is_training
        and "flash_attention" in workload.model_fields_set
        and workload.flash_attention
    ):
        out.append(("flash-attention", "FlashAttention was asked for"))
    if workload.parallelism.zero_stage == 3:
        out.append(("fsdp", "ZeRO-3 / FSDP was asked for"))
    return out


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
    counts = powers_of_two(constraints.max_gpus)
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


class _Job:
    """Model-dependent work, done once per request: memory per count and variant, and the
    FLOPs that bound every GPU's time from below."""

    def __init__(self, model: ResolvedModel, workload: Workload, constraints: Constraints):
        self.model = model
        self.workload = workload
        self.constraints = constraints
        self._rows: dict[int, list[_Candidate]] = {}
        self.total_flops = _lower_bound_flops(model, workload)
        self.total_bytes = _lower_bound_bytes(model, workload)

    def hours_bound(self, count: int, spec: GpuSpec, eff: Efficiency, peak: float) -> float:
        """A lower bound on wall-clock hours at this count: the job's FLOPs at the achievable
        matmul rate, or the bytes it must stream at the achievable bandwidth, whichever is
        longer; communication, overheads and small-op inefficiency only add to it."""
        compute_s = self.total_flops / (count * peak * eff.matmul_fraction)
        memory_s = self.total_bytes / (count * spec.bandwidth_bytes_s * eff.bandwidth_fraction)
        return max(compute_s, memory_s) / 3600.0

    def row(self, count: int) -> list[_Candidate]:
        """The workload variants at this count (mildest first) and the memory each needs."""
        found = self._rows.get(count)
        if found is not None:
            return found
        row: list[_Candidate] = []
        if _layout_ok(self.model, self.workload, count):
            for variant, changes, techniques in _variants(self.workload, count, self.constraints):
                try:
                    layout = _layout(self.model, count, variant)
                except EstimateInputError:  # e.g. tensor parallelism that does not divide heads
                    continue
                row.append(
                    _Candidate(
                        count, variant, changes, techniques, _memory(self.model, variant, layout)
                    )
                )
        self._rows[count] = row
        return row


def _lower_bound_flops(model: ResolvedModel, workload: Workload) -> float:
    """FLOPs the job cannot do without, for a lower bound on time: 6 x active parameters per
    trained token (2 forward + 4 backward, Kaplan et al. 2020, "Scaling Laws", sec. 2.1), 4x
    for adapters (no weight gradients), 2x per generated or prompt token for inference. The
    estimator counts more (attention, recomputation), never less. 0 where the total is not
    known (no tokens or samples given): then nothing is pruned."""
    if isinstance(model, CompiledModel):
        if workload.samples is None or not workload.is_training:
            return 0.0
        return model.training_flops_per_sample * workload.samples * (workload.epochs or 1.0)
    active = float(active_parameter_count(model.shape))
    if workload.task is Task.inference:
        inference = workload.inference_config
        generated = workload.tokens or inference.batch * (
            inference.prompt_tokens + inference.output_tokens
        )
        return 2.0 * active * generated
    tokens = workload.tokens
    if tokens is None and workload.samples is not None:
        tokens = workload.samples * (workload.epochs or 1.0) * workload.seq_len
    if tokens is None:
        return 0.0
    return (4.0 if workload.is_adapter else 6.0) * active * tokens


_WEIGHT_BYTES = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5}


def _lower_bound_bytes(model: ResolvedModel, workload: Workload) -> float:
    """Inference decode reads every active weight once per step: bytes streamed over all GPUs
    >= decode steps x active weight bytes (each step serves `batch` sequences per replica).
    0 for training (its bound is FLOPs)."""
    if isinstance(model, CompiledModel) or workload.task is not Task.inference:
        return 0.0
    inference = workload.inference_config
    fmt = inference.weight_precision or workload.precision.value
    weights = float(active_parameter_count(model.shape)) * _WEIGHT_BYTES.get(fmt, 2.0)
    generated = workload.tokens or inference.batch * inference.output_tokens
    return generated / inference.batch * weights


@dataclass
class _Unit:
    """How this many GPUs of one model are had, and what an hour of them costs."""

    usd_per_hour: float | None
    label: str
    rental: Rental | None = None
    purchase: Purchase | None = None
    spot_usd_per_hour: float | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(order=True)
class _Pending:
    bound: float
    order: int
    gpu_index: int = field(compare=False)
    count: int = field(compare=False)
    candidate: _Candidate = field(compare=False)
    unit: _Unit = field(compare=False)


@dataclass(eq=False)
class _Scored:
    score: float
    tie: float
    item: _Pending
    result: Estimate


def _score(
    hours: float, usd: float | None, objective: Objective, penalty: float
) -> tuple[float, float]:
    """Smaller is better. fastest: hours, then cost; cheapest: cost, then hours; balanced:
    hours x cost (x COMMUNITY_PENALTY when it needs community-supported software), which
    orders options as the geometric mean of time and cost relative to the best does."""
    cost = usd if usd is not None else math.inf
    if objective is Objective.fastest:
        return hours, cost
    if objective is Objective.cheapest:
        return cost, hours
    return hours * cost * penalty, hours


class _Ranker:
    """Everything one request needs while it walks the catalog."""

    def __init__(
        self,
        request: RecommendRequest,
        catalog: LoadedCatalog,
        market: Market,
        measured: Mapping[str, MeasuredGpu],
    ):
        self.request = request
        self.measured = measured
        self.catalog = catalog
        self.market = market
        self.mode = request.acquisition
        self.constraints = request.constraints
        kwh = request.usd_per_kwh
        self.ownership = (
            market.ownership
            if kwh is None
            else replace(
                market.ownership,
                usd_per_kwh=kwh,
                basis=(f"USD/kWh {kwh:g} (given in the request)", *market.ownership.basis[0:1],
                       *market.ownership.basis[2:]),
            )
        )  # fmt: skip
        if kwh is not None:
            self.market = replace(market, ownership=self.ownership)
        self.owned = {o.gpu: o.count for o in request.owned}
        # The same validation-backed band and fitted step-time factor POST /estimate applies,
        # so a ranked option's hours match what an estimate of that option says.
        self.error_band = error_band_for(catalog, estimate_family(request.workload))
        self.training_time_scale = training_time_scale(catalog)
        # Per catalog, not per request: GPU figures and the published efficiencies (a GPU the
        # probes measured is looked up per request, as POST /estimate does).
        self._efficiency: dict[tuple[str, str], Efficiency] = market.cache.setdefault(
            "efficiency", {}
        )
        self._specs: dict[str, GpuSpec] = market.cache.setdefault("specs", {})

    def counts(self, gpu: CatalogGpu) -> list[int]:
        limit = self.constraints.max_gpus
        if self.mode is Acquisition.rent:
            return self.market.rent_counts(gpu, limit)
        if self.mode is Acquisition.buy:
            return self.market.buy_counts(gpu, limit)
        owned = min(self.owned.get(gpu.id, 0), limit)
        counts = set(powers_of_two(owned))
        if owned:
            counts.add(owned)
        return sorted(counts)

    def unit(self, gpu: CatalogGpu, count: int) -> _Unit | None:
        own = self.ownership
        if self.mode is Acquisition.rent:
            rental = self.market.rental(gpu, count)
            if rental is None:
                return None
            o = rental.offer
            unit = _Unit(
                rental.usd_per_hour,
                f"{rental.instances} x {o.provider} {o.instance} ({o.gpus_per_instance} GPUs) "
                f"on demand, observed {o.observed} ({o.source.title})",
                rental=rental,
                spot_usd_per_hour=rental.spot_usd_per_hour,
            )
            if self.market.stale(o):
                unit.warnings.append(
                    f"the {o.provider} {o.instance} price was observed {o.observed}, over 12 "
                    "months ago: check the current price"
                )
            return unit
        if self.mode is Acquisition.buy:
            purchase = self.market.purchase(gpu, count, self.catalog)
            if purchase is None:
                return None
            return _Unit(
                purchase.usd_per_hour,
                f"bought: ${purchase.upfront_usd:,.0f} upfront over {own.amortization_years:g} "
                f"years at {own.utilization:.0%} utilization, plus electricity",
                purchase=purchase,
            )
        energy = count * (gpu.tdp_w or 0.0) * own.pue / 1000.0 * own.usd_per_kwh
        return _Unit(
            energy if gpu.tdp_w else None,
            f"owned: electricity only, board power x PUE {own.pue:g} at ${own.usd_per_kwh:g}/kWh",
        )

    def spec(self, gpu: CatalogGpu, count: int, unit: _Unit) -> GpuSpec:
        """The estimator's GPU (its peer-to-peer fact travels in the spec), with a
        multi-instance rental's network bandwidth per GPU where the offer gives it."""
        spec = self.base_spec(gpu)
        rental = unit.rental
        if rental is not None and rental.instances > 1 and rental.offer.network_gbps_per_gpu:
            spec = replace(spec, scale_out_gb_s=rental.offer.network_gbps_per_gpu / 8.0)
        return spec

    def base_spec(self, gpu: CatalogGpu) -> GpuSpec:
        """The GPU's estimator figures (kept on the market: they change only with the catalog)."""
        found = self._specs.get(gpu.id)
        if found is None:
            found = self._specs[gpu.id] = gpu_spec(gpu)
        return found

    def efficiency(self, spec: GpuSpec, precision: str) -> Efficiency:
        measured = self.measured.get(spec.id)
        if measured is not None:
            return efficiency_for(spec, precision, self.catalog, measured)
        key = (spec.id, precision)
        found = self._efficiency.get(key)
        if found is None:
            found = efficiency_for(spec, precision, self.catalog)
            self._efficiency[key] = found
        return found

    def estimate(self, job: _Job, gpu: CatalogGpu, candidate: _Candidate, unit: _Unit) -> Estimate:
        spec = self.spec(gpu, candidate.count, unit)
        pricing = (
            Pricing(unit.usd_per_hour / candidate.count, unit.label)
            if unit.usd_per_hour is not None
            else None
        )
        ctx = EstimateContext(
            gpu=spec,
            count=candidate.count,
            efficiency=self.efficiency(spec, candidate.workload.precision.value),
            pricing=pricing,
            error_band=self.error_band,
            training_time_scale=self.training_time_scale,
            **(
                {"grid_kg_co2_per_kwh": self.request.grid_kg_co2_per_kwh}
                if self.request.grid_kg_co2_per_kwh is not None
                else {}
            ),
        )
        if isinstance(job.model, CompiledModel):
            return estimate_compiled(job.model, candidate.workload, ctx, detailed=False)
        return estimate(job.model, candidate.workload, ctx, detailed=False)


def _option(
    gpu: CatalogGpu, count: int, verdict: Verdict, mode: Acquisition, capacity_bytes: float
) -> RecommendOption:
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
        capacity_gb=capacity_bytes / 1e9,
        bottleneck=None,
        mfu=None,
        pareto=False,
        acquisition=mode,
    )


def _offer_ref(rental: Rental, market: Market) -> OfferRef:
    o = rental.offer
    per_gpu = rental.gpus
    return OfferRef(
        provider=o.provider,
        instance=o.instance,
        gpus_per_instance=o.gpus_per_instance,
        instances=rental.instances,
        region=o.regions[0] if o.regions else None,
        usd_per_instance_hour=rental.usd_per_hour / rental.instances,
        usd_per_gpu_hour=rental.usd_per_hour / per_gpu,
        spot_usd_per_gpu_hour=rental.spot_usd_per_hour / per_gpu
        if rental.spot_usd_per_hour
        else None,
        reserved_usd_per_gpu_hour=rental.reserved_usd_per_hour / per_gpu
        if rental.reserved_usd_per_hour
        else None,
        observed=o.observed.isoformat(),
        source={
            "title": o.source.title,
            "url": str(o.source.url),
            "retrieved": o.source.retrieved.isoformat(),
        },
        stale=market.stale(o),
    )


def _purchase_ref(
    purchase: Purchase, gpu: CatalogGpu, count: int, hours: float, ranker: _Ranker
) -> PurchaseRef:
    """The purchase basis, with break-even against the cheapest rental of the same GPUs."""
    from app.estimator.acquisition import breakeven_hours

    own = ranker.ownership
    rental = ranker.market.rental(gpu, count)
    basis = [
        f"GPUs: {count} x {purchase.gpu_price_basis}",
        *(f"host: {h.count} x {h.name} at ${h.usd_each:,.0f}" for h in purchase.hosts),
        f"amortized straight-line over {own.amortization_years:g} years at "
        f"{own.utilization:.0%} utilization",
        f"electricity: board power x PUE {own.pue:g} at ${own.usd_per_kwh:g}/kWh",
        *own.basis,
    ]
    if not purchase.hosts:
        basis.append("no host classes in the catalog: host cost not included")
    breakeven = None
    if rental is not None:
        breakeven = breakeven_hours(
            purchase.upfront_usd, rental.usd_per_hour, purchase.energy_usd_per_hour
        )
        basis.append(
            f"break-even vs renting {rental.instances} x {rental.offer.provider} "
            f"{rental.offer.instance} at ${rental.usd_per_hour:,.2f}/h"
        )
    else:
        priced = [o for o in ranker.market.offers.get(gpu.id, ()) if o.usd_per_gpu_hour is not None]
        if priced:
            cheapest = min(priced, key=lambda o: o.usd_per_gpu_hour or 0.0)
            per_gpu = cheapest.usd_per_gpu_hour or 0.0
            breakeven = breakeven_hours(
                purchase.upfront_usd, count * per_gpu, purchase.energy_usd_per_hour
            )
            basis.append(
                f"break-even vs renting the same GPU-hours on {cheapest.provider} "
                f"{cheapest.instance} at ${per_gpu:,.2f} per GPU-hour (no {count}-GPU offer)"
            )
        else:
            basis.append(f"no rental offer of {gpu.name} to compare with")
    return PurchaseRef(
        upfront_usd=purchase.upfront_usd,
        gpu_usd_each=purchase.gpu_usd_each,
        hosts=[
            HostRef(host=h.host_id, name=h.name, count=h.count, usd_each=h.usd_each)
            for h in purchase.hosts
        ],
        usd_per_hour_owned=purchase.usd_per_hour,
        energy_usd_per_hour=purchase.energy_usd_per_hour,
        breakeven_hours_vs_rent=breakeven,
        basis=basis,
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


def _gate(
    gpu: CatalogGpu, techniques: list[tuple[str, str]], market: Market
) -> tuple[str | None, list[str], bool]:
    """(reason it is ruled out, warnings, needs community support) for these techniques."""
    warnings: list[str] = []
    community = False
    for technique, why in techniques:
        row = market.support_level(gpu, technique)
        if row is None:
            continue
        if row.level.value == "unsupported":
            return (
                f"{technique} ({why}) is unsupported on {gpu.architecture} ({row.source.title})",
                [],
                False,
            )
        if row.level.value == "community":
            community = True
            warnings.append(
                f"{technique} ({why}) is community-supported on {gpu.architecture}, not by the "
                f"vendor ({row.source.title})"
            )
    return None, warnings, community


def _check_owned(request: RecommendRequest, catalog: LoadedCatalog) -> None:
    for index, owned in enumerate(request.owned):
        if catalog.gpu(owned.gpu) is None:
            raise InvalidInputError(
                f"owned.{index}.gpu: no GPU with id '{owned.gpu}'",
                detail=[
                    {
                        "loc": ["body", "owned", index, "gpu"],
                        "msg": "unknown GPU id; GET /api/v1/gpus lists them",
                    }
                ],
            )


def recommend(
    request: RecommendRequest,
    catalog: LoadedCatalog,
    measured: Mapping[str, MeasuredGpu] | None = None,
) -> RecommendResponse:
    """Rank the catalog's GPUs for this job under the constraints and the acquisition mode,
    with the probe-measured efficiencies `measured` (by GPU id) that POST /estimate uses too."""
    if request.workload.task is Task.serve:
        from app.services.serve_recommend import recommend_serving  # imports this module

        return recommend_serving(request, catalog)
    model = resolve_model(request.model, catalog, request.workload)
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
    _check_owned(request, catalog)
    ranker = _Ranker(request, catalog, market_for(catalog), measured or {})
    market = ranker.market
    mode = request.acquisition
    objective = request.objective
    job = _Job(model, workload, constraints)
    required = _required_techniques(workload, constraints)

    excluded: list[dict[str, str]] = []
    not_fitting: list[RecommendOption] = []
    pending: list[_Pending] = []
    gpus = list(catalog.gpus)
    extra_warnings: dict[int, list[str]] = {}
    penalties: dict[int, float] = {}
    considered = 0
    for index, gpu in enumerate(gpus):
        if mode is Acquisition.own and gpu.id not in ranker.owned:
            continue
        considered += 1
        reason = _exclusion(gpu, constraints, catalog)
        if reason is None:
            try:
                peak, _ = ranker.base_spec(gpu).peak_flops(workload.precision.value)
            except ValueError:
                reason = f"no throughput figure for {workload.precision.value}"
        if reason is None:
            reason, warnings, community = _gate(gpu, required, market)
            extra_warnings[index] = warnings
            penalties[index] = COMMUNITY_PENALTY if community else 1.0
        if reason is not None:
            excluded.append({"gpu": gpu.id, "reason": reason})
            continue
        counts = ranker.counts(gpu)
        if not counts:
            excluded.append(
                {
                    "gpu": gpu.id,
                    "reason": {
                        Acquisition.rent: f"no rental offer in the catalog (up to {constraints.max_gpus} GPUs)",
                        Acquisition.buy: "no purchase price or host in the catalog",
                        Acquisition.own: "not owned",
                    }[mode],
                }
            )
            continue
        capacity = ranker.base_spec(gpu).memory_capacity_bytes
        fitted = priced = False
        gated: str | None = None
        unpriced = ""
        for count in counts:
            fitting = None
            for candidate in job.row(count):
                if candidate.memory_bytes > capacity:
                    continue
                why_not, _, _ = _gate(
                    gpu, [(t, "a memory saver") for t in candidate.techniques], market
                )
                if why_not is not None:
                    gated = why_not
                    continue
                fitting = candidate
                break
            if fitting is None:
                continue
            fitted = True
            unit = ranker.unit(gpu, count)
            if unit is None:
                unpriced = {
                    Acquisition.rent: "no rental offer",
                    Acquisition.buy: "no purchase price or no host class that holds it",
                    Acquisition.own: "no board power to price its electricity",
                }[mode]
                continue
            priced = True
            spec = ranker.spec(gpu, count, unit)
            hours_lb = job.hours_bound(
                count, spec, ranker.efficiency(spec, workload.precision.value), peak
            )
            usd_lb = unit.usd_per_hour * hours_lb if unit.usd_per_hour is not None else None
            if constraints.max_hours is not None and hours_lb > constraints.max_hours:
                continue
            if (
                constraints.max_budget_usd is not None
                and usd_lb is not None
                and usd_lb > constraints.max_budget_usd
            ):
                continue
            bound, _ = _score(hours_lb, usd_lb, objective, penalties[index])
            pending.append(_Pending(bound, len(pending), index, count, fitting, unit))
        if fitted and not priced:
            excluded.append({"gpu": gpu.id, "reason": unpriced})
        elif not fitted:
            option = _option(gpu, max(counts), Verdict.does_not_fit, mode, capacity)
            least = min(
                (c for n in counts for c in job.row(n)), key=lambda c: c.memory_bytes, default=None
            )
            needs = (
                f"needs at least {least.memory_bytes / 1e9:,.1f} GB per GPU (on {least.count} "
                f"GPU{'s' if least.count > 1 else ''}"
                + (f" with {', '.join(least.changes)}" if least.changes else "")
                + f"), has {capacity / 1e9:,.1f} GB: "
                if least is not None
                else ""
            )
            option.reasons.append(
                f"{needs}does not fit on up to {max(counts)} GPUs even with the allowed memory "
                "savers" + (f"; {gated}" if gated else "")
            )
            not_fitting.append(option)

    # Branch and bound: estimate in order of the lower bound; stop once the bound cannot beat
    # the max_options-th best GPU found so far.
    heapq.heapify(pending)
    best: dict[int, _Scored] = {}
    threshold = math.inf  # the max_options-th best score found so far
    limit = request.max_options
    over: dict[int, str] = {}
    evaluated = 0
    while pending:
        item = heapq.heappop(pending)
        if threshold < math.inf and item.bound >= threshold:
            heapq.heappush(pending, item)
            break
        current = best.get(item.gpu_index)
        if current is not None and item.bound >= current.score:
            continue
        gpu = gpus[item.gpu_index]
        result = ranker.estimate(job, gpu, item.candidate, item.unit)
        evaluated += 1
        hours = result.time.total_seconds / 3600
        usd = result.cost.usd
        if constraints.max_hours is not None and hours > constraints.max_hours:
            over.setdefault(item.gpu_index, f"needs {hours:,.1f} h > max_hours")
            continue
        if constraints.max_budget_usd is not None and (
            usd is None or usd > constraints.max_budget_usd
        ):
            cost = "no price" if usd is None else f"${usd:,.0f}"
            over.setdefault(item.gpu_index, f"{cost} over max_budget_usd")
            continue
        score, tie = _score(hours, usd, objective, penalties[item.gpu_index])
        if current is not None and (score, tie) >= (current.score, current.tie):
            continue
        best[item.gpu_index] = _Scored(score, tie, item, result)
        if len(best) >= limit:
            threshold = heapq.nsmallest(limit, (s.score for s in best.values()))[-1]

    ranked = sorted(best.values(), key=lambda s: (s.score, s.tie))
    kept = ranked[:limit]
    kept_ids = {id(s) for s in kept}
    pruned_gpus: set[int] = {p.gpu_index for p in pending if p.gpu_index not in best} | {
        i for i, s in best.items() if id(s) not in kept_ids
    }
    for index, reason in over.items():
        if index not in best:
            excluded.append({"gpu": gpus[index].id, "reason": reason})
            pruned_gpus.discard(index)
    for index in sorted(pruned_gpus):
        if index in over:
            continue
        excluded.append(
            {
                "gpu": gpus[index].id,
                "reason": f"not among the best {limit} ({objective.value}): every option shown "
                "beats its estimate or its lower bound",
            }
        )
    options = [
        _build_option(
            gpus[s.item.gpu_index],
            s.item,
            s.result,
            ranker,
            extra_warnings.get(s.item.gpu_index, []),
        )
        for s in kept
    ]
    _mark_pareto(options)
    for rank, option in enumerate(options, start=1):
        option.rank = rank
    not_fitting.sort(key=lambda o: -o.capacity_gb)
    all_options = options + not_fitting
    return RecommendResponse(
        objective=objective,
        options=all_options,
        excluded=excluded,
        considered=considered,
        model_parameters=_parameters(model),
        acquisition=mode,
        groups={mode.value: list(range(len(all_options)))},
        pruned=len(pruned_gpus),
        assumptions=[
            *_basis(model),
            *_mode_basis(mode, ranker),
            "each GPU is tried at every count it can be had at (whole rented instances; host "
            "limits; several hosts only for datacenter GPUs) with the mildest memory savers that "
            "fit; the best count by the objective is shown",
            f"objective {objective.value}: "
            + {
                "fastest": "least wall-clock time",
                "cheapest": "least money (unpriced GPUs last)",
                "balanced": "least hours x cost, i.e. least geometric mean of time and cost "
                "relative to the best; an option needing community-supported software counts "
                f"{COMMUNITY_PENALTY:g}x",
            }[objective.value],
            f"{evaluated} full estimates; options that provably could not rank in the best "
            f"{limit} were pruned by a lower bound (model FLOPs at dense peak)",
        ],
    )


def _mode_basis(mode: Acquisition, ranker: _Ranker) -> list[str]:
    own = ranker.ownership
    if mode is Acquisition.rent:
        return [
            "rent: on-demand price of the instances rented (whole instances) x wall-clock "
            "hours; spot beside it where known; offers older than 12 months are marked stale"
        ]
    if mode is Acquisition.buy:
        return [
            f"buy: GPUs + hosts upfront, amortized over {own.amortization_years:g} years at "
            f"{own.utilization:.0%} utilization, plus electricity (PUE {own.pue:g}, "
            f"${own.usd_per_kwh:g}/kWh)",
            *own.basis,
        ]
    return [
        f"own: electricity only (board power x PUE {own.pue:g} at ${own.usd_per_kwh:g}/kWh)",
        *own.basis,
    ]


def _build_option(
    gpu: CatalogGpu,
    item: _Pending,
    result: Estimate,
    ranker: _Ranker,
    warnings: list[str],
) -> RecommendOption:
    candidate, unit = item.candidate, item.unit
    mode = ranker.mode
    option = _option(
        gpu,
        candidate.count,
        Verdict.fits if not candidate.changes else Verdict.fits_with_changes,
        mode,
        ranker.base_spec(gpu).memory_capacity_bytes,
    )
    option.changes = list(candidate.changes)
    hours = result.time.total_seconds / 3600
    option.total_hours = hours
    option.usd = result.cost.usd
    option.price_per_gpu_hour_usd = result.cost.price_per_gpu_hour_usd
    option.memory_per_gpu_gb = result.memory.total_per_gpu_gb
    option.bottleneck = result.bottleneck
    option.mfu = result.time.mfu
    option.estimate = result
    band = result.error_band.time_pct / 100.0
    option.hours_low = hours * max(0.0, 1.0 - band)
    option.hours_high = hours * (1.0 + band)
    if option.usd is not None and hours > 0:
        option.cost_usd_low = option.usd * max(0.0, 1.0 - band)
        option.cost_usd_high = option.usd * (1.0 + band)
    option.validated = ranker.market.is_validated(gpu.id, candidate.workload.task.value)
    option.warnings = [*warnings, *unit.warnings]
    facts = ranker.market.facts(gpu)
    if candidate.count > 1 and not facts.peer_to_peer:
        option.warnings.append(
            f"{gpu.name} has no peer-to-peer: GPU-to-GPU traffic is staged through host memory"
        )
    if gpu.segment.value != "datacenter" and candidate.count > 2 and mode is not Acquisition.rent:
        option.warnings.append(
            f"{candidate.count} {gpu.name} cards in one host: check slots, power supply "
            f"({candidate.count * (gpu.tdp_w or 0):,.0f} W of board power) and cooling"
        )
    if not option.validated:
        option.warnings.append(
            f"unvalidated: no published measurement of {candidate.workload.task.value} on "
            f"{gpu.name} in the validation set"
        )
    if unit.rental is not None:
        option.offer = _offer_ref(unit.rental, ranker.market)
        if unit.spot_usd_per_hour:
            option.spot_usd = unit.spot_usd_per_hour * hours
    if unit.purchase is not None:
        option.purchase = _purchase_ref(unit.purchase, gpu, candidate.count, hours, ranker)
    option.reasons.append(unit.label)
    return option


# Full estimates are kept for the best options only: the rest carry their summary fields.
DETAILED_OPTIONS = 10


def _trim(response: RecommendResponse) -> RecommendResponse:
    for option in response.options[DETAILED_OPTIONS:]:
        option.estimate = None
    return response


def recommend_for_sharing(
    request: RecommendRequest,
    catalog: LoadedCatalog,
    measured: Mapping[str, MeasuredGpu] | None = None,
) -> RecommendResponse:
    """The ranking with full estimates on the best options only: what is saved and shown (saving
    is in app/services/saved_results.py)."""
    return _trim(recommend(request, catalog, measured))


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
