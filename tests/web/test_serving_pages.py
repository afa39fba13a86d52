"""The form with task "serve": a ranked answer per million tokens and the serving curve."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

SERVE_FORM = {
    "model_source": "preset", "preset": "llama-3.1-8b", "task": "serve", "precision": "bf16",
    "optimizer": "adamw", "activation_checkpointing": "none", "max_gpus": "8", "objective": "cheapest",
    "cloud_priced_only": "on", "serve_prompt_tokens": "512", "serve_output_tokens": "256",
    "serve_concurrency": "50", "serve_request_rate": "", "serve_ttft_p90_s": "1", "serve_tpot_p99_s": "0.1",
    "serve_weight_precision": "fp8", "serve_engine": "vllm",
}  # fmt: skip


def test_serving_form_gives_cost_per_million_tokens_and_the_curve(client: TestClient) -> None:
    response = client.post("/", data=SERVE_FORM, follow_redirects=False)
    assert response.status_code == 303, response.text
    page = client.get(response.headers["location"]).text
    assert "per million output tokens" in page
    assert 'id="serving-curve"' in page
    data = json.loads(re.search(r'id="serving-data">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]
    assert data["tpot_p99_s"] == 0.1
    assert len(data["points"]) >= 4


def test_a_serving_target_of_zero_is_shown_beside_its_field(client: TestClient) -> None:
    response = client.post("/", data={**SERVE_FORM, "serve_ttft_p90_s": "0"})
    assert response.status_code == 422
    assert 'id="serve_ttft_p90_s-error"' in response.text
