"""Every workload at tiny sizes on the CPU: sane numbers, analytic counts, result records."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import jax
import jax.numpy as jnp
import pytest

from probes.runner import PROBES, run_suite
from probes.timing import xla_flop_count
from probes.workloads import attention, bandwidth, collective, matmul, train_step
from probes.workloads.common import ProbeConfig, Result, format_bytes
from tests.probes.conftest import CPU_BANDWIDTH_CEILING_GB_S, cpu_ceiling_tflops

TIMING_FIELDS = ("median_s", "min_s", "max_s", "stdev_s", "iqr_s", "repeats", "compile_s")
# Analytic training FLOPs vs XLA's count of the same step; XLA also counts softmax, norms and
# the optimizer, a few tenths of a percent at this size (measured 0.7% for the gradient alone).
TRAIN_FLOPS_TOLERANCE = 0.02


@pytest.fixture(scope="module")
def tiny_results(tiny: ProbeConfig) -> list[Result]:
    """One tiny run of every probe, shared by the checks below (about ten seconds)."""
    return run_suite(tiny, list(PROBES.values()))


def _of(results: list[Result], probe: str) -> list[Result]:
    return [result for result in results if result["probe"] == probe]


def _check_timed(result: Result) -> None:
    assert "error" not in result, result.get("error")
    for key in ("probe", "dtype", "size", *TIMING_FIELDS):
        assert key in result, key
    assert 0 < result["min_s"] <= result["median_s"] <= result["max_s"]
    assert isinstance(result["size"], str)


def test_every_tiny_case_succeeds_except_the_single_device_collective(
    tiny_results: list[Result],
) -> None:
    assert {result["probe"] for result in tiny_results} == set(PROBES)
    assert not [result for result in tiny_results if "error" in result]
    skipped = [result for result in tiny_results if "skipped" in result]
    assert [result["probe"] for result in skipped] == (
        ["collective"] if jax.local_device_count() == 1 else []
    )


def test_matmul_measures_every_cpu_dtype_below_the_cpu_ceiling(
    tiny_results: list[Result],
) -> None:
    results = _of(tiny_results, "matmul")
    assert {result["dtype"] for result in results} == {"fp32", "bf16", "fp16"}
    for result in results:
        _check_timed(result)
        assert 0 < result["tflops"] < cpu_ceiling_tflops(result["dtype"])
        assert result["flops"] == 2 * result["m"] * result["n"] * result["k"]
        assert result["size"] == f"{result['m']}x{result['n']}x{result['k']}"


def test_matmul_flop_count_is_xlas(tiny_results: list[Result]) -> None:
    for result in _of(tiny_results, "matmul"):
        if result["dtype"] == "fp32":
            assert result["xla_flops"] == result["flops"]
        else:  # XLA on a CPU converts 16-bit operands to fp32 and counts the conversions
            assert result["flops"] <= result["xla_flops"] <= 1.05 * result["flops"]


def test_bandwidth_reports_both_kernels_below_the_ceiling(tiny_results: list[Result]) -> None:
    results = _of(tiny_results, "bandwidth")
    assert sorted(result["kernel"] for result in results) == ["scale", "triad"]
    for result in results:
        _check_timed(result)
        assert 0 < result["gb_s"] < CPU_BANDWIDTH_CEILING_GB_S
        assert result["bytes"] == bandwidth.kernel_bytes(result["kernel"], result["array_bytes"])
        assert result["size"] == format_bytes(result["array_bytes"])


def test_bandwidth_byte_counts_follow_stream() -> None:
    assert bandwidth.kernel_bytes("scale", 100) == 200  # read a, write a
    assert bandwidth.kernel_bytes("triad", 100) == 300  # read b and c, write b


def test_attention_counts_half_the_flops_when_causal(tiny_results: list[Result]) -> None:
    results = _of(tiny_results, "attention")
    assert {result["causal"] for result in results} == {True, False}
    for result in results:
        _check_timed(result)
        assert 0 < result["tflops"] < cpu_ceiling_tflops(result["dtype"])
        full = 4 * result["batch"] * result["heads"] * result["seq_len"] ** 2 * result["head_dim"]
        assert result["flops"] == (full / 2 if result["causal"] else full)
        assert "causal" in result["flops_convention"] or not result["causal"]


def test_train_step_reports_throughput_and_the_dimensions_the_estimator_needs(
    tiny_results: list[Result],
) -> None:
    (result,) = _of(tiny_results, "train_step")
    _check_timed(result)
    dims = train_step.DIMS[("tiny", False)]
    for key in ("layers", "hidden_size", "heads", "kv_heads", "ffn_hidden_size", "vocab_size"):
        assert result[key] == getattr(dims, key)
    assert (result["seq_len"], result["batch"], result["dtype"]) == (
        dims.seq_len,
        dims.batch,
        "fp32",
    )
    assert result["step_s"] == result["median_s"]
    assert result["tokens_per_s"] == pytest.approx(dims.tokens / result["median_s"])
    assert result["flops"] == result["model_flops_per_step"] == train_step.train_flops(dims)
    assert 0 < result["tflops"] < cpu_ceiling_tflops("fp32")
    assert result["mfu"] is None  # no peak known for a CPU


def test_train_step_mfu_is_achieved_over_the_given_peak(tiny: ProbeConfig) -> None:
    config = replace(tiny, peak_tflops={"fp32": 2.0}, peak_source="--peak-tflops")
    result = train_step.run_train_step(config, train_step.DIMS[("tiny", False)])
    assert result["mfu"] == pytest.approx(result["tflops"] / 2.0)
    assert result["peak_source"] == "--peak-tflops"


def test_train_step_flops_match_xlas_count_of_the_same_step() -> None:
    dims = train_step.ModelDims(2, 256, 4, 2, 688, 4096, 256, 2)
    params: Any = jax.eval_shape(lambda: train_step.init_params(dims, jax.random.key(0)))
    state = jax.eval_shape(train_step.init_adamw, params)
    tokens = jax.ShapeDtypeStruct((dims.batch, dims.seq_len + 1), jnp.int32)
    compiled = train_step.make_train_step(dims, jnp.float32).lower(params, state, tokens).compile()
    assert train_step.train_flops(dims) == pytest.approx(
        xla_flop_count(compiled), rel=TRAIN_FLOPS_TOLERANCE
    )


def test_train_step_forward_flops_follow_the_per_layer_formula() -> None:
    dims = train_step.ModelDims(2, 64, 4, 2, 128, 100, 16, 3)
    t, h, kv, f = 48, 64, 32, 128
    per_layer = 2 * t * h * (h + 2 * kv) + 2 * t * h * h + 2 * t * 3 * h * f + 4 * 3 * 16 * 16 * h
    assert train_step.forward_flops(dims) == 2 * per_layer + 2 * t * h * 100
    assert train_step.train_flops(dims) == 3 * train_step.forward_flops(dims)


def test_the_training_step_lowers_the_loss_on_a_repeated_batch() -> None:
    dims = train_step.DIMS[("tiny", False)]
    params, state, tokens = train_step.make_inputs(dims, seed=0)
    step = train_step.make_train_step(dims, jnp.float32)
    losses = []
    for _ in range(5):
        params, state, loss = step(params, state, tokens)
        losses.append(float(loss))
    assert losses[0] == pytest.approx(math.log(dims.vocab_size), rel=0.1)  # uniform at init
    assert losses[-1] < losses[0]


def test_model_dims_reject_heads_that_do_not_divide() -> None:
    with pytest.raises(ValueError, match="kv_heads"):
        train_step.ModelDims(1, 64, 4, 3, 128, 256, 32, 2)


@pytest.mark.skipif(jax.local_device_count() != 1, reason="needs a single-device process")
def test_collective_on_one_device_is_one_case_skipped_with_a_reason(tiny: ProbeConfig) -> None:
    (case,) = collective.cases(tiny)
    result = case.run()
    assert "needs at least 2" in result["skipped"]
    assert "gb_s" not in result


def test_collective_bus_bandwidth_factor_follows_nccl_tests() -> None:
    assert collective.bus_bandwidth_factor(2) == 1.0
    assert collective.bus_bandwidth_factor(8) == pytest.approx(1.75)


def test_fp8_and_tf32_are_offered_only_on_nvidia_gpus_that_have_them() -> None:
    cpu = ProbeConfig(backend="cpu", platform="cpu")
    ampere = ProbeConfig(backend="gpu", platform="cuda", compute_capability="8.0")
    ada = ProbeConfig(backend="gpu", platform="cuda", compute_capability="8.9")
    rocm = ProbeConfig(backend="gpu", platform="rocm", compute_capability="gfx942")
    tpu = ProbeConfig(backend="tpu", platform="tpu")
    assert matmul.supported_dtypes(cpu) == ["fp32", "bf16", "fp16"]
    assert matmul.supported_dtypes(ampere) == ["fp32", "tf32", "bf16", "fp16"]
    assert matmul.supported_dtypes(ada) == ["fp32", "tf32", "bf16", "fp16", "fp8"]
    assert matmul.supported_dtypes(rocm) == ["fp32", "bf16", "fp16"]
    assert matmul.supported_dtypes(tpu) == ["fp32", "bf16"]


def test_accelerator_shapes_are_larger_and_use_bf16() -> None:
    gpu = ProbeConfig(tier="quick", backend="gpu", platform="cuda", compute_capability="9.0")
    assert gpu.model_dtype == "bf16"
    assert {case.dtype for case in attention.cases(gpu)} == {"bf16"}
    assert max(m for m, _, _ in matmul.SHAPES[("quick", True)]) >= 8192
    assert min(bandwidth.ARRAY_BYTES[("quick", True)]) >= 256 << 20


@pytest.mark.parametrize(
    ("n_bytes", "label"), [(64 << 20, "64MiB"), (1 << 30, "1GiB"), (256 << 10, "256KiB"), (3, "3B")]
)
def test_sizes_are_labelled_in_binary_units(n_bytes: int, label: str) -> None:
    assert format_bytes(n_bytes) == label
