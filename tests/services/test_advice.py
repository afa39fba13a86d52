"""Advice a person can act on (issue 11): rent / buy / own, feasible counts, software gate."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from app.schemas.catalog import SoftwareSupport
from app.schemas.recommend import RecommendRequest, RecommendResponse, Verdict
from app.services.catalog import LoadedCatalog
from app.services.market import market_for
from app.services.recommend import recommend

# The four jobs of issue 11 whose default answer was 8 consumer cards bought at launch price.
CASES: dict[str, dict[str, Any]] = {
    "full fine-tune Llama 3.1 8B on 1B tokens": {
        "model": {"preset": "llama-3.1-8b"},
        "workload": {"task": "finetune", "seq_len": 4096, "tokens": 1e9},
    },
    "1.3B pretraining": {
        "model": {"parameters": 1.3e9},
        "workload": {"task": "pretrain", "seq_len": 2048, "tokens": 2.6e10},
    },
    "chatbot inference": {
        "model": {"preset": "llama-3.1-8b"},
        "workload": {
            "task": "inference",
            "inference": {"prompt_tokens": 1024, "output_tokens": 256, "batch": 8},
        },
    },
    "GPT-2 124M": {"model": {"preset": "gpt2"}, "workload": {"task": "pretrain", "tokens": 1e10}},
}


def _recommend(catalog: LoadedCatalog, body: dict[str, Any]) -> RecommendResponse:
    return recommend(RecommendRequest.model_validate(body), catalog)


def _source(title: str = "Test source") -> dict[str, Any]:
    return {"title": title, "url": "https://example.org/x", "retrieved": "2026-11-25"}


@pytest.mark.parametrize("case", CASES)
def test_default_answer_names_a_dated_rentable_instance(catalog: LoadedCatalog, case: str) -> None:
    response = _recommend(catalog, CASES[case])
    assert response.acquisition.value == "rent"
    best = response.options[0]
    assert best.rank == 1
    gpu = catalog.gpu(best.gpu)
    assert gpu is not None
    assert best.offer is not None
    if gpu.segment.value == "consumer":
        # A consumer card is only offered as a cloud rents it: one instance, no cluster.
        assert best.offer.instances == 1
    offers = {(o.provider, o.instance, o.gpu): o for o in catalog.offers}
    offer = offers[(best.offer.provider, best.offer.instance, best.gpu)]
    assert best.offer.observed == offer.observed.isoformat()
    assert best.offer.source["url"].startswith("http")
    # The job pays for whole instances, and the price per instance is the catalog's.
    assert best.count == best.offer.instances * best.offer.gpus_per_instance
    assert best.offer.usd_per_instance_hour == pytest.approx(offer.usd_per_instance_hour)
    assert best.usd == pytest.approx(
        best.offer.instances * best.offer.usd_per_instance_hour * (best.total_hours or 0)
    )
    assert all(o.acquisition.value == "rent" and o.offer for o in response.options if o.rank)


@pytest.mark.parametrize("mode", ["rent", "buy"])
@pytest.mark.parametrize("case", CASES)
def test_no_consumer_gpu_above_its_host_limit(catalog: LoadedCatalog, case: str, mode: str) -> None:
    response = _recommend(catalog, {**CASES[case], "acquisition": mode, "max_options": 500})
    market = market_for(catalog)
    for option in response.options:
        gpu = catalog.gpu(option.gpu)
        assert gpu is not None
        if gpu.segment.value != "datacenter":
            assert option.count <= market.facts(gpu).max_per_host, option


def test_buy_shows_upfront_cost_and_breakeven_against_renting(catalog: LoadedCatalog) -> None:
    response = _recommend(
        catalog,
        {**CASES["GPT-2 124M"], "acquisition": "buy", "max_options": 500,
         "constraints": {"segments": ["consumer"], "vendors": ["nvidia"]}},
    )  # fmt: skip
    rtx_4090 = next(o for o in response.options if o.gpu == "nvidia-geforce-rtx-4090")
    assert rtx_4090.acquisition.value == "buy"
    assert rtx_4090.offer is None
    purchase = rtx_4090.purchase
    assert purchase is not None
    assert purchase.upfront_usd >= rtx_4090.count * purchase.gpu_usd_each > 0
    assert purchase.breakeven_hours_vs_rent is not None
    assert purchase.breakeven_hours_vs_rent > 0
    assert rtx_4090.usd == pytest.approx(purchase.usd_per_hour_owned * (rtx_4090.total_hours or 0))
    assert any("break-even vs renting" in line for line in purchase.basis)


def test_own_one_rtx_4090_costs_electricity_only(catalog: LoadedCatalog) -> None:
    response = _recommend(
        catalog,
        {**CASES["GPT-2 124M"], "acquisition": "own", "usd_per_kwh": 0.30,
         "owned": [{"gpu": "nvidia-geforce-rtx-4090", "count": 1}]},
    )  # fmt: skip
    assert [o.gpu for o in response.options] == ["nvidia-geforce-rtx-4090"]
    option = response.options[0]
    assert option.count == 1
    assert option.offer is None
    assert option.purchase is None
    gpu = catalog.gpu("nvidia-geforce-rtx-4090")
    assert gpu is not None
    assert gpu.tdp_w
    pue = market_for(catalog).ownership.pue
    kwh = gpu.tdp_w * pue / 1000 * (option.total_hours or 0)
    assert option.usd == pytest.approx(kwh * 0.30)


def test_a_gpu_without_offers_is_absent_from_rent_answers(catalog: LoadedCatalog) -> None:
    rented = {o.gpu for o in catalog.offers}
    unrented = [g.id for g in catalog.gpus if g.id not in rented]
    assert unrented
    response = _recommend(catalog, {**CASES["GPT-2 124M"], "max_options": 500})
    assert not {o.gpu for o in response.options} & set(unrented)
    reasons = {e["gpu"]: e["reason"] for e in response.excluded}
    assert reasons[unrented[0]].startswith("no rental offer")

    # Take the H100's offers away: it disappears from the answer too.
    without = dataclasses.replace(
        catalog, offers=tuple(o for o in catalog.offers if o.gpu != "nvidia-h100-sxm")
    )
    response = _recommend(without, {**CASES["GPT-2 124M"], "max_options": 500})
    assert "nvidia-h100-sxm" not in {o.gpu for o in response.options}


def _with_support(catalog: LoadedCatalog, *rows: dict[str, Any]) -> LoadedCatalog:
    return dataclasses.replace(
        catalog, software=tuple(SoftwareSupport.model_validate(r) for r in rows)
    )


def test_an_unsupported_technique_removes_the_option_with_its_reason(
    catalog: LoadedCatalog,
) -> None:
    rx = catalog.gpu("amd-radeon-rx-9070-xt")
    assert rx is not None
    gated = _with_support(
        catalog,
        {"architectures": [rx.architecture], "technique": "bitsandbytes", "level": "unsupported",
         "source": _source("bitsandbytes multi-backend support matrix")},
    )  # fmt: skip
    body = {"model": {"preset": "llama-2-7b"}, "workload": {"task": "qlora", "tokens": 1e7},
            "acquisition": "buy", "constraints": {"segments": ["consumer"]}, "max_options": 500}  # fmt: skip
    before = _recommend(catalog, body)
    assert "amd-radeon-rx-9070-xt" in {o.gpu for o in before.options}
    after = _recommend(gated, body)
    assert "amd-radeon-rx-9070-xt" not in {o.gpu for o in after.options}
    reason = {e["gpu"]: e["reason"] for e in after.excluded}["amd-radeon-rx-9070-xt"]
    assert "bitsandbytes" in reason
    assert "unsupported" in reason
    assert "bitsandbytes multi-backend support matrix" in reason


def test_an_unsupported_memory_saver_is_not_applied(catalog: LoadedCatalog) -> None:
    body = {"model": {"preset": "llama-2-13b"}, "workload": {"task": "finetune", "seq_len": 4096, "tokens": 1e8},
            "constraints": {"max_gpus": 8}, "max_options": 500}  # fmt: skip
    a100 = catalog.gpu("nvidia-a100-sxm4-80gb")
    assert a100 is not None
    gated = _with_support(
        catalog,
        {"gpus": [a100.id], "technique": "fsdp", "level": "unsupported", "source": _source()},
        {"gpus": [a100.id], "technique": "bitsandbytes", "level": "unsupported",
         "source": _source()},
    )  # fmt: skip
    for option in _recommend(gated, body).options:
        if option.gpu == a100.id:
            assert not any("ZeRO-3" in c or "8-bit" in c for c in option.changes)


def test_community_support_warns_and_ranks_lower_under_balanced(catalog: LoadedCatalog) -> None:
    body = {**CASES["GPT-2 124M"], "workload": {"task": "pretrain", "tokens": 1e10,
            "flash_attention": True}, "max_options": 500}  # fmt: skip
    plain = _recommend(catalog, body)
    top = plain.options[0]
    top_gpu = catalog.gpu(top.gpu)
    assert top_gpu is not None
    gated = _with_support(
        catalog,
        {"gpus": [top_gpu.id], "technique": "flash-attention", "level": "community",
         "source": _source("community port")},
    )  # fmt: skip
    after = _recommend(gated, body)
    moved = next(o for o in after.options if o.gpu == top_gpu.id)
    assert any("community-supported" in w for w in moved.warnings)
    assert moved.rank is not None
    assert moved.rank > 1


def test_stale_offers_are_marked(catalog: LoadedCatalog) -> None:
    old = dt.date(2020, 1, 1)
    aged = dataclasses.replace(
        catalog, offers=tuple(o.model_copy(update={"observed": old}) for o in catalog.offers)
    )
    response = _recommend(aged, CASES["GPT-2 124M"])
    best = response.options[0]
    assert best.offer is not None
    assert best.offer.stale
    assert any("over 12 months ago" in w for w in best.warnings)


def test_fastest_searches_gpu_counts_up_to_max_gpus(catalog: LoadedCatalog) -> None:
    body = {**CASES["1.3B pretraining"], "objective": "fastest", "max_options": 500,
            "constraints": {"max_gpus": 64}}  # fmt: skip
    h100 = next(o for o in _recommend(catalog, body).options if o.gpu == "nvidia-h100-sxm")
    assert h100.count > 8  # clusters of 8-GPU instances, not the fewest GPUs that fit
    limited = {**body, "constraints": {"max_gpus": 8}}
    h100_8 = next(o for o in _recommend(catalog, limited).options if o.gpu == "nvidia-h100-sxm")
    assert h100_8.count == 8
    assert (h100.total_hours or 0) < (h100_8.total_hours or 0)


def test_smaller_micro_batch_is_tried_before_checkpointing(catalog: LoadedCatalog) -> None:
    body = {"model": {"preset": "llama-3.1-8b"},
            "workload": {"task": "lora", "seq_len": 4096, "micro_batch": 16, "tokens": 1e8},
            "objective": "cheapest", "max_options": 500}  # fmt: skip
    response = _recommend(catalog, body)
    changed = [o for o in response.options if o.changes]
    assert changed
    for option in changed:
        if "full activation checkpointing" in option.changes:
            assert option.changes[0].startswith("micro-batch 1 ")
    assert any(o.changes[0].startswith("micro-batch") for o in changed)


def test_max_hours_is_met_by_searching_counts(catalog: LoadedCatalog) -> None:
    body = {**CASES["1.3B pretraining"], "max_options": 500}
    free = _recommend(catalog, body)
    slowest = max(o.total_hours or 0 for o in free.options if o.rank)
    limit = slowest / 4
    limited = _recommend(catalog, {**body, "constraints": {"max_hours": limit}})
    assert limited.options
    assert all((o.total_hours or 0) <= limit for o in limited.options if o.rank)
    assert any("max_hours" in e["reason"] for e in limited.excluded)


def test_options_carry_ranges_from_the_error_band(catalog: LoadedCatalog) -> None:
    response = _recommend(catalog, CASES["full fine-tune Llama 3.1 8B on 1B tokens"])
    for option in response.options:
        if option.verdict is Verdict.does_not_fit:
            continue
        assert option.hours_low is not None
        assert option.hours_high is not None
        assert option.cost_usd_low is not None
        assert option.cost_usd_high is not None
        assert option.hours_low < (option.total_hours or 0) < option.hours_high
        assert option.cost_usd_low < (option.usd or 0) < option.cost_usd_high
        assert isinstance(option.validated, bool)
    assert response.groups == {"rent": list(range(len(response.options)))}


@pytest.mark.parametrize("objective", ["fastest", "cheapest", "balanced"])
@pytest.mark.parametrize("case", ["1.3B pretraining", "chatbot inference"])
def test_pruning_keeps_the_same_best_options(
    catalog: LoadedCatalog, case: str, objective: str
) -> None:
    """Branch and bound returns the same top options as ranking everything."""
    body = {**CASES[case], "objective": objective}
    pruned = _recommend(catalog, {**body, "max_options": 5})
    full = _recommend(catalog, {**body, "max_options": 500})
    top = [(o.gpu, o.count) for o in full.options if o.rank][:5]
    assert [(o.gpu, o.count) for o in pruned.options if o.rank] == top
    assert pruned.pruned > 0
