"""Scaled dot-product attention, `jax.nn.dot_product_attention`, at several sequence lengths.

Shapes are (batch, seq_len, heads, head_dim) for q, k and v (self-attention, as many key/value
heads as query heads). Batch shrinks as the sequence grows so that every case has about the same
number of tokens.

Two implementations, named explicitly and reported apart (`implementation`):
- "fused": `implementation="cudnn"`, cuDNN's fused flash-attention kernel, on CUDA only (JAX has
  no fused path on ROCm or CPU). The compiled module must hold the `__cudnn$fmha...` custom
  call (`attention_kernel`), else the result says `fused_verified: false`.
- "unfused": `implementation="xla"`, XLA's ops with the (batch, heads, s, s) score matrix in
  memory, on every backend. `implementation=None` is NOT used: it silently picks XLA's path
  where cuDNN does not apply, and that figure would pass for fused attention. The service uses
  only verified fused results as the fused-attention efficiency.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax

from probes.hlo import attention_kernel
from probes.timing import keys, measure
from probes.workloads.common import DTYPES, Case, Probe, ProbeConfig, Result, tflops, timed_result

NAME = "attention"

Shape = tuple[int, int, int, int]  # (batch, seq_len, heads, head_dim)


def _shapes(tokens: int, seq_lens: tuple[int, ...], heads: int, head_dim: int) -> list[Shape]:
    return [(max(1, tokens // s), s, heads, head_dim) for s in seq_lens]


SHAPES: dict[tuple[str, bool], list[Shape]] = {
    ("full", True): _shapes(16384, (512, 1024, 2048, 4096, 8192), 16, 128),
    ("quick", True): _shapes(16384, (1024, 4096), 16, 128),
    ("full", False): _shapes(2048, (256, 512, 1024, 2048), 8, 64),
    ("quick", False): _shapes(2048, (256, 512), 4, 64),
    ("tiny", True): _shapes(128, (64, 128), 2, 32),
    ("tiny", False): _shapes(128, (64, 128), 2, 32),
}


def attention_flops(batch: int, seq_len: int, heads: int, head_dim: int, *, causal: bool) -> float:
    """FLOPs of one attention forward: 4 b h s^2 d, halved when causal.

    Scores Q K^T are a (s x d) @ (d x s) product per batch and head, 2 s^2 d FLOPs; P V is
    another 2 s^2 d. Softmax is not counted. Causal: only the ~s^2/2 unmasked scores are useful
    work, so half is counted. This is the count of Dao-AILab/flash-attention's
    benchmarks/benchmark_flash_attention.py (`flops(...)`: 4 b s^2 h d, // 2 if causal). A
    kernel that computes the full matrix and then masks it shows half its arithmetic rate.
    """
    flops = 4.0 * batch * heads * seq_len * seq_len * head_dim
    return flops / 2 if causal else flops


def shape_label(shape: Shape) -> str:
    """E.g. "b8xs256xh4xd64"."""
    batch, seq_len, heads, head_dim = shape
    return f"b{batch}xs{seq_len}xh{heads}xd{head_dim}"


IMPLEMENTATIONS = {"fused": "cudnn", "unfused": "xla"}  # ours -> jax.nn.dot_product_attention's


def implementations(config: ProbeConfig) -> list[str]:
    """ "fused" where the backend has a fused kernel JAX can call (CUDA: cuDNN), and "unfused"."""
    return ["fused", "unfused"] if config.platform == "cuda" else ["unfused"]


def run_attention(
    config: ProbeConfig, shape: Shape, *, causal: bool, implementation: str = "unfused"
) -> Result:
    """Measure one shape: tflops = attention_flops(...) / median_s / 1e12."""
    batch, seq_len, heads, head_dim = shape
    dtype = config.model_dtype
    compiled_kernel: dict[str, str | None] = {}

    def inspect(compiled: Any) -> None:
        compiled_kernel["kernel"] = attention_kernel(compiled.as_text())

    def make_inputs() -> list[jax.Array]:
        return [
            jax.random.normal(key, shape, DTYPES[dtype]) for key in keys(config.seed, 3)
        ]  # q, k, v

    fn = jax.jit(
        partial(
            jax.nn.dot_product_attention,
            is_causal=causal,
            implementation=IMPLEMENTATIONS[implementation],
        )
    )
    timing = measure(
        fn,
        make_inputs,
        warmup=config.warmup,
        warmup_s=config.warmup_s,
        repeats=config.repeats,
        loop=True,
        on_compiled=inspect,
    )
    flops = attention_flops(batch, seq_len, heads, head_dim, causal=causal)
    kernel = compiled_kernel.get("kernel")
    return timed_result(
        NAME,
        dtype,
        shape_label(shape),
        timing,
        {
            "tflops": tflops(flops, timing.median_s),
            "flops": flops,
            "causal": causal,
            "flops_convention": (
                "causal: half of 4*b*h*s*s*d counted (masked scores are not useful work)"
                if causal
                else "4*b*h*s*s*d (Q K^T and P V; softmax not counted)"
            ),
            "batch": batch,
            "seq_len": seq_len,
            "heads": heads,
            "head_dim": head_dim,
            "implementation": implementation,
            "jax_implementation": IMPLEMENTATIONS[implementation],
            "attention_kernel": kernel or "xla ops",
            "fused_verified": implementation == "fused" and kernel is not None,
        },
    )


def cases(config: ProbeConfig) -> list[Case]:
    """Each implementation at each shape of this tier, without and with a causal mask."""
    return [
        Case(
            NAME,
            config.model_dtype,
            shape_label(shape),
            partial(run_attention, config, shape, causal=causal, implementation=implementation),
            f"{implementation} {'causal' if causal else 'full'}",
        )
        for implementation in implementations(config)
        for shape in SHAPES[(config.tier, config.accelerator)]
        for causal in (False, True)
    ]


PROBE = Probe(NAME, "jax.nn.dot_product_attention TFLOP/s (4bhs^2d, half if causal)", cases)
