"""Reference transformers written in JAX, for checking the estimator's FLOP counts against XLA.

Decoder-only: token embedding, pre-norm blocks (RMSNorm, grouped-query attention, plain GELU or
gated SiLU MLP, or a top-k mixture of experts), final norm, untied LM head, cross-entropy. The
MoE dispatches tokens to experts by gathering them into per-expert buffers of equal capacity
(tokens x k / experts), so XLA sees only the active experts' matrix products, as a dropless
kernel does.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from app.estimator.model import TransformerShape


def init_shapes(shape: TransformerShape, dtype: Any) -> dict[str, Any]:
    """Abstract parameter shapes (jax.ShapeDtypeStruct); nothing is allocated."""
    h, f, e = shape.hidden_size, shape.ffn, shape.experts
    up = 2 * f if shape.gated_ffn else f

    def s(*dims: int) -> jax.ShapeDtypeStruct:
        return jax.ShapeDtypeStruct(dims, dtype)

    block = {
        "norm1": s(h),
        "wqkv": s(h, shape.q_dim + 2 * shape.kv_dim),
        "wo": s(shape.q_dim, h),
        "norm2": s(h),
        "w_up": s(e, h, up) if shape.is_moe else s(h, up),
        "w_down": s(e, f, h) if shape.is_moe else s(f, h),
    }
    if shape.is_moe:
        block["router"] = s(h, e)
    return {
        "embed": s(shape.vocab_size, h),
        "blocks": [dict(block) for _ in range(shape.layers)],
        "norm_f": s(h),
        "lm_head": s(h, shape.vocab_size),
    }


def _rms_norm(x: jax.Array, scale: jax.Array) -> jax.Array:
    return x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + 1e-6) * scale


def _attention(shape: TransformerShape, x: jax.Array, p: dict[str, jax.Array]) -> jax.Array:
    b, s, _ = x.shape
    qkv = x @ p["wqkv"]
    q, k, v = jnp.split(qkv, [shape.q_dim, shape.q_dim + shape.kv_dim], axis=-1)
    q = q.reshape(b, s, shape.n_kv_heads, shape.heads // shape.n_kv_heads, shape.d_head)
    k = k.reshape(b, s, shape.n_kv_heads, shape.d_head)
    v = v.reshape(b, s, shape.n_kv_heads, shape.d_head)
    scores = jnp.einsum("bqgrd,bkgd->bgrqk", q, k) / jnp.sqrt(shape.d_head).astype(x.dtype)
    mask = jnp.tril(jnp.ones((s, s), dtype=bool))
    probs = jax.nn.softmax(jnp.where(mask, scores, -1e9), axis=-1)
    out = jnp.einsum("bgrqk,bkgd->bqgrd", probs, v).reshape(b, s, shape.q_dim)
    return out @ p["wo"]


def _mlp(shape: TransformerShape, x: jax.Array, w_up: jax.Array, w_down: jax.Array) -> jax.Array:
    hidden = x @ w_up
    if shape.gated_ffn:
        gate, up = jnp.split(hidden, 2, axis=-1)
        hidden = jax.nn.silu(gate) * up
    else:
        hidden = jax.nn.gelu(hidden)
    return hidden @ w_down


def _moe(shape: TransformerShape, x: jax.Array, p: dict[str, jax.Array]) -> jax.Array:
    b, s, h = x.shape
    tokens = x.reshape(b * s, h)
    n, k, e = b * s, shape.experts_per_token, shape.experts
    weights, chosen = jax.lax.top_k(jax.nn.softmax(tokens @ p["router"], axis=-1), k)
    capacity = n * k // e
    order = jnp.argsort(chosen.reshape(-1))  # group (token, slot) pairs by expert
    token_of_slot = (order // k)[: e * capacity].reshape(e, capacity)
    routed = tokens[token_of_slot]  # (e, capacity, h): a gather, no FLOPs
    hidden = jnp.einsum("ech,ehf->ecf", routed, p["w_up"])
    if shape.gated_ffn:
        gate, up = jnp.split(hidden, 2, axis=-1)
        hidden = jax.nn.silu(gate) * up
    else:
        hidden = jax.nn.gelu(hidden)
    out = jnp.einsum("ecf,efh->ech", hidden, p["w_down"])
    gate_w = weights.reshape(-1)[order[: e * capacity]].reshape(e, capacity, 1)
    combined = (
        jnp.zeros_like(tokens).at[token_of_slot.reshape(-1)].add((out * gate_w).reshape(-1, h))
    )
    return combined.reshape(b, s, h)


def loss_fn(shape: TransformerShape, params: dict[str, Any], tokens: jax.Array) -> jax.Array:
    x = params["embed"][tokens]
    for p in params["blocks"]:
        x = x + _attention(shape, _rms_norm(x, p["norm1"]), p)
        y = _rms_norm(x, p["norm2"])
        x = x + (_moe(shape, y, p) if shape.is_moe else _mlp(shape, y, p["w_up"], p["w_down"]))
    logits = (_rms_norm(x, params["norm_f"]) @ params["lm_head"]).astype(jnp.float32)
    logp = jax.nn.log_softmax(logits[:, :-1], axis=-1)
    targets = tokens[:, 1:]
    return -jnp.mean(jnp.take_along_axis(logp, targets[..., None], axis=-1))


def xla_training_flops(shape: TransformerShape, *, batch: int, seq_len: int) -> float:
    """XLA's FLOP count of one forward + backward step, compiled from abstract shapes."""
    params = init_shapes(shape, jnp.float32)
    tokens = jax.ShapeDtypeStruct((batch, seq_len), jnp.int32)

    def step(p: dict[str, Any], t: jax.Array) -> Any:
        return jax.grad(lambda q: loss_fn(shape, q, t))(p)

    compiled = jax.jit(step).lower(params, tokens).compile()
    analysis = compiled.cost_analysis()
    if isinstance(analysis, list):  # older JAX returns one dict per device
        analysis = analysis[0]
    return float(analysis["flops"])
