"""Operations of a transformer forward pass: FLOPs and bytes moved, op by op.

Counting convention (Kaplan et al. 2020, "Scaling Laws for Neural Language Models", Table 1;
Narayanan et al. 2021, "Efficient Large-Scale Language Model Training on GPU Clusters Using
Megatron-LM", eq. 3): a multiply-add is 2 FLOPs; only matrix products are counted as FLOPs
(norms, activations and softmax are counted as bytes: they are bandwidth-bound); attention
scores and values are counted over the full s x s matrix (causal kernels skip about half of it,
but MFU conventions, PaLM's and Megatron's included, count all of it). The backward pass costs
two matrix products per forward one (gradients for inputs and for weights), so training is
3x the forward FLOPs, plus one more forward of what activation checkpointing recomputes.

tests/estimator/test_flops_xla.py checks these counts against XLA's own `cost_analysis()` of the
same architectures written in JAX.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from enum import StrEnum

from app.estimator.model import Architecture, TransformerShape, sequence_tokens

# Bytes moved per element, in units of the activation size, by elementwise steps written as
# separate PyTorch ops ("eager") versus fused kernels. Counted from the reference modules:
# Hugging Face LlamaRMSNorm upcasts to fp32, squares, averages, scales, casts back and
# multiplies by the weight (~ 20 activation-sized passes vs 2 fused); SiLU-gate-times-up is
# silu (2) + mul (3) = 5 vs 3 fused; rotary embedding on q and k is two muls, a rotate (slice,
# negate, concatenate) and an add (~ 7 vs 2 fused). LayerNorm and GELU are single fused
# kernels in PyTorch either way.
EAGER_PASSES = {"rmsnorm": 20.0, "swiglu": 5.0, "rope": 7.0}
FUSED_PASSES = {"rmsnorm": 2.0, "swiglu": 3.0, "rope": 2.0}
# Kernels eager PyTorch launches per forward op, counted from the same Hugging Face modules:
# LlamaRMSNorm (to fp32, pow, mean, add eps, rsqrt, mul, to bf16, mul by weight ~ 7);
# q, k and v as three projections; rotary embedding on q and k (two muls, slice/neg/cat
# rotate, add, each ~ 10); SiLU-gate (gate and up projections, silu, mul: 2 + 2).
EAGER_KERNELS = {"rmsnorm": 7, "qkv": 3, "rope": 10, "swiglu": 2}


class OpKind(StrEnum):
    matmul = "matmul"
    attention = "attention"  # scores + softmax + values, fused (flash) or not
    elementwise = "elementwise"


@dataclass(frozen=True)
class Op:
    """One operation of a forward pass over `tokens` tokens.

    `flops` and `bytes` are for one execution; `count` is how many times the model runs it
    (e.g. once per layer). `m, n, k` are the matmul dimensions (output m x n, inner k) that set
    its size-dependent efficiency; `weight_elements` are the parameters it reads.
    """

    name: str
    kind: OpKind
    flops: float
    bytes: float
    count: int = 1
    m: int = 0
    n: int = 0
    k: int = 0
    weight_elements: float = 0.0
    layer_op: bool = True  # part of a transformer block (split by pipeline stages)
    causal: bool = False  # causal attention: fused kernels skip the masked half of the scores
    kernels: int = 1  # GPU kernels eager PyTorch launches for it (one when fused/compiled)

    @property
    def total_flops(self) -> float:
        return self.flops * self.count

    @property
    def total_bytes(self) -> float:
        return self.bytes * self.count


def _matmul(
    name: str,
    m: int,
    k: int,
    n: int,
    act_bytes: float,
    count: int,
    *,
    weight_bytes: float | None = None,
    layer_op: bool = True,
    batch: int = 1,
) -> Op:
    """(m x k) @ (k x n), `batch` independent products: 2mkn FLOPs, reads A and B, writes C."""
    w_bytes = act_bytes if weight_bytes is None else weight_bytes
    moved = batch * (m * k * act_bytes + k * n * w_bytes + m * n * act_bytes)
    return Op(
        name=name,
        kind=OpKind.matmul,
        flops=2.0 * batch * m * n * k,
        bytes=moved,
        count=count,
        m=m,
        n=n,
        k=k,
        weight_elements=float(batch * k * n) if weight_bytes is not None else 0.0,
        layer_op=layer_op,
    )


def _elementwise(
    name: str,
    elements: float,
    passes: float,
    act_bytes: float,
    count: int,
    *,
    layer_op: bool = True,
) -> Op:
    """A bandwidth-bound op touching `elements` values `passes` times (reads + writes)."""
    return Op(
        name=name,
        kind=OpKind.elementwise,
        flops=0.0,
        bytes=elements * passes * act_bytes,
        count=count,
        layer_op=layer_op,
    )


def _attention(
    name: str,
    shape: TransformerShape,
    batch: int,
    q_len: int,
    kv_len: int,
    kv_dim: int,
    act_bytes: float,
    count: int,
    *,
    flash: bool,
    causal: bool = False,
    kv_bytes: float | None = None,
) -> list[Op]:
    """Scores (Q K^T) and values (P V) over all heads: 4 b H q_len kv_len d FLOPs.

    Flash attention (Dao et al. 2022, "FlashAttention", Algorithm 1) never writes the s x s
    scores to memory: it reads Q, K, V and writes O. Without it, scores and probabilities are
    written and read back (softmax as a separate bandwidth-bound op).
    """
    heads, d = shape.heads, shape.d_head
    flops = 4.0 * batch * heads * q_len * kv_len * d
    qo_bytes = 2 * batch * q_len * shape.q_dim * act_bytes
    kv_read = 2 * batch * kv_len * kv_dim * (act_bytes if kv_bytes is None else kv_bytes)
    if flash:
        return [
            Op(
                name,
                OpKind.attention,
                flops,
                qo_bytes + kv_read,
                count,
                m=q_len,
                n=kv_len,
                k=d,
                causal=causal and q_len > 1,
                kernels=3,  # the attention kernel and the head transposes around it
            )
        ]
    scores = float(batch * heads * q_len * kv_len)
    return [
        Op(
            f"{name}.scores",
            OpKind.matmul,
            flops / 2,
            qo_bytes / 2 + kv_read / 2 + scores * act_bytes,
            count,
            m=q_len,
            n=kv_len,
            k=d,
        ),
        _elementwise(f"{name}.softmax", scores, 2, act_bytes, count),
        Op(
            f"{name}.values",
            OpKind.matmul,
            flops / 2,
            qo_bytes / 2 + kv_read / 2 + scores * act_bytes,
            count,
            m=q_len,
            n=d,
            k=kv_len,
        ),
    ]


def tensor_parallel_share(shape: TransformerShape, tensor_parallel: int) -> TransformerShape:
    """One GPU's attention heads under tensor parallelism (Megatron-LM, Shoeybi et al. 2019,
    sec. 3): heads / t query heads of the same head dimension, and kv_heads / t key/value heads
    (at least one: with fewer KV heads than GPUs, each KV head is replicated, as Megatron-LM does
    for grouped-query attention)."""
    t = tensor_parallel
    if t <= 1:
        return shape
    return shape.model_copy(
        update={
            "heads": max(1, shape.heads // t),
            "kv_heads": max(1, shape.n_kv_heads // t),
            "head_dim": shape.d_head,
        }
    )


def block_ops(
    shape: TransformerShape,
    *,
    batch: int,
    seq_len: int,
    act_bytes: float,
    weight_bytes: float,
    flash: bool,
    tensor_parallel: int = 1,
    count: int = 1,
    cross_attention_len: int = 0,
    kv_len: int | None = None,
    causal: bool = True,
    kv_bytes: float | None = None,
    fused: bool = True,
) -> list[Op]:
    """The ops of one transformer block for `batch` sequences of `seq_len` new tokens.

    `kv_len` is the attended context (= seq_len in training/prefill; the cache length in
    decode). Tensor parallelism (Megatron-LM, Shoeybi et al. 2019, section 3) splits heads and
    the MLP inner dimension across `tensor_parallel` GPUs: the ops below are one GPU's share.
    """
    t = tensor_parallel
    h, f = shape.hidden_size, shape.ffn
    tokens = batch * seq_len
    context = seq_len if kv_len is None else kv_len
    sub = tensor_parallel_share(shape, t)
    q_dim, kv_dim = sub.q_dim, sub.kv_dim
    passes = FUSED_PASSES if fused else EAGER_PASSES
    norm_passes = passes["rmsnorm"] if shape.norm == "rmsnorm" else 2.0
    norm_kernels = EAGER_KERNELS["rmsnorm"] if shape.norm == "rmsnorm" else 1
    ops = [
        _eager_kernels(
            _elementwise("norm_attn", tokens * h, norm_passes, act_bytes, count),
            norm_kernels,
            fused,
        ),
        _eager_kernels(
            _matmul(
                "qkv", tokens, h, q_dim + 2 * kv_dim, act_bytes, count, weight_bytes=weight_bytes
            ),
            EAGER_KERNELS["qkv"],
            fused,
        ),
    ]
    if shape.position_embedding == "rope":
        ops.append(
            _eager_kernels(
                _elementwise("rope", tokens * (q_dim + kv_dim), passes["rope"], act_bytes, count),
                EAGER_KERNELS["rope"],
                fused,
            )
        )
    ops += _attention(
        "attention",
        sub,
        batch,
        seq_len,
        context,
        kv_dim,
        act_bytes,
        count,
        flash=flash,
        causal=causal,
        kv_bytes=kv_bytes,
    )
    ops.append(_matmul("attn_out", tokens, q_dim, h, act_bytes, count, weight_bytes=weight_bytes))
    ops.append(_elementwise("residual_attn", tokens * h, 3, act_bytes, count))
    if cross_attention_len:
        ops.append(_elementwise("norm_cross", tokens * h, norm_passes, act_bytes, count))
        ops.append(
            _matmul("cross_q", tokens, h, q_dim, act_bytes, count, weight_bytes=weight_bytes)
        )
        ops.append(
            _matmul(
                "cross_kv",
                batch * cross_attention_len,
                h,
                2 * q_dim,
                act_bytes,
                count,
                weight_bytes=weight_bytes,
            )
        )
        ops += _attention(
            "cross_attention",
            sub,
            batch,
            seq_len,
            cross_attention_len,
            q_dim,
            act_bytes,
            count,
            flash=flash,
        )
        ops.append(
            _matmul("cross_out", tokens, q_dim, h, act_bytes, count, weight_bytes=weight_bytes)
        )
        ops.append(_elementwise("residual_cross", tokens * h, 3, act_bytes, count))
    ops.append(
        _eager_kernels(
            _elementwise("norm_mlp", tokens * h, norm_passes, act_bytes, count),
            norm_kernels,
            fused,
        )
    )
    f_share = f // t
    if shape.is_moe:
        ops.append(
            _matmul("router", tokens, h, shape.experts, act_bytes, count, weight_bytes=weight_bytes)
        )
    # Each token goes through experts_per_token experts; the FLOPs are those of a dense MLP
    # over tokens x experts_per_token rows (Fedus et al. 2021, "Switch Transformers", sec. 2).
    routed = tokens * shape.experts_per_token
    # An MoE layer reads the weights of every expert that receives tokens: all of them once
    # routed tokens outnumber experts, otherwise only the active ones (decode at small batch).
    experts_read = min(shape.experts, routed) if shape.is_moe else 1
    up_width = 2 * f_share if shape.gated_ffn else f_share
    up = _matmul("mlp_up", routed, h, up_width, act_bytes, count, weight_bytes=weight_bytes)
    down = _matmul("mlp_down", routed, f_share, h, act_bytes, count, weight_bytes=weight_bytes)
    if experts_read > 1:
        extra_up = (experts_read - 1) * h * up_width
        extra_down = (experts_read - 1) * f_share * h
        up = _with_weights(up, extra_up, weight_bytes)
        down = _with_weights(down, extra_down, weight_bytes)
    act_passes = passes["swiglu"] if shape.gated_ffn else 2.0
    gated_kernels = EAGER_KERNELS["swiglu"] if shape.gated_ffn else 1
    ops += [
        _eager_kernels(up, gated_kernels, fused),
        _eager_kernels(
            _elementwise("mlp_activation", routed * f_share, act_passes, act_bytes, count),
            gated_kernels,
            fused,
        ),
        down,
        _elementwise("residual_mlp", tokens * h, 3, act_bytes, count),
    ]
    return ops


def _eager_kernels(op: Op, kernels: int, fused: bool) -> Op:
    """`op` with the number of kernels eager PyTorch launches for it (1 when fused)."""
    return op if fused else replace(op, kernels=kernels)


def _with_weights(op: Op, extra_weight_elements: float, weight_bytes: float) -> Op:
    return Op(
        name=op.name,
        kind=op.kind,
        flops=op.flops,
        bytes=op.bytes + extra_weight_elements * weight_bytes,
        count=op.count,
        m=op.m,
        n=op.n,
        k=op.k,
        weight_elements=op.weight_elements + extra_weight_elements,
        layer_op=op.layer_op,
    )


def model_ops(
    shape: TransformerShape,
    *,
    batch: int,
    seq_len: int,
    act_bytes: float,
    weight_bytes: float,
    flash: bool = True,
    tensor_parallel: int = 1,
    logits_tokens: int | None = None,
    kv_len: int | None = None,
    kv_bytes: float | None = None,
    fused: bool = True,
) -> list[Op]:
    """Every op of one forward pass of `batch` sequences of `seq_len` tokens.

    `logits_tokens` limits the LM head to that many positions per sequence (inference prefill
    computes logits for the last position only); None computes them for all (training).

    The list depends only on these arguments (the shape is frozen), so it is built once and
    shared: a recommendation estimates the same model on every catalog GPU at a few counts.
    """
    return list(
        _model_ops(
            shape,
            batch,
            seq_len,
            act_bytes,
            weight_bytes,
            flash,
            tensor_parallel,
            logits_tokens,
            kv_len,
            kv_bytes,
            fused,
        )
    )


@functools.lru_cache(maxsize=4096)
def _model_ops(
    shape: TransformerShape,
    batch: int,
    seq_len: int,
    act_bytes: float,
    weight_bytes: float,
    flash: bool,
    tensor_parallel: int,
    logits_tokens: int | None,
    kv_len: int | None,
    kv_bytes: float | None,
    fused: bool,
) -> tuple[Op, ...]:
    t = tensor_parallel
    h = shape.hidden_size
    ops: list[Op] = []
    if shape.architecture is Architecture.vision_transformer:
        patch_in = shape.num_channels * (shape.patch_size or 1) ** 2
        seq_len = sequence_tokens(shape, seq_len)
        ops.append(
            _matmul(
                "patch_embed",
                batch * shape.patches,
                patch_in,
                h,
                act_bytes,
                1,
                weight_bytes=weight_bytes,
                layer_op=False,
            )
        )
    else:
        ops.append(_elementwise("embedding", batch * seq_len * h, 2, act_bytes, 1, layer_op=False))
    tokens = batch * seq_len
    stack = functools.partial(
        block_ops,
        shape,
        batch=batch,
        seq_len=seq_len,
        act_bytes=act_bytes,
        weight_bytes=weight_bytes,
        flash=flash,
        tensor_parallel=t,
        fused=fused,
    )
    if shape.architecture is Architecture.encoder_decoder:
        ops += stack(count=shape.encoder_layers or shape.layers, causal=False)
        ops += stack(count=shape.layers, cross_attention_len=seq_len, kv_len=kv_len)
    else:
        ops += stack(
            count=shape.layers,
            kv_len=kv_len,
            causal=shape.architecture is Architecture.decoder,
            kv_bytes=kv_bytes,
        )
    final_passes = (
        (FUSED_PASSES if fused else EAGER_PASSES)["rmsnorm"] if shape.norm == "rmsnorm" else 2.0
    )
    ops.append(
        _eager_kernels(
            _elementwise("final_norm", tokens * h, final_passes, act_bytes, 1, layer_op=False),
            EAGER_KERNELS["rmsnorm"] if shape.norm == "rmsnorm" else 1,
            fused,
        )
    )
    if shape.has_lm_head:
        rows = tokens if logits_tokens is None else batch * logits_tokens
        vocab = shape.vocab_size // t
        ops.append(
            _matmul(
                "lm_head", rows, h, vocab, act_bytes, 1, weight_bytes=weight_bytes, layer_op=False
            )
        )
        # Cross-entropy reads the logits in fp32 (softmax, then its gradient).
        ops.append(_elementwise("loss", rows * vocab, 2, 4.0, 1, layer_op=False))
    if shape.pooler:
        ops.append(
            _matmul("pooler", batch, h, h, act_bytes, 1, weight_bytes=weight_bytes, layer_op=False)
        )
    if shape.architecture is Architecture.vision_transformer and shape.num_classes:
        ops.append(
            _matmul(
                "classifier",
                batch,
                h,
                shape.num_classes,
                act_bytes,
                1,
                weight_bytes=weight_bytes,
                layer_op=False,
            )
        )
    return tuple(ops)


def forward_flops(ops: list[Op]) -> float:
    """Matrix FLOPs of a forward pass (the counting convention of this module)."""
    return sum(op.total_flops for op in ops if op.kind is not OpKind.elementwise)


# Names of the ops activation checkpointing recomputes (Korthikanti et al. 2022, sec. 4):
# selective recomputation redoes only the attention core; full redoes the whole block forward.
SELECTIVE_RECOMPUTE = ("attention", "cross_attention")


def recompute_flops(ops: list[Op], checkpointing: str) -> float:
    """Extra forward FLOPs that activation checkpointing recomputes in the backward pass."""
    if checkpointing == "full":
        return sum(
            op.total_flops for op in ops if op.layer_op and op.kind is not OpKind.elementwise
        )
    if checkpointing == "selective":
        return sum(
            op.total_flops
            for op in ops
            if op.name.split(".")[0] in SELECTIVE_RECOMPUTE and op.kind is not OpKind.elementwise
        )
    return 0.0


def training_flops(ops: list[Op], checkpointing: str = "none") -> float:
    """FLOPs of one training step's forward + backward: 3x forward + recomputation."""
    return 3.0 * forward_flops(ops) + recompute_flops(ops, checkpointing)
