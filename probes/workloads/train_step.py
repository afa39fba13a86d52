"""One training step of a small decoder-only transformer, timed end to end.

Architecture (Llama-like, no positional encoding: it does not change the step's cost much and
this is a throughput probe): token embedding; `layers` pre-norm blocks of RMSNorm, grouped-query
self-attention through `jax.nn.dot_product_attention` (causal), RMSNorm and a SwiGLU MLP;
final RMSNorm; untied LM head; next-token cross-entropy. Parameters are kept in fp32 and cast
to the compute dtype (bf16 on accelerators, fp32 on CPUs) inside the step, as mixed-precision
training does. The optimizer is AdamW written out in jnp (Loshchilov & Hutter 2019, "Decoupled
Weight Decay Regularization", Algorithm 2). The timed step is forward + backward + update.

The reported model FLOPs are analytic (`train_flops`) so that the service can predict the same
step with its estimator and compare: every result carries the dimensions it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from probes.timing import keys, measure
from probes.workloads.common import DTYPES, Case, Probe, ProbeConfig, Result, tflops, timed_result

NAME = "train_step"

Params = dict[str, Any]
OptState = dict[str, Any]

ADAMW = {"lr": 1e-3, "b1": 0.9, "b2": 0.95, "eps": 1e-8, "weight_decay": 0.1}
INIT_STD = 0.02  # GPT-2's initializer range


@dataclass(frozen=True)
class ModelDims:
    """Model and batch dimensions; names match the API's transformer and workload fields."""

    layers: int
    hidden_size: int
    heads: int
    kv_heads: int
    ffn_hidden_size: int
    vocab_size: int
    seq_len: int
    batch: int

    def __post_init__(self) -> None:
        if self.hidden_size % self.heads or self.heads % self.kv_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must divide by heads ({self.heads}) "
                f"and heads by kv_heads ({self.kv_heads})"
            )

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.heads

    @property
    def kv_dim(self) -> int:
        """Width of the key (and of the value) projection: kv_heads x head_dim."""
        return self.kv_heads * self.head_dim

    @property
    def tokens(self) -> int:
        """Tokens per step, T = batch x seq_len."""
        return self.batch * self.seq_len

    @property
    def label(self) -> str:
        return f"L{self.layers}-h{self.hidden_size}-s{self.seq_len}-b{self.batch}"


DIMS: dict[tuple[str, bool], ModelDims] = {
    ("full", True): ModelDims(12, 1024, 16, 8, 2816, 32768, 1024, 8),
    ("quick", True): ModelDims(4, 1024, 16, 8, 2816, 32768, 1024, 8),
    ("full", False): ModelDims(4, 256, 8, 4, 688, 8192, 256, 8),
    ("quick", False): ModelDims(2, 256, 4, 2, 688, 4096, 128, 4),
    ("tiny", True): ModelDims(1, 64, 2, 1, 128, 256, 32, 2),
    ("tiny", False): ModelDims(1, 64, 2, 1, 128, 256, 32, 2),
}


def forward_flops(dims: ModelDims) -> float:
    """Matrix-product FLOPs of one forward pass over T = batch x seq_len tokens.

    Per layer, with h = hidden_size, kv = kv_dim, f = ffn_hidden_size (a multiply-add is 2
    FLOPs; Kaplan et al. 2020 Table 1, Narayanan et al. 2021 eq. 3, as app/estimator/flops.py):
      q, k, v projections  2 T h (h + 2 kv)
      output projection    2 T h h
      SwiGLU MLP           2 T 3 h f          (gate, up and down matrices)
      attention            4 b s^2 h          (Q K^T and P V over the full s x s, as PaLM's and
                                               Megatron's MFU count it, causal or not)
    plus the LM head 2 T h V. Norms, softmax, activations and the embedding gather are not
    counted (bandwidth-bound, not matrix products).
    """
    t, h, kv, f = dims.tokens, dims.hidden_size, dims.kv_dim, dims.ffn_hidden_size
    per_layer = (
        2.0 * t * h * (h + 2 * kv)
        + 2.0 * t * h * h
        + 2.0 * t * 3 * h * f
        + 4.0 * dims.batch * dims.seq_len**2 * h
    )
    return dims.layers * per_layer + 2.0 * t * h * dims.vocab_size


def train_flops(dims: ModelDims) -> float:
    """Model FLOPs of one training step: 3 x forward (the backward pass does two matrix
    products per forward one: gradients for inputs and for weights; Kaplan et al. 2020 sec. 2.1).
    The optimizer's elementwise work is not counted."""
    return 3.0 * forward_flops(dims)


def parameter_count(dims: ModelDims) -> int:
    """Parameters: embedding and LM head (untied), per-layer projections, MLP and two norms."""
    h = dims.hidden_size
    per_layer = h * (h + 2 * dims.kv_dim) + h * h + 3 * h * dims.ffn_hidden_size + 2 * h
    return dims.layers * per_layer + 2 * dims.vocab_size * h + h


def init_params(dims: ModelDims, key: jax.Array) -> Params:
    """fp32 parameters: N(0, 0.02) matrices (one key each), unit RMSNorm scales."""
    h, f = dims.hidden_size, dims.ffn_hidden_size
    matrix_keys = iter(jax.random.split(key, 2 + 4 * dims.layers))

    def normal(*shape: int) -> jax.Array:
        return INIT_STD * jax.random.normal(next(matrix_keys), shape, jnp.float32)

    def ones() -> jax.Array:
        return jnp.ones((h,), jnp.float32)

    params: Params = {"embed": normal(dims.vocab_size, h), "lm_head": normal(h, dims.vocab_size)}
    params["blocks"] = [
        {
            "norm1": ones(),
            "wqkv": normal(h, h + 2 * dims.kv_dim),  # q, k and v projections side by side
            "wo": normal(h, h),
            "norm2": ones(),
            "w_gate_up": normal(h, 2 * f),  # SwiGLU gate and up projections side by side
            "w_down": normal(f, h),
        }
        for _ in range(dims.layers)
    ]
    params["norm_f"] = ones()
    return params


def rms_norm(x: jax.Array, scale: jax.Array) -> jax.Array:
    """RMSNorm (Zhang & Sennrich 2019), computed in fp32, returned in x's dtype."""
    x32 = x.astype(jnp.float32)
    normed = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + 1e-6)
    return (normed * scale).astype(x.dtype)


def loss_fn(params: Params, tokens: jax.Array, dims: ModelDims, dtype: Any) -> jax.Array:
    """Mean next-token cross-entropy (nats) of `tokens` [batch, seq_len + 1]."""
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    b, s = inputs.shape
    h, hd = dims.hidden_size, dims.head_dim
    x = params["embed"].astype(dtype)[inputs]  # [b, s, h]
    for block in params["blocks"]:
        y = rms_norm(x, block["norm1"])
        qkv = y @ block["wqkv"].astype(dtype)
        q, k, v = jnp.split(qkv, [h, h + dims.kv_dim], axis=-1)
        attended = jax.nn.dot_product_attention(
            q.reshape(b, s, dims.heads, hd),
            k.reshape(b, s, dims.kv_heads, hd),
            v.reshape(b, s, dims.kv_heads, hd),
            is_causal=True,
        )
        x = x + attended.reshape(b, s, h) @ block["wo"].astype(dtype)
        gate, up = jnp.split(
            rms_norm(x, block["norm2"]) @ block["w_gate_up"].astype(dtype), 2, axis=-1
        )
        x = x + (jax.nn.silu(gate) * up) @ block["w_down"].astype(dtype)
    logits = (rms_norm(x, params["norm_f"]) @ params["lm_head"].astype(dtype)).astype(jnp.float32)
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(log_probs, targets[..., None], axis=-1))


def init_adamw(params: Params) -> OptState:
    """AdamW state: first and second moments (zeros, as the algorithm starts) and the step."""
    return {
        "m": jax.tree.map(jnp.zeros_like, params),
        "v": jax.tree.map(jnp.zeros_like, params),
        "step": jnp.zeros((), jnp.int32),
    }


def adamw_update(params: Params, grads: Params, state: OptState) -> tuple[Params, OptState]:
    """One AdamW update with bias correction and decoupled weight decay (ADAMW settings)."""
    lr, b1, b2 = ADAMW["lr"], ADAMW["b1"], ADAMW["b2"]
    eps, decay = ADAMW["eps"], ADAMW["weight_decay"]
    step: jax.Array = state["step"] + 1
    m = jax.tree.map(lambda m_, g: b1 * m_ + (1 - b1) * g, state["m"], grads)
    v = jax.tree.map(lambda v_, g: b2 * v_ + (1 - b2) * g * g, state["v"], grads)
    correction1 = 1 - b1 ** step.astype(jnp.float32)
    correction2 = 1 - b2 ** step.astype(jnp.float32)

    def update(p: jax.Array, m_: jax.Array, v_: jax.Array) -> jax.Array:
        return p - lr * ((m_ / correction1) / (jnp.sqrt(v_ / correction2) + eps) + decay * p)

    return jax.tree.map(update, params, m, v), {"m": m, "v": v, "step": step}


def make_train_step(dims: ModelDims, dtype: Any) -> Any:
    """The jitted step: (params, opt_state, tokens) -> (params, opt_state, loss)."""

    def step(params: Params, opt_state: OptState, tokens: jax.Array) -> tuple[Any, Any, Any]:
        loss, grads = jax.value_and_grad(loss_fn)(params, tokens, dims, dtype)
        new_params, new_state = adamw_update(params, grads, opt_state)
        return new_params, new_state, loss

    return jax.jit(step)


def make_inputs(dims: ModelDims, seed: int) -> tuple[Params, OptState, jax.Array]:
    """Fresh parameters, optimizer state and uniformly random tokens [batch, seq_len + 1]."""
    param_key, token_key = keys(seed, 2)
    params = init_params(dims, param_key)
    tokens = jax.random.randint(
        token_key, (dims.batch, dims.seq_len + 1), 0, dims.vocab_size, jnp.int32
    )
    return params, init_adamw(params), tokens


def run_train_step(config: ProbeConfig, dims: ModelDims) -> Result:
    """Measure one step: tflops = train_flops / median_s / 1e12; mfu = tflops / peak."""
    dtype = config.model_dtype
    timing = measure(
        make_train_step(dims, DTYPES[dtype]),
        lambda: make_inputs(dims, config.seed),
        warmup=config.warmup,
        warmup_s=config.warmup_s,
        repeats=config.repeats,
    )
    flops = train_flops(dims)
    achieved_tflops = tflops(flops, timing.median_s)
    peak = config.peak_for(dtype)
    return timed_result(
        NAME,
        dtype,
        dims.label,
        timing,
        {
            "tflops": achieved_tflops,
            "flops": flops,
            "model_flops_per_step": flops,
            "step_s": timing.median_s,
            "tokens_per_s": dims.tokens / timing.median_s,
            "mfu": achieved_tflops / peak if peak else None,
            "peak_tflops": peak,
            "peak_source": config.peak_source if peak else None,
            "flops_convention": "3 x forward matrix-product FLOPs, attention over full s x s",
            "parameters": parameter_count(dims),
            "layers": dims.layers,
            "hidden_size": dims.hidden_size,
            "heads": dims.heads,
            "kv_heads": dims.kv_heads,
            "ffn_hidden_size": dims.ffn_hidden_size,
            "vocab_size": dims.vocab_size,
            "gated_ffn": True,
            "tied_embeddings": False,
            "seq_len": dims.seq_len,
            "batch": dims.batch,
            "optimizer": "adamw",
            "activation_checkpointing": "none",
        },
    )


def cases(config: ProbeConfig) -> list[Case]:
    """One model per tier."""
    dims = DIMS[(config.tier, config.accelerator)]
    return [Case(NAME, config.model_dtype, dims.label, partial(run_train_step, config, dims))]


PROBE = Probe(NAME, "small transformer AdamW step: s/step, tokens/s, TFLOP/s, MFU", cases)
