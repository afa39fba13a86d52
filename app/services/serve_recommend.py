"""Recommend for task "serve": GPUs ranked by cost per million output tokens at the user's load.

Every catalog GPU (under the constraints) is screened with a closed-form roofline: for each
tensor-parallel degree whose weights fit, the largest batch the KV cache and the TPOT target
allow, the request rate that batch sustains, the replicas the user's rate needs and their price
per million output tokens. The cheapest candidates are then simulated (continuous batching,
`app.estimator.serving`) to find each one's real capacity within the targets and replica count;
the ranking uses the simulated figures. Screening keeps the whole catalog under a couple of
seconds; only finalists pay for simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.errors import InvalidInputError
from app.estimator.compiled import CompiledModel
from app.estimator.cost import Pricing
from app.estimator.estimate import EstimateContext, ModelDescription, estimate
from app.estimator.hardware import GpuSpec
from app.estimator.model import Architecture, parameter_count
from app.estimator.serving import (
    ENGINES,
    ServingSetup,
    Targets,
    kv_capacity,
    max_request_rate,
    simulate,
)
from app.estimator.serving_estimate import TP_DEGREES, prepare, traffic_for
from app.estimator.workload import ServingConfig, Workload
from app.schemas.acquisition import Acquisition
from app.schemas.catalog import CatalogGpu
from app.schemas.recommend import (
    RecommendOption,
    RecommendRequest,
    RecommendResponse,
    ServingOption,
    Verdict,
)
from app.services.catalog import LoadedCatalog
from app.services.efficiency import efficiency_for
from app.services.estimate import error_band_for, gpu_spec, pricing_for, resolve_model
from app.services.market import Purchase, Rental, market_for, rental_of

if TYPE_CHECKING:
    from app.services.recommend import _Ranker

# Candidates simulated after screening (the cheapest by the screen's cost per million tokens).
FINALISTS = 8
# Rates are planned at this share of a replica's screened saturation (queueing headroom).
SCREEN_UTILIZATION = 0.7
# Requests and bisection steps per finalist's capacity search (smaller than the estimate's).
FINALIST_REQUESTS = 200
FINALIST_STEPS = 6
MAX_REPLICAS = 4096
# Ranked options that get the full serving estimate (with the throughput-latency curve).
DETAILED = 1


@dataclass
class _Screen:
    gpu: CatalogGpu
    spec: GpuSpec
    tensor: int
    rate_per_replica: float
    replicas: int
    usd_per_hour: float | None
    usd_per_million: float | None


def _screen(
    shape_params: float,
    cfg: ServingConfig,
    setup: ServingSetup,
    targets: Targets,
    rate: float,
) -> float:
    """A replica's sustainable requests/s by a static roofline: decode steps of batch B read
    the weights once and each sequence's KV cache; prefill costs 2 x params FLOPs per token."""
    gpu, eff = setup.gpu, setup.efficiency
    t = setup.tensor_parallel
    engine = ENGINES[setup.engine]
    cap = kv_capacity(setup)
    per_request = cfg.prompt_tokens + cfg.output_tokens
    if cap.tokens < per_request:
        return 0.0
    bw = gpu.bandwidth_bytes_s * eff.bandwidth_fraction
    peak, _ = gpu.peak_flops("fp8" if setup.weight_precision == "fp8" else "bf16")
    flops_s = peak * eff.matmul_fraction
    prefill_s_per_token = 2 * shape_params / t / flops_s
    if cfg.prompt_tokens * prefill_s_per_token > targets.ttft_p90_s:
        return 0.0
    context = cfg.prompt_tokens + cfg.output_tokens / 2

    def step(batch: int) -> float:
        memory = cap.weights_bytes + batch * context * cap.kv_bytes_per_token
        compute = 2 * shape_params / t * batch / flops_s
        return max(memory / bw, compute) + engine.step_overhead_s

    limit = max(1, min(engine.max_num_seqs, cap.tokens // per_request))
    batch = limit
    while batch > 1 and step(batch) > targets.tpot_p99_s:
        batch //= 2
    if step(batch) > targets.tpot_p99_s:
        return 0.0
    request_s = cfg.output_tokens * step(batch) + batch * cfg.prompt_tokens * prefill_s_per_token
    return SCREEN_UTILIZATION * batch / request_s


@dataclass(frozen=True)
class _Cost:
    """What `tensor` x `replicas` GPUs of one model cost per hour under the request's acquisition
    mode, and how they are had (a rental, a purchase or hardware the user owns)."""

    usd_per_hour: float
    rental: Rental | None = None
    purchase: Purchase | None = None


def _serving_cost(ranker: _Ranker, gpu: CatalogGpu, tensor: int, replicas: int) -> _Cost | None:
    """Replicas serve independently, so renting needs no cluster: the cheapest offer whose
    instances hold whole replicas, as many instances as the replicas need. Buying and owning
    price all the GPUs as the training recommender does (host limits, electricity)."""
    count = tensor * replicas
    if ranker.mode is Acquisition.rent:
        best: Rental | None = None
        for offer in ranker.market.offers.get(gpu.id, ()):
            g = offer.gpus_per_instance
            if offer.usd_per_instance_hour is None or g < tensor or g % tensor:
                continue
            n = math.ceil(count / g)
            rental = rental_of(offer, n, n * g)
            if best is None or rental.usd_per_hour < best.usd_per_hour:
                best = rental
        return _Cost(best.usd_per_hour, rental=best) if best is not None else None
    if ranker.mode is Acquisition.own and ranker.owned.get(gpu.id, 0) < count:
        return None
    unit = ranker.unit(gpu, count)
    if unit is None or unit.usd_per_hour is None:
        return None
    return _Cost(unit.usd_per_hour, purchase=unit.purchase)


def _user_rate(cfg: ServingConfig) -> float:
    """The load to plan for: the request rate, else closed-loop users at one request per
    (TTFT target + output tokens x TPOT target), a lower bound on their cycle time."""
    if cfg.request_rate:
        return cfg.request_rate
    users = cfg.concurrency or 1
    cycle = cfg.ttft_p90_s + cfg.output_tokens * cfg.tpot_p99_s
    return users / cycle


def recommend_serving(request: RecommendRequest, catalog: LoadedCatalog) -> RecommendResponse:
    """Rank GPUs for serving by cost per million output tokens at the user's load."""
    from app.services.recommend import _exclusion, _Ranker  # shared helpers

    model = resolve_model(request.model, catalog, request.workload)
    ranker = _Ranker(request, catalog, market_for(catalog), {})
    if isinstance(model, CompiledModel) or model.shape.architecture is not Architecture.decoder:
        raise InvalidInputError(
            "serve simulates decoder-only language models",
            detail=[{"loc": ["body", "workload", "task"], "msg": "serve needs a decoder LLM"}],
        )
    assert isinstance(model, ModelDescription)
    shape = model.shape
    cfg = request.workload.serving_config
    constraints = request.constraints
    targets = Targets(cfg.ttft_p90_s, cfg.tpot_p99_s)
    rate = _user_rate(cfg)
    params = float(parameter_count(shape))
    options: list[RecommendOption] = []
    excluded: list[dict[str, str]] = []
    screened: list[_Screen] = []
    for gpu in catalog.gpus:
        reason = _exclusion(gpu, constraints, catalog)
        if reason is not None:
            excluded.append({"gpu": gpu.id, "reason": reason})
            continue
        spec = gpu_spec(gpu)
        if not spec.peak_tflops.get("bf16") and not spec.peak_tflops.get("fp16"):
            excluded.append({"gpu": gpu.id, "reason": "no 16-bit matrix throughput figure"})
            continue
        eff = efficiency_for(spec, "bf16", catalog)
        best: _Screen | None = None
        for t in TP_DEGREES:
            if t > constraints.max_gpus or shape.heads % t:
                continue
            setup = ServingSetup(
                shape, spec, eff, t, cfg.engine, cfg.weight_precision, cfg.kv_cache_precision
            )
            per_replica = _screen(params, cfg, setup, targets, rate)
            if per_replica <= 0:
                continue
            replicas = math.ceil(rate / per_replica - 1e-9)
            if replicas * t > constraints.max_gpus:
                continue
            cost = _serving_cost(ranker, gpu, t, replicas)
            if cost is None:
                continue
            hourly = cost.usd_per_hour
            per_million = hourly / (rate * cfg.output_tokens * 3600) * 1e6 if hourly else None
            candidate = _Screen(gpu, spec, t, per_replica, replicas, hourly, per_million)
            if best is None or (candidate.replicas * t, per_million or math.inf) < (
                best.replicas * best.tensor,
                best.usd_per_million or math.inf,
            ):
                best = candidate
        if best is None:
            option = _option(ranker, gpu, constraints.max_gpus, Verdict.does_not_fit)
            option.reasons.append(
                f"no tensor-parallel degree up to {min(8, constraints.max_gpus)} meets the targets "
                f"(TTFT p90 {cfg.ttft_p90_s:g} s, TPOT p99 {cfg.tpot_p99_s:g} s) within "
                f"{constraints.max_gpus} GPUs"
            )
            options.append(option)
            continue
        screened.append(best)

    screened.sort(key=lambda s: (s.usd_per_million is None, s.usd_per_million or 0.0))
    ranked: list[RecommendOption] = []
    for cand in screened[:FINALISTS]:
        option = _simulate_finalist(cand, cfg, targets, rate, catalog, ranker, model)
        ranked.append(option)
    for cand in screened[FINALISTS:]:
        option = _option(ranker, cand.gpu, cand.tensor * cand.replicas, Verdict.fits)
        _attach_cost(
            option,
            ranker,
            cand.gpu,
            cand.tensor * cand.replicas,
            _serving_cost(ranker, cand.gpu, cand.tensor, cand.replicas),
        )
        option.price_per_gpu_hour_usd = (
            cand.usd_per_hour / (cand.tensor * cand.replicas) if cand.usd_per_hour else None
        )
        option.usd = cand.usd_per_hour
        option.serving = ServingOption(
            tensor_parallel=cand.tensor,
            replicas=cand.replicas,
            max_request_rate_per_replica=cand.rate_per_replica,
            usd_per_million_output_tokens=cand.usd_per_million,
            usd_per_hour=cand.usd_per_hour,
            ttft_p90_s=None,
            tpot_p99_s=None,
            simulated=False,
        )
        option.reasons.append("screened by the static roofline only (not among the finalists)")
        ranked.append(option)

    def key(o: RecommendOption) -> tuple[bool, float, int]:
        s = o.serving
        cost = s.usd_per_million_output_tokens if s else None
        return (cost is None, cost or 0.0, o.count)

    viable = [o for o in ranked if o.verdict is not Verdict.does_not_fit]
    viable.sort(key=key)
    for position, option in enumerate(viable, start=1):
        option.rank = position
    for option in viable[:DETAILED]:
        if option.serving is not None and option.serving.simulated:
            detailed_estimate(option, model, cfg, catalog, request)
    failing = [o for o in ranked if o.verdict is Verdict.does_not_fit] + options
    load = (
        f"{cfg.request_rate:g} requests/s"
        if cfg.request_rate
        else f"{cfg.concurrency or 1} concurrent users (planned as {rate:.3g} requests/s)"
    )
    return RecommendResponse(
        objective=request.objective,
        options=viable + failing,
        excluded=excluded,
        considered=len(catalog.gpus),
        model_parameters=params,
        assumptions=[
            *model.assumptions,
            *model.warnings,
            f"serve: {cfg.engine}, {cfg.prompt_tokens} in / {cfg.output_tokens} out "
            f"({cfg.distribution}), {load}, targets TTFT p90 {cfg.ttft_p90_s:g} s and TPOT p99 "
            f"{cfg.tpot_p99_s:g} s, weights {cfg.weight_precision}, KV {cfg.kv_cache_precision}",
            "ranked by cost per million output tokens at that load: every GPU screened by a "
            f"static roofline, the {FINALISTS} cheapest simulated (continuous batching) for their "
            "capacity within the targets and the replicas the load needs",
        ],
    )


def _simulate_finalist(
    cand: _Screen,
    cfg: ServingConfig,
    targets: Targets,
    rate: float,
    catalog: LoadedCatalog,
    ranker: _Ranker,
    model: ModelDescription,
) -> RecommendOption:
    request = ranker.request
    eff = efficiency_for(cand.spec, "bf16", catalog)
    setup = ServingSetup(
        model.shape, cand.spec, eff, cand.tensor, cfg.engine, cfg.weight_precision,
        cfg.kv_cache_precision,
    )  # fmt: skip
    prepared = prepare(setup)
    traffic = traffic_for(cfg.model_copy(update={"num_requests": FINALIST_REQUESTS}), 1)
    capacity = max_request_rate(
        setup, traffic, targets, prepared.model, prepared.capacity,
        requests=FINALIST_REQUESTS, steps=FINALIST_STEPS,
    )  # fmt: skip
    if capacity.max_request_rate <= 0:
        option = _option(ranker, cand.gpu, cand.tensor, Verdict.does_not_fit)
        option.reasons.append(f"simulated: {capacity.reason or 'no rate meets the targets'}")
        return option
    replicas = max(1, math.ceil(rate / capacity.max_request_rate - 1e-9))
    if cfg.concurrency and not cfg.request_rate:
        # closed loop: fewest replicas whose share of the users meets the targets
        replicas = 1
        while replicas < MAX_REPLICAS:
            run = simulate(
                setup,
                traffic_for(cfg.model_copy(update={"num_requests": FINALIST_REQUESTS}), replicas),
                model=prepared.model,
                capacity=prepared.capacity,
            )
            if targets.met(run):
                break
            replicas *= 2
    count = cand.tensor * replicas
    if count > request.constraints.max_gpus:
        option = _option(ranker, cand.gpu, count, Verdict.does_not_fit)
        option.reasons.append(f"needs {count} GPUs > constraints.max_gpus")
        return option
    cost = _serving_cost(ranker, cand.gpu, cand.tensor, replicas)
    run = simulate(
        setup,
        traffic_for(cfg.model_copy(update={"num_requests": FINALIST_REQUESTS}), replicas),
        model=prepared.model,
        capacity=prepared.capacity,
    )
    tokens_per_s = run.output_tokens_per_second * replicas
    usd_per_hour = cost.usd_per_hour if cost else None
    option = _option(ranker, cand.gpu, count, Verdict.fits)
    _attach_cost(option, ranker, cand.gpu, count, cost)
    option.changes = [f"tensor parallelism {cand.tensor}"] if cand.tensor > 1 else []
    option.usd = usd_per_hour
    option.price_per_gpu_hour_usd = usd_per_hour / count if usd_per_hour else None
    option.memory_per_gpu_gb = (
        prepared.capacity.weights_bytes
        + prepared.capacity.activation_bytes
        + prepared.capacity.kv_bytes
        + prepared.capacity.reserved_bytes
    ) / 1e9
    option.serving = ServingOption(
        tensor_parallel=cand.tensor,
        replicas=replicas,
        max_request_rate_per_replica=capacity.max_request_rate,
        usd_per_million_output_tokens=(
            usd_per_hour / (tokens_per_s * 3600) * 1e6 if usd_per_hour and tokens_per_s else None
        ),
        usd_per_hour=usd_per_hour,
        ttft_p90_s=run.ttft_s["p90"],
        tpot_p99_s=run.tpot_s["p99"],
        simulated=True,
    )
    if not targets.met(run):
        option.reasons.append("the simulated load misses a target at this replica count")
    return option


def _option(ranker: _Ranker, gpu: CatalogGpu, count: int, verdict: Verdict) -> RecommendOption:
    from app.services.recommend import _option as option_for

    capacity = ranker.base_spec(gpu).memory_capacity_bytes
    return option_for(gpu, count, verdict, ranker.mode, capacity)


def _attach_cost(
    option: RecommendOption, ranker: _Ranker, gpu: CatalogGpu, count: int, cost: _Cost | None
) -> None:
    """The offer (rent) or purchase basis (buy) behind an option's hourly price."""
    from app.services.recommend import _offer_ref, _purchase_ref

    if cost is None:
        option.reasons.append(f"no {ranker.mode.value} price for {count} of this GPU")
        return
    if cost.rental is not None:
        option.offer = _offer_ref(cost.rental, ranker.market)
        if option.offer.stale:
            option.warnings.append(
                f"the {cost.rental.offer.provider} {cost.rental.offer.instance} price was "
                f"observed {cost.rental.offer.observed}, over 12 months ago"
            )
    if cost.purchase is not None:
        option.purchase = _purchase_ref(cost.purchase, gpu, count, 0.0, ranker)


def detailed_estimate(
    option: RecommendOption,
    model: ModelDescription,
    cfg: ServingConfig,
    catalog: LoadedCatalog,
    request: RecommendRequest,
) -> None:
    """The full serving estimate (with its throughput-latency curve) behind a ranked option."""
    gpu = catalog.gpu(option.gpu)
    assert gpu is not None
    assert option.serving is not None
    spec = gpu_spec(gpu)
    workload = Workload(
        task="serve",
        parallelism={"tensor": option.serving.tensor_parallel},
        serving=cfg.model_copy(update={"replicas": option.serving.replicas, "curve": True}),
    )
    ctx = EstimateContext(
        gpu=spec,
        count=option.count,
        efficiency=efficiency_for(spec, "bf16", catalog),
        pricing=Pricing(option.price_per_gpu_hour_usd, _price_label(option))
        if option.price_per_gpu_hour_usd
        else pricing_for(gpu, catalog),
        error_band=error_band_for(catalog, "inference"),
        **(
            {"grid_kg_co2_per_kwh": request.grid_kg_co2_per_kwh}
            if request.grid_kg_co2_per_kwh is not None
            else {}
        ),
    )
    option.estimate = estimate(model, workload, ctx, detailed=False)
    option.mfu = option.estimate.time.mfu


def _price_label(option: RecommendOption) -> str:
    if option.offer is not None:
        o = option.offer
        return f"{o.provider} {o.instance}, observed {o.observed}"
    if option.purchase is not None:
        return "bought: amortized purchase plus electricity"
    return f"{option.acquisition.value}"


def serving_curve(response: RecommendResponse) -> dict[str, object] | None:
    """What the results page plots for serve: the best option's throughput-latency curve and
    the targets (None for other tasks)."""
    best = next((o for o in response.options if o.rank == 1), None)
    if best is None or best.estimate is None or best.estimate.serving is None:
        return None
    serving = best.estimate.serving
    if not serving.curve:
        return None
    return {
        "label": f"{best.name}, TP {serving.tensor_parallel}",
        "tpot_p99_s": serving.targets["tpot_p99_s"],
        "ttft_p90_s": serving.targets["ttft_p90_s"],
        "points": [p.model_dump() for p in serving.curve],
    }
