"""POST /api/v1/estimate: every way to describe a model, and clear 4xx errors."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

CONTRACT_TOP = {"model", "memory", "compute", "time", "inference", "cost", "energy", "bottleneck",
                "error_band", "assumptions", "warnings"}  # fmt: skip


def _post(client: TestClient, body: dict[str, Any]) -> Any:
    return client.post("/api/v1/estimate", json=body)


def test_preset_estimate_has_every_contract_field(client: TestClient) -> None:
    response = _post(
        client,
        {
            "model": {"preset": "llama-2-7b"},
            "workload": {"task": "pretrain", "precision": "bf16", "seq_len": 4096, "micro_batch": 1,
                         "global_batch": 1024, "tokens": 2e12, "activation_checkpointing": "full",
                         "parallelism": {"zero_stage": 1, "tensor": 1, "pipeline": 1}},
            "hardware": {"gpu": "nvidia-h100-sxm", "count": 8},
        },
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.keys() >= CONTRACT_TOP
    assert set(body["memory"]["per_gpu_bytes"]) == {
        "weights", "gradients", "optimizer_states", "activations", "kv_cache", "overhead"
    }  # fmt: skip
    assert body["model"]["parameters"] == 6_738_415_616
    assert body["time"]["efficiency_source"].startswith(("published:", "default:", "probe:"))
    assert body["cost"]["usd"] > 0
    assert body["cost"]["price_source"]
    assert body["error_band"]["basis"]


@pytest.mark.parametrize(
    "model",
    [
        {"transformer": {"layers": 32, "hidden_size": 4096, "heads": 32, "kv_heads": 32, "ffn_hidden_size": 11008,
                         "vocab_size": 32000, "gated_ffn": True, "tied_embeddings": False, "experts": 1,
                         "experts_per_token": 1}},
        {"hf_config": {"model_type": "llama", "num_hidden_layers": 32, "hidden_size": 4096,
                       "num_attention_heads": 32, "intermediate_size": 11008, "vocab_size": 32000,
                       "architectures": ["LlamaForCausalLM"], "unknown_field": 1}},
    ],
)  # fmt: skip
def test_dimensions_and_config_json_give_the_preset_count(
    client: TestClient, model: dict[str, Any]
) -> None:
    body = _post(client, {"model": model, "hardware": {"gpu": "nvidia-a100-sxm4-80gb"}}).json()
    assert body["model"]["parameters"] == 6_738_415_616


def test_bare_parameter_count_warns_that_the_shape_is_assumed(client: TestClient) -> None:
    body = _post(
        client, {"model": {"parameters": 7e9}, "hardware": {"gpu": "nvidia-a100-sxm4-80gb"}}
    ).json()
    assert body["model"]["shape_assumed"] is True
    assert any("shape assumed" in w for w in body["warnings"])


def test_model_that_does_not_fit_still_gets_a_full_answer(client: TestClient) -> None:
    body = _post(
        client,
        {"model": {"preset": "llama-2-70b"}, "workload": {"task": "finetune"},
         "hardware": {"gpu": "nvidia-geforce-rtx-4090"}},
    ).json()  # fmt: skip
    assert body["memory"]["fits"] is False
    assert body["bottleneck"] == "memory_capacity"
    assert body["suggestions"]
    assert body["time"]["step_seconds"] > 0


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"model": {"preset": "llama-9"}, "hardware": {"gpu": "nvidia-t4"}}, 422, "unknown preset 'llama-9'"),
        ({"model": {"preset": "llama-2-7b"}, "hardware": {"gpu": "nvidia-h900"}}, 404, "no GPU with id 'nvidia-h900'"),
        ({"model": {"preset": "llama-2-7b"}, "workload": {"seq_len": 0}, "hardware": {"gpu": "nvidia-t4"}}, 422,
         "body.workload.seq_len"),
        ({"model": {"parameters": -5}, "hardware": {"gpu": "nvidia-t4"}}, 422, "body.model.parameters"),
        ({"model": {"transformer": {"layers": 2, "hidden_size": 100, "heads": 3}}, "hardware": {"gpu": "nvidia-t4"}},
         422, "heads (3) must divide hidden_size (100)"),
        ({"model": {"preset": "llama-2-7b"}, "workload": {"parallelism": {"tensor": 3}},
          "hardware": {"gpu": "nvidia-h100-sxm", "count": 3}}, 422, "must divide the attention heads (32)"),
        ({"model": {"hf_config": {"model_type": "falcon"}}, "hardware": {"gpu": "nvidia-t4"}}, 422,
         "model_type 'falcon' is not supported"),
        ({"model": {"hf_config": {"model_type": "gpt2", "n_layer": 12}}, "hardware": {"gpu": "nvidia-t4"}}, 422,
         "missing required field(s): n_embd, n_head, vocab_size"),
        ({"model": {"preset": "llama-2-7b", "parameters": 7e9}, "hardware": {"gpu": "nvidia-t4"}}, 422,
         "exactly one of"),
        ({"model": {"preset": "llama-2-7b"}, "workload": {"task": "dance"}, "hardware": {"gpu": "nvidia-t4"}}, 422,
         "body.workload.task"),
        ({"model": {"preset": "llama-2-7b"}, "hardware": {"gpu": "nvidia-t4", "count": 0}}, 422, "body.hardware.count"),
    ],
)  # fmt: skip
def test_bad_input_is_a_4xx_naming_the_problem(
    client: TestClient, body: dict[str, Any], status: int, needle: str
) -> None:
    response = _post(client, body)
    assert response.status_code == status, response.text
    assert needle in response.json()["error"]


def test_cnn_and_rnn_presets_use_their_compiled_costs(client: TestClient) -> None:
    for preset in ("resnet-50", "lstm-zaremba-large-ptb"):
        body = _post(
            client,
            {"model": {"preset": preset},
             "workload": {"task": "pretrain", "micro_batch": 64, "samples": 1_000_000, "epochs": 1},
             "hardware": {"gpu": "nvidia-a100-sxm4-80gb", "count": 1}},
        )  # fmt: skip
        assert body.status_code == 200, body.text
        result = body.json()
        assert result["memory"]["fits"]
        assert result["time"]["total_seconds"] > 0
        assert any("model_costs.yaml" in a for a in result["assumptions"])


def test_a_compiled_cost_model_refuses_tensor_parallelism(client: TestClient) -> None:
    response = _post(
        client,
        {"model": {"preset": "resnet-50"}, "workload": {"parallelism": {"tensor": 2}},
         "hardware": {"gpu": "nvidia-a100-sxm4-80gb", "count": 2}},
    )  # fmt: skip
    assert response.status_code == 422
    assert "data-parallel only" in response.json()["error"]


@pytest.mark.parametrize(
    ("hardware", "workload", "field", "says"),
    [
        ({"gpu": "nvidia-h100-sxm", "power_limit_w": 800}, {}, "power_limit_w", "between 233 and 700"),
        ({"gpu": "nvidia-h100-sxm", "power_limit_w": 200}, {}, "power_limit_w", "between 233 and 700"),
        ({"gpu": "nvidia-h100-sxm", "network_gbps_per_gpu": 0}, {}, "network_gbps_per_gpu", "greater than 0"),
        ({"gpu": "nvidia-h100-sxm", "count": 12, "gpus_per_node": 8}, {}, "gpus_per_node", "must divide"),
        ({"gpu": "nvidia-h100-sxm"}, {"precision": "fp32", "attention": "flash"}, "attention", "fp16/bf16"),
        ({"gpu": "nvidia-v100-sxm2-16gb"}, {"attention": "flash", "precision": "fp16"}, "attention", "Ampere"),
        ({"gpu": "nvidia-h100-sxm"}, {"runtime": "jit"}, "runtime", "compiled"),
    ],
)  # fmt: skip
def test_bad_hardware_and_runtime_inputs_are_422_naming_the_field_and_range(
    client: TestClient, hardware: dict[str, Any], workload: dict[str, Any], field: str, says: str
) -> None:
    response = _post(
        client, {"model": {"preset": "llama-2-7b"}, "workload": workload, "hardware": hardware}
    )
    assert response.status_code == 422, response.text
    assert field in response.text
    assert says in response.text


def test_attention_on_a_model_without_attention_is_422(client: TestClient) -> None:
    response = _post(
        client,
        {"model": {"preset": "resnet-50"}, "workload": {"attention": "sdpa"},
         "hardware": {"gpu": "nvidia-a100-sxm4-80gb"}},
    )  # fmt: skip
    assert response.status_code == 422
    assert "workload.attention" in response.text or "attention" in response.json()["error"]


def test_a_power_cap_slows_matrix_work_and_both_memory_figures_are_reported(
    client: TestClient,
) -> None:
    """H100 at 500 of 700 W: clock x ((500 - 70) / (700 - 70))^(1/3) = 0.8805."""
    body = {"model": {"preset": "llama-2-7b"},
            "workload": {"seq_len": 4096, "micro_batch": 2, "runtime": "compiled"},
            "hardware": {"gpu": "nvidia-h100-sxm", "count": 1}}  # fmt: skip
    full = _post(client, body).json()
    body["hardware"]["power_limit_w"] = 500
    capped = _post(client, body).json()
    ratio = capped["time"]["per_gpu_tokens_per_second"] / full["time"]["per_gpu_tokens_per_second"]
    assert 0.88 < ratio < 0.95  # matrix work x 0.8805; bandwidth-bound work unchanged
    assert any("power cap 500 W" in a for a in capped["assumptions"])
    memory = full["memory"]
    assert memory["device_used_gb"] == memory["total_per_gpu_gb"]
    assert 0 < memory["allocated_peak_gb"] < memory["device_used_gb"]
