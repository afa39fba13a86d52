"""What XLA compiled: GEMM and fused-attention kernels found in optimized HLO, on recorded GPU
modules (shaped as XLA:GPU prints them) and on real CPU compiles."""

from __future__ import annotations

import pytest

from probes.hlo import attention_kernel, check_gemm, gemms
from probes.workloads.matmul import make_operands, matmul_fn


def _gpu_module(operand: str, target: str, algorithm: str = "ALG_UNSET") -> str:
    return f"""HloModule jit_matmul, entry_computation_layout={{({operand}[4096,4096]{{1,0}}, {operand}[4096,4096]{{1,0}})->bf16[4096,4096]{{1,0}}}}

ENTRY %main.4 (Arg_0.1: {operand}[4096,4096], Arg_1.2: {operand}[4096,4096]) -> bf16[4096,4096] {{
  %Arg_0.1 = {operand}[4096,4096]{{1,0}} parameter(0)
  %Arg_1.2 = {operand}[4096,4096]{{1,0}} parameter(1)
  %custom-call.1 = (bf16[4096,4096]{{1,0}}, s8[33554432]{{0}}) custom-call(%Arg_0.1, %Arg_1.2), custom_call_target="{target}", backend_config={{"gemm_backend_config":{{"alpha_real":1,"precision_config":{{"operand_precision":["DEFAULT","DEFAULT"],"algorithm":"{algorithm}"}}}}}}
  ROOT %get-tuple-element.1 = bf16[4096,4096]{{1,0}} get-tuple-element(%custom-call.1), index=0
}}
"""


@pytest.mark.parametrize(
    ("dtype", "module", "verified"),
    [
        ("bf16", _gpu_module("bf16", "__cublas$gemm"), True),
        ("fp16", _gpu_module("f16", "__cublas$lt$matmul"), True),
        ("fp8", _gpu_module("f8e4m3fn", "__cublas$lt$matmul$f8"), True),
        ("tf32", _gpu_module("f32", "__cublas$gemm", "ALG_DOT_TF32_TF32_F32"), True),
        ("fp32", _gpu_module("f32", "__cublas$gemm"), True),
        # What must not pass: operands converted before the GEMM, an fp8 product that is not
        # the FP8 GEMM, an f32 GEMM without the TF32 algorithm, TF32 where fp32 was asked.
        ("bf16", _gpu_module("f32", "__cublas$gemm"), False),
        ("fp8", _gpu_module("f8e4m3fn", "__cublas$lt$matmul"), False),
        ("tf32", _gpu_module("f32", "__cublas$gemm"), False),
        ("fp32", _gpu_module("f32", "__cublas$gemm", "ALG_DOT_TF32_TF32_F32"), False),
    ],
)
def test_the_intended_gpu_gemm_is_recognised(dtype: str, module: str, verified: bool) -> None:
    check = check_gemm(module, dtype, "cuda")
    assert check.verified is verified, check.reason


def test_an_xla_dot_kernel_on_a_gpu_is_not_a_cublas_gemm() -> None:
    module = """ENTRY %main (p0: bf16[64,64], p1: bf16[64,64]) -> bf16[64,64] {
  %p0 = bf16[64,64]{1,0} parameter(0)
  %p1 = bf16[64,64]{1,0} parameter(1)
  ROOT %dot.1 = bf16[64,64]{1,0} dot(%p0, %p1), lhs_contracting_dims={1}, rhs_contracting_dims={0}
}"""
    check = check_gemm(module, "bf16", "cuda")
    assert not check.verified
    assert "no cuBLAS" in check.reason
    assert check_gemm("ENTRY %e () -> f32[] {}", "bf16", "cuda").reason.startswith("no GEMM")


def test_a_real_cpu_fp32_matmul_compiles_to_an_f32_dot() -> None:
    a, b = make_operands((128, 64, 96), "fp32", 0)
    text = matmul_fn("fp32").lower(a, b).compile().as_text()
    assert gemms(text)
    check = check_gemm(text, "fp32", "cpu")
    assert check.verified, check.reason
    assert (check.kernel, check.operand_type) == ("dot", "f32")


def test_a_cpu_bf16_matmul_is_reported_as_what_xla_made_of_it() -> None:
    a, b = make_operands((128, 64, 96), "bf16", 0)
    text = matmul_fn("bf16").lower(a, b).compile().as_text()
    check = check_gemm(text, "bf16", "cpu")
    # XLA:CPU converts bf16 operands to f32 before its dot: not a bf16 GEMM, and it says so.
    if not check.verified:
        assert check.operand_type == "f32"
        assert "converted" in check.reason


def test_the_fp8_operands_use_the_tn_layout() -> None:
    a, b = make_operands((32, 48, 64), "fp8", 0)
    assert a.shape == (32, 64)
    assert b.shape == (48, 64)  # (n, k): K-major, as cuBLASLt's FP8 GEMM needs
    assert matmul_fn("fp8")(a, b).shape == (32, 48)


def test_the_cudnn_fused_attention_call_is_found() -> None:
    line = '%custom-call.3 = (bf16[4,16,1024,128]{3,2,1,0}, u8[0]{0}) custom-call(%q, %k, %v), custom_call_target="__cudnn$fmhaSoftmax"'
    assert attention_kernel(line) == "__cudnn$fmhaSoftmax"
    assert attention_kernel('custom_call_target="__cublas$gemm"') is None
