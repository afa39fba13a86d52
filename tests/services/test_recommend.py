"""Recommendations with known answers."""

from __future__ import annotations

from typing import Any

import pytest

from app.schemas.recommend import RecommendRequest, RecommendResponse, Verdict
from app.services.catalog import LoadedCatalog
from app.services.recommend import recommend


def _recommend(catalog: LoadedCatalog, body: dict[str, Any]) -> RecommendResponse:
    return recommend(RecommendRequest.model_validate(body), catalog)


def _option(response: RecommendResponse, gpu: str) -> Any:
    return next(o for o in response.options if o.gpu == gpu)


def test_70b_bf16_full_finetune_never_recommends_one_24gb_card(catalog: LoadedCatalog) -> None:
    response = _recommend(
        catalog,
        {
            "model": {"preset": "llama-2-70b"},
            "workload": {"task": "finetune", "precision": "bf16", "seq_len": 2048},
        },
    )
    for option in response.options:
        if option.capacity_gb < 30 and option.verdict is not Verdict.does_not_fit:
            assert option.count > 1, f"{option.gpu} recommended alone"


def test_7b_qlora_fits_one_24gb_consumer_card(catalog: LoadedCatalog) -> None:
    response = _recommend(
        catalog,
        {"model": {"preset": "llama-2-7b"}, "workload": {"task": "qlora", "seq_len": 2048},
         "constraints": {"segments": ["consumer"]}},
    )  # fmt: skip
    rtx_4090 = _option(response, "nvidia-geforce-rtx-4090")
    assert rtx_4090.count == 1
    assert rtx_4090.verdict is not Verdict.does_not_fit


def test_budget_removes_options_over_it(catalog: LoadedCatalog) -> None:
    body = {"model": {"preset": "llama-3-8b"}, "workload": {"task": "pretrain", "seq_len": 4096, "tokens": 2e10},
            "constraints": {"cloud_priced_only": True, "max_gpus": 16}}  # fmt: skip
    free = _recommend(catalog, body)
    costs = sorted(o.usd for o in free.options if o.usd is not None)
    budget = costs[len(costs) // 2]
    limited = _recommend(
        catalog, {**body, "constraints": {**body["constraints"], "max_budget_usd": budget}}
    )
    assert limited.options
    assert all(
        o.usd is not None and o.usd <= budget
        for o in limited.options
        if o.verdict is not Verdict.does_not_fit
    )
    assert any("over max_budget_usd" in e["reason"] for e in limited.excluded)


def test_framework_constraint_removes_unsupported_gpus(catalog: LoadedCatalog) -> None:
    response = _recommend(
        catalog,
        {
            "model": {"preset": "gpt2"},
            "workload": {"task": "pretrain"},
            "constraints": {"framework": "jax"},
        },
    )
    for option in response.options:
        gpu = catalog.gpu(option.gpu)
        assert gpu is not None
        assert gpu.ecosystem.frameworks.jax is True
    assert any(e["reason"] == "jax does not officially support it" for e in response.excluded)


def test_fp8_requirement_keeps_only_fp8_hardware(catalog: LoadedCatalog) -> None:
    response = _recommend(
        catalog, {"model": {"preset": "gpt2"}, "constraints": {"min_precision": "fp8"}}
    )
    assert all(
        (g := catalog.gpu(o.gpu)) is not None and g.peak_tflops.fp8 for o in response.options
    )


@pytest.mark.parametrize("objective", ["fastest", "cheapest", "balanced"])
def test_ranking_follows_the_objective(catalog: LoadedCatalog, objective: str) -> None:
    response = _recommend(
        catalog,
        {"model": {"preset": "llama-2-7b"}, "workload": {"task": "lora", "tokens": 1e8},
         "constraints": {"cloud_priced_only": True}, "objective": objective},
    )  # fmt: skip
    ranked = [o for o in response.options if o.rank is not None]
    assert [o.rank for o in ranked] == list(range(1, len(ranked) + 1))
    if objective == "fastest":
        hours = [o.total_hours for o in ranked]
        assert hours == sorted(hours)
    if objective == "cheapest":
        costs = [o.usd for o in ranked]
        assert costs == sorted(costs)
    assert any(o.pareto for o in ranked)


def test_pareto_options_are_not_dominated(catalog: LoadedCatalog) -> None:
    response = _recommend(
        catalog, {"model": {"preset": "llama-2-7b"}, "workload": {"task": "lora", "tokens": 1e8}}
    )
    priced = [o for o in response.options if o.usd is not None and o.total_hours is not None]
    for o in (o for o in priced if o.pareto):
        assert not any(p.usd < o.usd and p.total_hours < o.total_hours for p in priced)


def test_memory_savers_are_reported_as_changes(catalog: LoadedCatalog) -> None:
    response = _recommend(
        catalog,
        {"model": {"preset": "llama-2-13b"}, "workload": {"task": "finetune", "seq_len": 4096},
         "constraints": {"max_gpus": 8}},
    )  # fmt: skip
    a100 = _option(response, "nvidia-a100-sxm4-80gb")
    assert a100.verdict is Verdict.fits_with_changes
    assert a100.changes


def test_nothing_allowed_means_does_not_fit(catalog: LoadedCatalog) -> None:
    response = _recommend(
        catalog,
        {"model": {"preset": "llama-3.1-405b"}, "workload": {"task": "finetune"},
         "constraints": {"max_gpus": 1, "allow": {"activation_checkpointing": False, "zero": False,
                                                  "optimizer_8bit": False}}},
    )  # fmt: skip
    assert all(o.verdict is Verdict.does_not_fit for o in response.options)


def test_resnet_50_is_ranked_from_its_compiled_costs(catalog: LoadedCatalog) -> None:
    response = _recommend(
        catalog,
        {"model": {"preset": "resnet-50"},
         "workload": {"task": "pretrain", "micro_batch": 256, "samples": 1281167, "epochs": 90},
         "constraints": {"max_gpus": 8, "cloud_priced_only": True}, "objective": "fastest"},
    )  # fmt: skip
    assert response.options[0].rank == 1
    assert response.options[0].total_hours is not None


def test_70b_inference_is_split_with_tensor_parallelism_on_80gb_cards(
    catalog: LoadedCatalog,
) -> None:
    response = _recommend(
        catalog,
        {"model": {"preset": "llama-3.1-70b"},
         "workload": {"task": "inference", "inference": {"prompt_tokens": 1024, "output_tokens": 256, "batch": 4}}},
    )  # fmt: skip
    h100 = _option(response, "nvidia-h100-sxm")
    assert h100.verdict is Verdict.fits_with_changes
    assert h100.count >= 2  # rented as whole instances (1 or 8 GPUs): 70B needs more than one
    assert h100.changes == [f"tensor parallelism of degree {min(h100.count, 8)}"]
