"""The whole estimate: fit, suggestions, time behaviour, input errors, sanity of every number."""

from __future__ import annotations

import math

import pytest

from app.estimator.estimate import EstimateContext, EstimateInputError, ModelDescription, estimate
from app.estimator.hardware import GpuSpec, default_efficiency
from app.estimator.result import Estimate
from app.estimator.workload import Workload
from tests.factories import llama2_shapes

# Figures of the H100 SXM and RTX 4090 catalog records (datasheet values).
H100 = GpuSpec(
    id="nvidia-h100-sxm", name="H100 SXM", vendor="nvidia", architecture="Hopper", segment="datacenter",
    memory_gib=80, memory_bandwidth_gb_s=3350, tdp_w=700, platform="cuda",
    peak_tflops={"fp32": 67, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4, "fp8": 1978.9},
    interconnect_type="nvlink-4", interconnect_bandwidth_gb_s=900, pcie_gen=5,
)  # fmt: skip
RTX_4090 = GpuSpec(
    id="nvidia-geforce-rtx-4090", name="RTX 4090", vendor="nvidia", architecture="Ada Lovelace",
    segment="consumer", memory_gib=24, memory_bandwidth_gb_s=1008, tdp_w=450, platform="cuda",
    peak_tflops={"fp32": 82.6, "bf16": 165.2, "fp16": 165.2, "fp8": 330.3}, pcie_gen=4,
)  # fmt: skip
LLAMA2_7B = ModelDescription("llama-2-7b", llama2_shapes()["7b"])
LLAMA2_70B = ModelDescription("llama-2-70b", llama2_shapes()["70b"])


def _run(
    model: ModelDescription, workload: Workload, gpu: GpuSpec = H100, count: int = 1
) -> Estimate:
    return estimate(
        model, workload, EstimateContext(gpu=gpu, count=count, efficiency=default_efficiency(gpu))
    )


def _numbers(value: object) -> list[float]:
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [float(value)]
    return []


def test_70b_full_finetune_does_not_fit_one_24gb_card_but_gets_a_full_answer() -> None:
    result = _run(LLAMA2_70B, Workload(task="finetune", seq_len=4096), RTX_4090)
    assert result.memory.fits is False
    assert result.bottleneck == "memory_capacity"
    assert result.memory.max_micro_batch == 0
    assert any(w.startswith("does not fit:") for w in result.warnings)
    assert any("full activation checkpointing" in s for s in result.suggestions)
    assert any("QLORA" in s for s in result.suggestions)
    numbers = _numbers(result.model_dump())
    assert all(math.isfinite(n) and n >= 0 for n in numbers), "no negative or non-finite numbers"


def test_7b_qlora_fits_one_24gb_consumer_card() -> None:
    result = _run(
        LLAMA2_7B, Workload(task="qlora", seq_len=2048, activation_checkpointing="full"), RTX_4090
    )
    assert result.memory.fits
    assert result.memory.max_micro_batch >= 1
    assert result.model.trainable_parameters < 0.01 * result.model.parameters


def test_the_fewest_gpus_that_fit_really_fit() -> None:
    workload = Workload(task="pretrain", seq_len=2048, activation_checkpointing="full")
    alone = _run(LLAMA2_70B, workload)
    assert not alone.memory.fits
    assert alone.memory.min_gpus_to_fit is not None
    enough = _run(
        LLAMA2_70B,
        Workload.model_validate({**workload.model_dump(), "parallelism": {"zero_stage": 3}}),
        count=alone.memory.min_gpus_to_fit,
    )
    assert enough.memory.fits


def test_data_parallel_gpus_raise_throughput_sublinearly() -> None:
    workload = Workload(
        task="pretrain", seq_len=4096, micro_batch=1, tokens=1e9, activation_checkpointing="full"
    )
    one = _run(LLAMA2_7B, workload, count=8)
    more = _run(LLAMA2_7B, workload, count=64)
    assert more.time.tokens_per_second > 4 * one.time.tokens_per_second
    assert more.time.per_gpu_tokens_per_second <= one.time.per_gpu_tokens_per_second * 1.0001


def test_mfu_is_a_plausible_fraction() -> None:
    result = _run(LLAMA2_7B, Workload(seq_len=4096, micro_batch=2, activation_checkpointing="full"))
    assert 0.2 < result.time.mfu < 0.8


def test_inference_reports_time_to_first_token_and_decode_rate() -> None:
    workload = Workload(
        task="inference", inference={"prompt_tokens": 2048, "output_tokens": 256, "batch": 8}
    )
    result = _run(LLAMA2_7B, workload)
    assert result.inference is not None
    assert 0 < result.inference.time_to_first_token_s < 2
    # Decode at small batch is bandwidth-bound: weights (13.5 GB) read once per step.
    per_step_floor = 13.5e9 / (3350e9)
    assert result.inference.decode_tokens_per_second_per_sequence < 1 / per_step_floor
    assert result.memory.per_gpu_bytes.kv_cache > 0


def test_training_total_follows_the_token_count() -> None:
    base = {
        "seq_len": 2048,
        "micro_batch": 1,
        "global_batch": 8,
        "activation_checkpointing": "full",
    }
    short = _run(LLAMA2_7B, Workload(**base, tokens=1e9), count=8)
    long = _run(LLAMA2_7B, Workload(**base, tokens=2e9), count=8)
    assert long.time.total_seconds == pytest.approx(2 * short.time.total_seconds)
    assert long.energy.kwh == pytest.approx(2 * short.energy.kwh)


@pytest.mark.parametrize(
    ("workload", "count", "field"),
    [
        (Workload(parallelism={"tensor": 3}), 3, "workload.parallelism.tensor"),
        (Workload(parallelism={"tensor": 2, "pipeline": 2}), 6, "workload.parallelism"),
        (Workload(parallelism={"pipeline": 64}), 64, "workload.parallelism.pipeline"),
        (Workload(micro_batch=2, global_batch=5), 1, "workload.global_batch"),
    ],
)
def test_impossible_layouts_name_the_field(workload: Workload, count: int, field: str) -> None:
    with pytest.raises(EstimateInputError) as caught:
        _run(LLAMA2_7B, workload, count=count)
    assert caught.value.field == field


def test_fp8_on_a_gpu_without_it_warns_and_uses_16_bit() -> None:
    a100 = GpuSpec(
        id="a100", name="A100", vendor="nvidia", architecture="Ampere", segment="datacenter", memory_gib=80,
        memory_bandwidth_gb_s=2039, tdp_w=400, platform="cuda", peak_tflops={"fp32": 19.5, "bf16": 312, "fp16": 312},
    )  # fmt: skip
    result = _run(LLAMA2_7B, Workload(precision="fp8", activation_checkpointing="full"), a100)
    assert any("no fp8" in w for w in result.warnings)


def test_inference_that_does_not_fit_suggests_tensor_parallelism() -> None:
    result = _run(LLAMA2_70B, Workload(task="inference"), count=2)
    assert not result.memory.fits
    assert "tensor parallelism of degree 2 (2 GPUs) fits it" in result.suggestions
