"""Inputs that rule out every GPU are one error naming the fields, not a table of non-fits."""

from __future__ import annotations

from typing import Any

import pytest

from app.errors import InvalidInputError
from app.schemas.recommend import RecommendRequest, Verdict
from app.services.catalog import LoadedCatalog
from app.services.recommend import recommend


def _request(workload: dict[str, Any], **extra: Any) -> RecommendRequest:
    return RecommendRequest.model_validate(
        {"model": {"preset": "llama-2-7b"}, "workload": workload, **extra}
    )


def test_global_batch_no_gpu_count_can_split_is_an_error_naming_both_fields(
    catalog: LoadedCatalog,
) -> None:
    with pytest.raises(InvalidInputError) as raised:
        recommend(_request({"task": "finetune", "global_batch": 3, "micro_batch": 2}), catalog)
    assert raised.value.fields == ("workload.global_batch", "workload.micro_batch")
    assert "multiple of micro_batch (2)" in raised.value.message
    assert [d["loc"] for d in raised.value.detail] == [
        ["body", "workload", "global_batch"],
        ["body", "workload", "micro_batch"],
    ]


def test_global_batch_that_some_counts_split_still_ranks(catalog: LoadedCatalog) -> None:
    # 6 = 2 x 3: one GPU (3 micro-batches) works, two or more do not divide it.
    response = recommend(
        _request({"task": "qlora", "global_batch": 6, "micro_batch": 2, "tokens": 1e7}), catalog
    )
    ranked = [o for o in response.options if o.rank is not None]
    assert ranked
    assert {o.count for o in ranked} == {1}


def test_tensor_degree_that_divides_no_count_is_an_error_naming_the_field(
    catalog: LoadedCatalog,
) -> None:
    with pytest.raises(InvalidInputError) as raised:
        recommend(
            _request(
                {"task": "finetune", "parallelism": {"tensor": 3}}, constraints={"max_gpus": 8}
            ),
            catalog,
        )
    assert raised.value.fields == ("workload.parallelism",)


def test_a_gpu_that_does_not_fit_says_how_much_it_needs(catalog: LoadedCatalog) -> None:
    response = recommend(
        RecommendRequest.model_validate(
            {"model": {"preset": "llama-2-70b"}, "workload": {"task": "finetune"},
             "constraints": {"max_gpus": 1}}
        ),
        catalog,
    )  # fmt: skip
    small = next(o for o in response.options if o.gpu == "nvidia-geforce-rtx-4090")
    assert small.verdict is Verdict.does_not_fit
    assert "needs at least" in small.reasons[0]
    assert f"has {small.capacity_gb:,.1f} GB" in small.reasons[0]
    assert "(on 1 GPU with" in small.reasons[0]
