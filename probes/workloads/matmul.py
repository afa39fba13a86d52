"""Dense matrix multiply C[m, n] = A[m, k] @ B[k, n] at several shapes, for each supported dtype.

dtypes: fp32 (true fp32 arithmetic, `Precision.HIGHEST`), bf16 and fp16 everywhere; on NVIDIA
GPUs also tf32 (fp32 storage, TF32 tensor cores: `DotAlgorithmPreset.TF32_TF32_F32`, compute
capability >= 8.0) and fp8 (`float8_e4m3fn` inputs, bf16 output, compute capability >= 8.9).
TPUs run fp32 and bf16 only; ROCm runs fp32, bf16 and fp16 (MI300's FP8 is the e4m3fnuz
variant, not measured here).

FP8 uses the layout cuBLASLt's FP8 GEMM requires ("TN": both operands K-major; NVIDIA cuBLAS
documentation, cublasLtMatmul, FP8 data types): A is (m, k) and B is stored as (n, k), and the
product contracts the last axis of both.

Every result says what XLA compiled (`probes.hlo.check_gemm` on the optimized module):
`gemm_verified` is true only when a GEMM on the intended operand type was emitted (a cuBLAS or
cuBLASLt custom call on GPUs, a dot on CPUs). Small shapes run inside a jitted `fori_loop`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from probes.hlo import check_gemm
from probes.timing import keys, measure
from probes.workloads.common import (
    DTYPES,
    Case,
    Probe,
    ProbeConfig,
    Result,
    tflops,
    timed_result,
)

NAME = "matmul"

Shape = tuple[int, int, int]  # (m, n, k)

# Square sizes, then a couple of rectangular ones shaped like a transformer's projections
# (tokens x out_features x in_features) and a long reduction.
SHAPES: dict[tuple[str, bool], list[Shape]] = {
    ("full", True): [(s, s, s) for s in (1024, 2048, 4096, 8192, 16384)]
    + [(16384, 4096, 4096), (4096, 4096, 16384)],
    ("quick", True): [(s, s, s) for s in (2048, 4096, 8192)] + [(16384, 4096, 4096)],
    ("full", False): [(s, s, s) for s in (256, 512, 1024, 2048)]
    + [(2048, 512, 2048), (512, 512, 4096)],
    ("quick", False): [(s, s, s) for s in (512, 1024)] + [(2048, 512, 1024)],
    ("tiny", True): [(64, 64, 64), (128, 128, 128), (256, 64, 128)],
    ("tiny", False): [(64, 64, 64), (128, 128, 128), (256, 64, 128)],
}

PRECISION_NOTES = {
    "fp32": "fp32 inputs and arithmetic (Precision.HIGHEST)",
    "tf32": "fp32 inputs, TF32 tensor-core arithmetic (DotAlgorithmPreset.TF32_TF32_F32)",
    "bf16": "bf16 inputs and output, backend's default accumulation (fp32 on GPUs and TPUs)",
    "fp16": "fp16 inputs and output, backend's default accumulation (fp32 on GPUs)",
    "fp8": "float8_e4m3fn inputs (A m x k, B n x k: cuBLASLt's TN layout), unscaled, bf16 output",
}


def matmul_flops(m: int, n: int, k: int) -> float:
    """FLOPs of one (m x k) @ (k x n) product: 2 m n k.

    Each of the m n outputs is a k-term dot product, k multiply-adds, and a multiply-add counts
    as 2 FLOPs: the convention of GEMM benchmarks and of Kaplan et al. 2020 ("Scaling Laws for
    Neural Language Models", Table 1), which app/estimator/flops.py also follows.
    """
    return 2.0 * m * n * k


def shape_label(shape: Shape) -> str:
    """ "MxNxK", e.g. "4096x4096x4096"."""
    return "x".join(str(d) for d in shape)


def supported_dtypes(config: ProbeConfig) -> list[str]:
    """The dtypes measured on this device (see the module docstring)."""
    if config.backend == "tpu" or config.platform == "tpu":
        return ["fp32", "bf16"]
    dtypes = ["fp32", "bf16", "fp16"]
    capability = config.cuda_capability
    if capability is not None and capability >= (8, 0):
        dtypes.insert(1, "tf32")
    if capability is not None and capability >= (8, 9):
        dtypes.append("fp8")
    return dtypes


def matmul_fn(dtype: str) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """The jitted product for `dtype` (the precision each dtype names is in PRECISION_NOTES)."""
    if dtype == "fp32":
        return jax.jit(partial(jnp.matmul, precision=lax.Precision.HIGHEST))
    if dtype == "tf32":
        return jax.jit(partial(jnp.matmul, precision=lax.DotAlgorithmPreset.TF32_TF32_F32))
    if dtype == "fp8":  # B is (n, k): contract the last axis of both (TN)
        return jax.jit(
            partial(
                lax.dot_general,
                dimension_numbers=(((1,), (1,)), ((), ())),
                preferred_element_type=jnp.bfloat16,
            )
        )
    if dtype in ("bf16", "fp16"):
        return jax.jit(jnp.matmul)
    raise ValueError(f"unknown matmul dtype {dtype!r}; known: {sorted(PRECISION_NOTES)}")


def make_operands(shape: Shape, dtype: str, seed: int) -> tuple[jax.Array, jax.Array]:
    """A (m x k) and B (k x n; fp8: n x k) with standard-normal entries, in `dtype` (fp8:
    rounded from bf16)."""
    m, n, k = shape
    key_a, key_b = keys(seed, 2)
    target: Any = DTYPES[dtype]
    draw = jnp.bfloat16 if dtype == "fp8" else target
    a = jax.random.normal(key_a, (m, k), draw).astype(target)
    b = jax.random.normal(key_b, (n, k) if dtype == "fp8" else (k, n), draw).astype(target)
    return a, b


def run_matmul(config: ProbeConfig, dtype: str, shape: Shape) -> Result:
    """Measure one shape in one dtype: tflops = 2 m n k / median_s / 1e12."""
    m, n, k = shape
    checked: dict[str, Any] = {}

    def inspect(compiled: Any) -> None:
        checked.update(check_gemm(compiled.as_text(), dtype, config.platform).as_fields())

    timing = measure(
        matmul_fn(dtype),
        lambda: make_operands(shape, dtype, config.seed),
        warmup=config.warmup,
        warmup_s=config.warmup_s,
        repeats=config.repeats,
        loop=True,
        on_compiled=inspect,
    )
    flops = matmul_flops(m, n, k)
    return timed_result(
        NAME,
        dtype,
        shape_label(shape),
        timing,
        {
            "tflops": tflops(flops, timing.median_s),
            "flops": flops,
            "m": m,
            "n": n,
            "k": k,
            "precision": PRECISION_NOTES[dtype],
            **checked,
        },
    )


def cases(config: ProbeConfig) -> list[Case]:
    """Every (dtype, shape) pair for this device and tier."""
    shapes = SHAPES[(config.tier, config.accelerator)]
    return [
        Case(NAME, dtype, shape_label(shape), partial(run_matmul, config, dtype, shape))
        for dtype in supported_dtypes(config)
        for shape in shapes
    ]


PROBE = Probe(NAME, "dense matmul TFLOP/s per dtype and shape (2mnk FLOPs)", cases)
