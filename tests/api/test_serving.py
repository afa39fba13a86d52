"""POST /api/v1/estimate with task "serve": the chatbot case, pricing, and clear 4xx answers."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


def _serve(client: TestClient, gpu: str, count: int = 1, tensor: int = 1, **serving: Any) -> Any:
    return client.post(
        "/api/v1/estimate",
        json={
            "model": {"preset": "llama-3.1-8b"},
            "workload": {"task": "serve", "parallelism": {"tensor": tensor}, "serving": serving},
            "hardware": {"gpu": gpu, "count": count},
        },
    )


@pytest.mark.parametrize("gpu", ["nvidia-l4", "nvidia-geforce-rtx-4090"])
def test_a_chatbot_for_50_users_fits_one_l4_class_gpu(client: TestClient, gpu: str) -> None:
    """Issue 12: Llama 3.1 8B for 50 concurrent chat users on one 24 GB card (fp8 weights, as
    vLLM serves it on Ada GPUs): TTFT under a second, priced per hour and per million tokens."""
    response = _serve(
        client, gpu, prompt_tokens=512, output_tokens=256, distribution="sharegpt",
        concurrency=50, weight_precision="fp8", num_requests=2000,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    serving = body["serving"]
    assert body["memory"]["fits"]
    assert serving["ttft_s"]["p90"] < 1.0
    assert serving["meets_targets"]
    assert serving["gpus_for_request_rate"] == 1
    assert serving["dropped"] == 0
    assert serving["completed"] == 2000
    assert serving["usd_per_hour"] > 0
    assert 0 < serving["usd_per_million_output_tokens"] < 5
    assert serving["kwh_per_million_output_tokens"] > 0
    assert serving["output_tokens_per_second"] > 20 * serving["output_tokens_per_second_per_user"]
    assert serving["bottleneck"] in {"kv_capacity", "memory_bandwidth", "compute", "queueing"}
    assert serving["max_request_rate_within_targets"] > 0


def test_bf16_weights_on_a_24_gb_card_are_kv_bound(client: TestClient) -> None:
    body = _serve(
        client, "nvidia-l4", prompt_tokens=1000, output_tokens=500, distribution="sharegpt",
        concurrency=64, num_requests=300,
    ).json()  # fmt: skip
    assert body["serving"]["bottleneck"] == "kv_capacity"
    assert body["serving"]["preemptions"] > 0


@pytest.mark.parametrize(
    ("serving", "field"),
    [
        ({"ttft_p90_s": 0}, "ttft_p90_s"),
        ({"tpot_p99_s": -0.1}, "tpot_p99_s"),
        ({"output_tokens": 0}, "output_tokens"),
        ({"request_rate": 0}, "request_rate"),
        ({"engine": "ollama"}, "engine"),
    ],
)
def test_bad_serving_input_is_a_422_naming_the_field(
    client: TestClient, serving: dict[str, Any], field: str
) -> None:
    response = _serve(client, "nvidia-h100-sxm", **serving)
    assert response.status_code == 422
    assert field in response.text


def test_tensor_parallelism_that_does_not_divide_the_heads_is_a_422(client: TestClient) -> None:
    response = _serve(client, "nvidia-h100-sxm", count=3, tensor=3)
    assert response.status_code == 422
    assert "tensor" in response.text
    assert "heads" in response.text


def test_replicas_must_match_the_gpu_count(client: TestClient) -> None:
    response = _serve(client, "nvidia-h100-sxm", count=4, tensor=2, replicas=3)
    assert response.status_code == 422
    assert "replicas" in response.text


def test_a_rate_one_gpu_cannot_serve_gets_the_fewest_gpus_that_can(client: TestClient) -> None:
    body = _serve(
        client, "nvidia-h100-sxm", prompt_tokens=512, output_tokens=256, request_rate=400.0,
        num_requests=2000,
    ).json()  # fmt: skip
    serving = body["serving"]
    assert not serving["meets_targets"]
    assert serving["gpus_for_request_rate"] > 1
    assert serving["max_request_rate_within_targets"] * serving["gpus_for_request_rate"] >= 400.0
    assert any("targets are missed" in w for w in body["warnings"])


def test_targets_no_gpu_can_meet_say_why(client: TestClient) -> None:
    """A 32k-token prompt cannot reach its first token in 10 ms on any tensor-parallel
    degree: the answer says so instead of searching forever."""
    body = _serve(
        client, "nvidia-l4", prompt_tokens=32_000, output_tokens=16, ttft_p90_s=0.01,
        concurrency=1, num_requests=4, weight_precision="fp8",
    ).json()  # fmt: skip
    serving = body["serving"]
    assert serving["max_request_rate_within_targets"] == 0
    assert serving["gpus_for_request_rate"] is None
    assert any("TTFT alone" in n for n in serving["notes"])
    assert any("no tensor-parallel degree" in n for n in serving["notes"])


def test_a_model_too_large_for_the_gpu_does_not_fit(client: TestClient) -> None:
    response = client.post(
        "/api/v1/estimate",
        json={
            "model": {"preset": "llama-3.1-70b"},
            "workload": {"task": "serve", "serving": {"num_requests": 10, "concurrency": 1}},
            "hardware": {"gpu": "nvidia-l4"},
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert not body["memory"]["fits"]
    assert body["serving"]["bottleneck"] == "kv_capacity"
    assert any("does not fit" in w for w in body["warnings"])


def test_a_cnn_cannot_be_served_as_a_language_model(client: TestClient) -> None:
    response = client.post(
        "/api/v1/estimate",
        json={"model": {"preset": "resnet-50"}, "workload": {"task": "serve"},
              "hardware": {"gpu": "nvidia-l4"}},
    )  # fmt: skip
    assert response.status_code == 422
    assert "serve" in response.text


def test_recommend_for_serve_ranks_by_cost_per_million_tokens(client: TestClient) -> None:
    response = client.post(
        "/api/v1/recommend",
        json={
            "model": {"preset": "llama-3.1-8b"},
            "workload": {"task": "serve", "serving": {"request_rate": 5.0, "prompt_tokens": 512,
                                                       "output_tokens": 256}},
            "constraints": {"max_gpus": 8, "cloud_priced_only": True},
        },
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    ranked = [o for o in body["options"] if o["rank"] is not None]
    assert len(ranked) >= 3
    costs = [o["serving"]["usd_per_million_output_tokens"] for o in ranked]
    assert costs == sorted(costs)
    best = ranked[0]
    assert best["serving"]["simulated"]
    assert best["count"] == best["serving"]["tensor_parallel"] * best["serving"]["replicas"]
    assert best["serving"]["max_request_rate_per_replica"] * best["serving"]["replicas"] >= 5.0
    curve = best["estimate"]["serving"]["curve"]
    assert len(curve) >= 4
    assert (
        curve[-1]["output_tokens_per_second_per_gpu"] > curve[0]["output_tokens_per_second_per_gpu"]
    )
    assert (
        curve[-1]["output_tokens_per_second_per_user"]
        < curve[0]["output_tokens_per_second_per_user"]
    )
