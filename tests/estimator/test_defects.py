"""Regression tests for the known defects of estimator v1 (issue 10), each against a figure
worked out by hand in the test."""

from __future__ import annotations

import pytest

from app.estimator.collectives import Fabric, all_gather_s, reduce_scatter_s
from app.estimator.estimate import EstimateContext, ModelDescription, estimate
from app.estimator.flops import OpKind, block_ops
from app.estimator.hardware import default_efficiency
from app.estimator.memory import Layout, stage_parameter_count
from app.estimator.model import TransformerShape
from app.estimator.timing import (
    PhaseTime,
    _data_parallel_comm_exposed_s,
    _MicroBatchCompute,
    op_time,
)
from app.estimator.workload import Workload
from app.services.catalog import LoadedCatalog
from app.services.efficiency import efficiency_for
from app.services.estimate import gpu_spec
from tests.estimator.test_estimate import H100

SHAPE = TransformerShape(
    layers=2, hidden_size=1024, heads=16, ffn_hidden_size=4096, vocab_size=1000
)


def _op(ops: list, name: str):  # type: ignore[no-untyped-def]
    return next(op for op in ops if op.name == name)


@pytest.mark.parametrize("t", [2, 4, 8])
def test_tensor_parallel_keeps_the_head_dimension_and_divides_attention(t: int) -> None:
    """16 heads of 64 on t GPUs: 16/t heads of 64 each. Attention FLOPs per GPU =
    4 b (H/t) s s d = 4 x 1 x (16/t) x 512 x 512 x 64; Q and O bytes = 2 b s (q_dim/t) x 2 B."""
    ops = block_ops(
        SHAPE, batch=1, seq_len=512, act_bytes=2, weight_bytes=2, flash=True, tensor_parallel=t
    )
    attention = _op(ops, "attention")
    assert attention.k == 64  # the head dimension, not 64 t
    assert attention.flops == 4 * 1 * (16 // t) * 512 * 512 * 64
    kv_read = 2 * 512 * (1024 // t) * 2
    assert attention.bytes == 2 * 512 * (1024 // t) * 2 + kv_read
    assert _op(ops, "qkv").n == 3 * 1024 // t


def test_fewer_kv_heads_than_gpus_replicates_them() -> None:
    shape = SHAPE.model_copy(update={"kv_heads": 2})
    ops = block_ops(
        shape, batch=1, seq_len=512, act_bytes=2, weight_bytes=2, flash=True, tensor_parallel=8
    )
    # 2 query heads of 64 and one (replicated) KV head of 64 per GPU.
    assert _op(ops, "qkv").n == 2 * 64 + 2 * 64


def test_fp8_inference_reads_its_stored_fp8_weights_and_casts_nothing() -> None:
    """A decode matmul of a 1024 x 3072 fp8 weight at one token: bytes = 1 x 1024 x 2 (input) +
    1024 x 3072 x 1 (weight) + 3072 x 2 (output); no 3-byte cast per weight."""
    eff = default_efficiency(H100)
    ops = block_ops(SHAPE, batch=1, seq_len=1, act_bytes=2, weight_bytes=1, flash=True, kv_len=512)
    qkv = _op(ops, "qkv")
    expected_bytes = 1024 * 2 + 1024 * 3072 * 1 + 3072 * 2
    assert qkv.bytes == expected_bytes
    t = op_time(qkv, H100, eff, "fp8")
    assert t.memory_s == pytest.approx(expected_bytes / (3350e9 * 0.85))
    cast = op_time(qkv, H100, eff, "fp8", fp8_weight_cast=True)
    assert cast.memory_s == pytest.approx(
        (expected_bytes + (1 * 1024 + 1024 * 3072) * 3.0) / (3350e9 * 0.85)
    )


def test_fp8_70b_decode_at_batch_1_is_near_the_memory_bound() -> None:
    """Llama-3-70B-shaped fp8 on one H100 at batch 1: ~ 70.6 GB of weights read per token at
    0.85 x 3,350 GB/s = 2,848 GB/s -> at most ~ 40 tokens/s per sequence; v1 said ~ 10."""
    shape = TransformerShape(
        layers=80, hidden_size=8192, heads=64, kv_heads=8, ffn_hidden_size=28672,
        vocab_size=128_256, gated_ffn=True, norm="rmsnorm",
    )  # fmt: skip
    gpu = H100.model_copy() if hasattr(H100, "model_copy") else H100
    result = estimate(
        ModelDescription("70b", shape),
        Workload(
            task="inference", precision="fp8", runtime="compiled",
            inference={"batch": 1, "prompt_tokens": 128, "output_tokens": 128},
        ),
        EstimateContext(gpu=gpu, count=1, efficiency=default_efficiency(gpu)),
    )  # fmt: skip
    assert result.inference is not None
    per_sequence = result.inference.decode_tokens_per_second_per_sequence
    assert 33 < per_sequence < 40.5


def test_zero3_synchronizes_with_two_all_gathers_and_one_reduce_scatter_only() -> None:
    """8 GPUs in one node (450 GB/s per direction x 0.77): per micro-batch, all-gather the bf16
    weights twice (forward, backward) and reduce-scatter the fp32 gradients, each
    20 us + 7/8 x bytes / 346.5 GB/s; with no compute to hide under, all of it is exposed.
    v1 added a full gradient all-reduce on top."""
    layout = Layout(count=8, tensor=1, pipeline=1, zero_stage=3)
    fabric = Fabric(
        gpus_per_node=8, intra_node_gb_s=450, intra_node_fraction=0.77, network_gb_s_per_gpu=50
    )
    params = stage_parameter_count(SHAPE, 1)
    workload = Workload(micro_batch=1, global_batch=16, parallelism={"zero_stage": 3})
    nothing = _MicroBatchCompute(PhaseTime(), PhaseTime(), PhaseTime())
    exposed = _data_parallel_comm_exposed_s(SHAPE, workload, layout, fabric, nothing, 2)
    bus = 450e9 * 0.77
    by_hand = 2 * (2 * (20e-6 + 7 / 8 * params * 2 / bus) + (20e-6 + 7 / 8 * params * 4 / bus))
    assert exposed == pytest.approx(by_hand)
    assert all_gather_s(params * 2, 8, 8, fabric) == pytest.approx(20e-6 + 7 / 8 * params * 2 / bus)
    assert reduce_scatter_s(params * 4, 8, 8, fabric) == pytest.approx(
        20e-6 + 7 / 8 * params * 4 / bus
    )


def test_fp8_matmuls_use_the_published_fp8_fraction(catalog: LoadedCatalog) -> None:
    """H100 SXM: the median of the two published fp8 GEMM figures (MAMF 1,402.6 and Azure ND H100
    v5 cuBLASLt 1,382.2 TFLOP/s) over 1,978.9 = 0.7036; bf16 stays its own figure."""
    gpu = catalog.gpu("nvidia-h100-sxm")
    assert gpu is not None
    spec = gpu_spec(gpu)
    eff = efficiency_for(spec, "fp8", catalog)
    bf16 = efficiency_for(spec, "bf16", catalog)
    fp8 = (1402.6 + 1382.2) / 2 / 1978.9
    assert eff.fp8_matmul_fraction == pytest.approx(fp8, rel=1e-4)
    assert eff.matmul_fraction == pytest.approx(bf16.matmul_fraction)
    ops = block_ops(SHAPE, batch=8, seq_len=2048, act_bytes=2, weight_bytes=2, flash=True)
    up = _op(ops, "mlp_up")
    assert up.kind is OpKind.matmul
    t = op_time(up, spec, eff, "fp8")
    assert t.compute_s == pytest.approx(up.flops / (1978.9e12 * fp8), rel=1e-4)


def test_training_breakdown_adds_up_to_the_step() -> None:
    """Per-micro-batch figures times the micro-batches, plus the per-step ones, make the step
    (v1 mixed the two without saying which)."""
    result = estimate(
        ModelDescription("small", SHAPE),
        Workload(micro_batch=2, global_batch=32, seq_len=1024, parallelism={"zero_stage": 1}),
        EstimateContext(gpu=H100, count=4, efficiency=default_efficiency(H100)),
    )
    parts = result.time.breakdown_seconds
    assert sum(parts.values()) == pytest.approx(result.time.step_seconds, rel=1e-9)


def test_eager_runtime_cannot_run_ops_faster_than_python_dispatches_their_kernels() -> None:
    """An eager RMSNorm on one token launches 7 kernels at 7 us of CPU dispatch each: 49 us,
    however little the GPU has to do (its roofline time is 6 us + bytes / bandwidth)."""
    shape = SHAPE.model_copy(update={"norm": "rmsnorm"})
    ops = block_ops(shape, batch=1, seq_len=1, act_bytes=2, weight_bytes=2, flash=True, fused=False)
    norm = _op(ops, "norm_attn")
    assert norm.kernels == 7
    eff = default_efficiency(H100)
    assert op_time(norm, H100, eff, "bf16", dispatch_s=7e-6).seconds == pytest.approx(49e-6)
    gpu_only = op_time(norm, H100, eff, "bf16")
    assert gpu_only.seconds == pytest.approx(6e-6 + 1024 * 20 * 2 / (3350e9 * 0.85))


def test_a_power_cap_derates_the_matrix_peak_by_the_cube_root_of_dynamic_power() -> None:
    """500 W cap on a 700 W H100, 70 W static: (430 / 630)^(1/3) = 0.88046 of 989.4 TFLOP/s."""
    from dataclasses import replace

    capped = replace(H100, power_limit_w=500)
    peak, _ = capped.peak_flops("bf16")
    assert capped.clock_derate == pytest.approx((430 / 630) ** (1 / 3))
    assert peak == pytest.approx(989.4e12 * 0.880459, rel=1e-5)
    assert replace(H100, power_limit_w=700).clock_derate == 1.0


def test_hierarchical_bus_bandwidth_across_nodes() -> None:
    """16 H100s in two nodes, 400 Gb/s per GPU: a data-parallel group with 8 members per node
    reaches 8 x 50 = 400 GB/s (capped by NVLink's 450 x 0.77 = 346.5); one member per node
    (tensor parallel 8 inside) only its own NIC's 50 GB/s."""
    fabric = H100.fabric(16, 0.77)
    assert fabric.gpus_per_node == 8
    assert fabric.bus_gb_s(16, 8) == pytest.approx(346.5)
    assert fabric.bus_gb_s(2, 1) == pytest.approx(50.0)
    assert fabric.bus_gb_s(8, 8) == pytest.approx(346.5)


def test_a_measured_gemm_sweep_sets_the_matmul_rate_by_nearest_shape() -> None:
    """With the probes' sweep present, a 4096 x 12288 x 4096 bf16 GEMM runs at the nearest
    measured point's 600 TFLOP/s (not 0.80 of 989.4), and causal fused attention at its
    measured rate on half the counted FLOPs."""
    from dataclasses import replace

    from app.estimator.hardware import AttentionPoint, GemmPoint

    eff = replace(
        default_efficiency(H100),
        gemm_sweep=(
            GemmPoint(1024, 1024, 1024, "bf16", 300.0),
            GemmPoint(4096, 8192, 4096, "bf16", 600.0),
        ),
        attention_sweep=(
            AttentionPoint(2048, 128, "bf16", "fused", 400.0),
            AttentionPoint(2048, 128, "bf16", "unfused", 100.0),
        ),
    )
    ops = block_ops(
        SHAPE.model_copy(update={"hidden_size": 4096, "heads": 32, "ffn_hidden_size": 12288}),
        batch=2, seq_len=2048, act_bytes=2, weight_bytes=2, flash=True,
    )  # fmt: skip
    up = _op(ops, "mlp_up")
    assert (up.m, up.n, up.k) == (4096, 12288, 4096)
    assert op_time(up, H100, eff, "bf16").compute_s == pytest.approx(up.flops / 600e12)
    attention = _op(ops, "attention")
    assert attention.causal
    assert op_time(attention, H100, eff, "bf16").compute_s == pytest.approx(
        attention.flops / 2 / 400e12
    )


def test_expert_parallelism_splits_the_experts_and_pays_all_to_all() -> None:
    """8 experts of 2 x 1024 x 2048 (+ gate) per layer over 4 expert-parallel ranks: each GPU
    keeps 2 of them; tokens travel by 4 all-to-alls per MoE layer."""
    moe = SHAPE.model_copy(
        update={"experts": 8, "experts_per_token": 2, "ffn_hidden_size": 2048, "gated_ffn": True}
    )
    workload = Workload(micro_batch=1, seq_len=1024, parallelism={"expert": 4, "zero_stage": 1})
    ctx = EstimateContext(gpu=H100, count=8, efficiency=default_efficiency(H100))
    with_ep = estimate(ModelDescription("moe", moe), workload, ctx)
    without = estimate(
        ModelDescription("moe", moe),
        Workload(micro_batch=1, seq_len=1024, parallelism={"zero_stage": 1}),
        ctx,
    )
    expert_bytes = 2 * 8 * 3 * 1024 * 2048 * 2  # layers x experts x 3 matrices x bf16
    saved = without.memory.per_gpu_bytes.weights - with_ep.memory.per_gpu_bytes.weights
    assert saved == pytest.approx(expert_bytes * (1 - 1 / 4))
    assert with_ep.time.breakdown_seconds["expert_all_to_all_s"] > 0
    assert with_ep.hardware.layout["expert"] == 4


def test_an_expert_degree_that_does_not_divide_is_refused() -> None:
    from app.estimator.estimate import EstimateInputError

    workload = Workload(parallelism={"expert": 3})
    ctx = EstimateContext(gpu=H100, count=8, efficiency=default_efficiency(H100))
    with pytest.raises(EstimateInputError) as err:
        estimate(ModelDescription("dense", SHAPE), workload, ctx)
    assert err.value.field == "workload.parallelism.expert"


def test_qlora_checkpoints_activations_unless_told_otherwise() -> None:
    """PEFT's prepare_model_for_kbit_training turns gradient checkpointing on by default."""
    assert Workload(task="qlora").activation_checkpointing == "full"
    assert (
        Workload(task="qlora", activation_checkpointing="none").activation_checkpointing == "none"
    )
    assert Workload(task="lora").activation_checkpointing == "none"
