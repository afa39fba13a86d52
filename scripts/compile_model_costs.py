"""Per-sample FLOPs, bytes and activation memory of the non-transformer presets, from XLA.

The estimator handles transformers analytically. For the other presets of catalog/models.yaml
(`resnet-50`, `lstm-zaremba-large-ptb`, and `vit-b-16` as a cross-check against the analytic
path) this script writes the models in plain JAX, compiles them from abstract shapes only
(`jax.ShapeDtypeStruct` for parameters and inputs alike: nothing is allocated) and reads XLA's
own accounting of the compiled program:

* `compiled.cost_analysis()`: 'flops' and 'bytes accessed' (HloCostAnalysis: a multiply-add
  counts 2 FLOPs, every elementwise op, compare and reduction step counts 1, transcendentals are
  counted separately and not included in 'flops');
* `compiled.memory_analysis()`: temp_size_in_bytes (buffers live inside the program: the
  activations kept for the backward pass and the scratch), argument_size_in_bytes and
  output_size_in_bytes.

Each model is compiled twice (forward = loss only; training step = `jax.value_and_grad` of the
loss with respect to all parameters, cross-entropy on integer labels) at two batch sizes, in
float32, for XLA's CPU backend. Every quantity q is then split into a per-sample slope and a
fixed part: ``per_sample = (q(16) - q(8)) / 8`` and ``fixed = q(8) - 8 * per_sample``. The bytes
JAX's autodiff saves for the backward pass (`jax.vjp` under `jax.eval_shape`) are recorded
beside XLA's temp bytes, as a backend-independent view of the activation memory.

Things XLA's counts do that a reader may not expect:

* a convolution tap that falls on zero padding is not counted (ResNet-50: 3.948e9 instead of
  4.089e9 multiply-adds per image), while every elementwise op is (BatchNorm, ReLU, adds);
* the body of a while loop (`lax.scan`) is counted once, not once per iteration: the LSTM's
  recurrence is therefore fully unrolled;
* plain autodiff of the unrolled LSTM computes one recurrent weight gradient per step and
  XLA's CPU scheduler keeps ~33 of them (36 MB each) alive at once, so the recurrence has a
  hand-written, cuDNN-style backward (`jax.custom_vjp`; one weight-gradient product).

Models (sources):

* ResNet-50 v1.5, torchvision layout (He et al. 2016, "Deep Residual Learning for Image
  Recognition", arXiv:1512.03385, Table 1; stride on the 3x3 conv as in torchvision).
* The "large" LSTM language model of Zaremba, Sutskever and Vinyals 2014, "Recurrent Neural
  Network Regularization", arXiv:1409.2329, Section 4.1.
* ViT-B/16, torchvision layout (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words",
  arXiv:2010.11929, Table 1).

Run from the repository root: ``.venv/bin/python scripts/compile_model_costs.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import jaxlib
import yaml
from jax import lax

PROJECT_ROOT = Path(__file__).resolve().parents[1]
OUTPUT = PROJECT_ROOT / "catalog" / "model_costs.yaml"
BATCHES = (8, 16)  # two batch sizes: slope = per-sample cost, intercept = fixed cost
DTYPE = jnp.float32
REGENERATE = ".venv/bin/python scripts/compile_model_costs.py"
# LLVM optimisation level 0: code generation ~2.5x faster. It acts after the HLO passes, so the
# cost and memory analyses (of the optimised HLO and its buffer assignment) are unchanged.
COMPILER_OPTIONS = {"xla_backend_optimization_level": 0}

Params = dict[str, Any]  # a pytree of jax.ShapeDtypeStruct (abstract) or jax.Array (traced)
Shape = jax.ShapeDtypeStruct


def _s(*dims: int, dtype: Any = DTYPE) -> Shape:
    """An abstract array: shape and dtype only, never allocated."""
    return jax.ShapeDtypeStruct(dims, dtype)


def parameter_count(params: Params) -> int:
    """Number of scalar parameters in a pytree of abstract arrays."""
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(params))


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy (nats) over all positions; `labels` holds class indices."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, labels[..., None], axis=-1))


# ----------------------------------------------------------------------------------------------
# ResNet-50 v1.5 (He et al. 2016; torchvision.models.resnet50 layout)
# ----------------------------------------------------------------------------------------------

RESNET50_PARAMETERS = 25_557_032  # torchvision ResNet50_Weights.IMAGENET1K_V1 num_params
RESNET_STAGE_BLOCKS = (3, 4, 6, 3)
RESNET_STAGE_WIDTHS = (64, 128, 256, 512)
RESNET_EXPANSION = 4
IMAGE_SIZE = 224  # pixels, square RGB input
NUM_CLASSES = 1000  # ImageNet-1k
BN_EPS = 1e-5  # torch.nn.BatchNorm2d default


def _bn_params(channels: int) -> Params:
    """BatchNorm scale (gamma) and bias (beta); running mean/var are buffers, not parameters."""
    return {"scale": _s(channels), "bias": _s(channels)}


def resnet50_params() -> Params:
    """Abstract ResNet-50 v1.5 parameters: conv kernels HWIO (no conv bias), BN, fc 2048->1000."""
    params: Params = {"stem": {"conv": _s(7, 7, 3, 64), "bn": _bn_params(64)}, "stages": []}
    cin = 64
    for blocks, width in zip(RESNET_STAGE_BLOCKS, RESNET_STAGE_WIDTHS, strict=True):
        cout = width * RESNET_EXPANSION
        stage = []
        for index in range(blocks):
            block: Params = {
                "conv1": _s(1, 1, cin, width),
                "bn1": _bn_params(width),
                "conv2": _s(3, 3, width, width),
                "bn2": _bn_params(width),
                "conv3": _s(1, 1, width, cout),
                "bn3": _bn_params(cout),
            }
            if index == 0:  # projection shortcut: channels (and, after stage 1, stride) change
                block["proj"] = _s(1, 1, cin, cout)
                block["proj_bn"] = _bn_params(cout)
            stage.append(block)
            cin = cout
        params["stages"].append(stage)
    params["fc"] = {"w": _s(cin, NUM_CLASSES), "b": _s(NUM_CLASSES)}
    return params


def _conv(x: jax.Array, w: jax.Array, stride: int = 1) -> jax.Array:
    """NHWC x HWIO convolution with torchvision's symmetric padding (kernel // 2)."""
    pad = w.shape[0] // 2
    return lax.conv_general_dilated(
        x,
        w,
        window_strides=(stride, stride),
        padding=((pad, pad), (pad, pad)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )


def _batch_norm(x: jax.Array, p: Params) -> jax.Array:
    """BatchNorm in training mode: statistics of the current batch over N, H and W."""
    mean = jnp.mean(x, axis=(0, 1, 2))
    var = jnp.mean(jnp.square(x - mean), axis=(0, 1, 2))
    return (x - mean) * lax.rsqrt(var + BN_EPS) * p["scale"] + p["bias"]


def _bottleneck(x: jax.Array, p: Params, stride: int) -> jax.Array:
    """1x1 reduce, 3x3 (carrying the stride: v1.5), 1x1 expand; identity or projection skip."""
    y = jax.nn.relu(_batch_norm(_conv(x, p["conv1"]), p["bn1"]))
    y = jax.nn.relu(_batch_norm(_conv(y, p["conv2"], stride), p["bn2"]))
    y = _batch_norm(_conv(y, p["conv3"]), p["bn3"])
    skip = _batch_norm(_conv(x, p["proj"], stride), p["proj_bn"]) if "proj" in p else x
    return jax.nn.relu(y + skip)


def resnet50_logits(params: Params, images: jax.Array) -> jax.Array:
    """ResNet-50 v1.5 forward: images (N, 224, 224, 3) -> logits (N, 1000)."""
    x = jax.nn.relu(_batch_norm(_conv(images, params["stem"]["conv"], 2), params["stem"]["bn"]))
    x = lax.reduce_window(  # 3x3 max-pool, stride 2, padding 1
        x, -jnp.inf, lax.max, (1, 3, 3, 1), (1, 2, 2, 1), ((0, 0), (1, 1), (1, 1), (0, 0))
    )
    for stage_index, stage in enumerate(params["stages"]):
        for block_index, block in enumerate(stage):
            stride = 2 if stage_index > 0 and block_index == 0 else 1
            x = _bottleneck(x, block, stride)
    x = jnp.mean(x, axis=(1, 2))  # global average pool
    return x @ params["fc"]["w"] + params["fc"]["b"]


def resnet50_conv_macs(*, count_padding: bool) -> int:
    """Multiply-adds per image of ResNet-50 v1.5's convolutions and fc layer, by hand.

    With `count_padding` every kernel tap counts (torchvision's and fvcore's convention: 4.089e9,
    listed as "4.09 GFLOPS"); without it, taps that fall on zero padding are left out, as XLA's
    cost analysis does.
    """

    def conv(size: int, cin: int, cout: int, kernel: int, stride: int) -> tuple[int, int]:
        pad = kernel // 2
        out = (size + 2 * pad - kernel) // stride + 1
        taps = sum(  # kernel rows (or columns) that land inside the image, over the output
            sum(1 for k in range(kernel) if 0 <= o * stride - pad + k < size) for o in range(out)
        )
        per_pair = out * out * kernel * kernel if count_padding else taps * taps
        return out, per_pair * cin * cout

    size, macs = conv(IMAGE_SIZE, 3, 64, 7, 2)
    size, cin = size // 2, 64  # after the 3x3/2 max-pool
    for stage, (blocks, width) in enumerate(
        zip(RESNET_STAGE_BLOCKS, RESNET_STAGE_WIDTHS, strict=True)
    ):
        for index in range(blocks):
            stride = 2 if stage > 0 and index == 0 else 1
            macs += conv(size, cin, width, 1, 1)[1]
            out, m = conv(size, width, width, 3, stride)
            macs += m + conv(out, width, width * RESNET_EXPANSION, 1, 1)[1]
            if index == 0:
                macs += conv(size, cin, width * RESNET_EXPANSION, 1, stride)[1]
            size, cin = out, width * RESNET_EXPANSION
    return macs + cin * NUM_CLASSES


def resnet50_loss(params: Params, images: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean cross-entropy of ResNet-50 on a batch of labelled images."""
    return cross_entropy(resnet50_logits(params, images), labels)


def image_inputs(batch: int) -> tuple[Shape, Shape]:
    """Abstract ImageNet batch: float32 images NHWC (224x224x3) and int32 labels."""
    return _s(batch, IMAGE_SIZE, IMAGE_SIZE, 3), _s(batch, dtype=jnp.int32)


# ----------------------------------------------------------------------------------------------
# LSTM language model, "large" configuration of Zaremba et al. 2014 (Section 4.1)
# ----------------------------------------------------------------------------------------------

LSTM_VOCAB = 10_000  # Penn Treebank vocabulary
LSTM_EMBED = 1500
LSTM_HIDDEN = 1500
LSTM_LAYERS = 2
LSTM_STEPS = 35  # unrolled steps (truncated back-propagation through time)
LSTM_PUBLISHED_PARAMETERS = 66_000_000  # "66M": Merity et al. 2018, Table 1 (rounded)


def lstm_params() -> Params:
    """Abstract LSTM LM parameters: embedding, 2 LSTM layers (one bias per gate), softmax + bias.

    Gate order in the fused 4*H matrices is (input, forget, cell, output).
    """
    layers = []
    width_in = LSTM_EMBED
    for _ in range(LSTM_LAYERS):
        layers.append(
            {
                "w_ih": _s(width_in, 4 * LSTM_HIDDEN),
                "w_hh": _s(LSTM_HIDDEN, 4 * LSTM_HIDDEN),
                "b": _s(4 * LSTM_HIDDEN),
            }
        )
        width_in = LSTM_HIDDEN
    return {
        "embed": _s(LSTM_VOCAB, LSTM_EMBED),
        "layers": layers,
        "softmax": {"w": _s(LSTM_HIDDEN, LSTM_VOCAB), "b": _s(LSTM_VOCAB)},
    }


def _lstm_cell(gates: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One LSTM step from pre-activations (N, 4H): new h, new c and the activated gates."""
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    i, f, g, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)
    c = f * c + i * g
    return o * jnp.tanh(c), c, jnp.concatenate([i, f, g, o], axis=-1)


def _recurrence_forward(
    w_hh: jax.Array, x_proj: jax.Array, h0: jax.Array, c0: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Run the recurrence over (T, N, 4H) input projections: hidden states, cells, gates."""

    def step(carry: tuple[jax.Array, jax.Array], xp: jax.Array) -> Any:
        h, c, acts = _lstm_cell(xp + carry[0] @ w_hh, carry[1])
        return (h, c), (h, c, acts)

    _, (hs, cs, acts) = lax.scan(step, (h0, c0), x_proj, unroll=True)
    return hs, cs, acts


@jax.custom_vjp
def _lstm_recurrence(w_hh: jax.Array, x_proj: jax.Array, h0: jax.Array, c0: jax.Array) -> jax.Array:
    """Hidden states (T, N, H) of one LSTM layer given its input projections (T, N, 4H).

    The backward pass is written out as cuDNN computes it: back-propagation through time
    yields the gate gradients of every step, then the recurrent weight gradient is ONE matrix
    product over all steps. (Plain autodiff of the unrolled loop computes 35 per-step weight
    gradients and sums them; XLA's CPU scheduler then keeps ~33 of them alive at once, a fixed
    1.19 GB of temp memory and 10.7 GB of traffic that no real implementation has.)
    """
    return _recurrence_forward(w_hh, x_proj, h0, c0)[0]


def _lstm_recurrence_fwd(
    w_hh: jax.Array, x_proj: jax.Array, h0: jax.Array, c0: jax.Array
) -> tuple[jax.Array, tuple[jax.Array, ...]]:
    hs, cs, acts = _recurrence_forward(w_hh, x_proj, h0, c0)
    return hs, (w_hh, h0, c0, hs, cs, acts)  # saved: h, c and the 4 activated gates per step


def _lstm_recurrence_bwd(
    saved: tuple[jax.Array, ...], d_hs: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    w_hh, h0, c0, hs, cs, acts = saved
    c_prev = jnp.concatenate([c0[None], cs[:-1]])
    h_prev = jnp.concatenate([h0[None], hs[:-1]])

    def step(carry: tuple[jax.Array, jax.Array], inputs: tuple[jax.Array, ...]) -> Any:
        dh_next, dc_next = carry
        d_out, c, c_before, gates = inputs
        i, f, g, o = jnp.split(gates, 4, axis=-1)
        dh = d_out + dh_next
        tanh_c = jnp.tanh(c)
        dc = dc_next + dh * o * (1 - tanh_c * tanh_c)
        d_gates = jnp.concatenate(
            [
                dc * g * i * (1 - i),
                dc * c_before * f * (1 - f),
                dc * i * (1 - g * g),
                dh * tanh_c * o * (1 - o),
            ],
            axis=-1,
        )
        return (d_gates @ w_hh.T, dc * f), d_gates

    zero = jnp.zeros_like(h0)
    (dh0, dc0), d_gates = lax.scan(
        step, (zero, zero), (d_hs, cs, c_prev, acts), reverse=True, unroll=True
    )
    d_w_hh = jnp.einsum("tnh,tng->hg", h_prev, d_gates)
    return d_w_hh, d_gates, dh0, dc0


_lstm_recurrence.defvjp(_lstm_recurrence_fwd, _lstm_recurrence_bwd)


def _lstm_layer(p: Params, xs: jax.Array, h0: jax.Array, c0: jax.Array) -> jax.Array:
    """One LSTM layer over a (T, N, D) sequence; returns the hidden states (T, N, H).

    The input projection of every step is one matrix product outside the recurrence (its
    gradients, by autodiff, are one product each too); the recurrence is `lax.scan` fully
    unrolled (`unroll=True`), because XLA's cost analysis counts the body of a while loop once,
    not once per iteration.
    """
    x_proj = xs @ p["w_ih"] + p["b"]
    return _lstm_recurrence(p["w_hh"], x_proj, h0, c0)


def lstm_loss(params: Params, tokens: jax.Array, targets: jax.Array, state: jax.Array) -> jax.Array:
    """Mean next-token cross-entropy over a (N, 35) batch.

    `state` (layers, 2, N, H) is the (h, c) carried over from the previous batch, as in the
    paper's truncated back-propagation: an input, not a parameter. Dropout (65% in the paper) is
    left out: it adds only elementwise work, and its random-number generation would be counted
    as FLOPs by XLA.
    """
    xs = params["embed"][tokens.T]  # (T, N, E): a gather, no FLOPs
    for layer, layer_state in zip(params["layers"], state, strict=True):
        xs = _lstm_layer(layer, xs, layer_state[0], layer_state[1])
    logits = xs @ params["softmax"]["w"] + params["softmax"]["b"]
    return cross_entropy(logits, targets.T)


def lstm_inputs(batch: int) -> tuple[Shape, Shape, Shape]:
    """Abstract PTB batch: int32 tokens and next-token targets (N, 35), carried (h, c) state."""
    tokens = _s(batch, LSTM_STEPS, dtype=jnp.int32)
    return tokens, tokens, _s(LSTM_LAYERS, 2, batch, LSTM_HIDDEN)


# ----------------------------------------------------------------------------------------------
# ViT-B/16 (Dosovitskiy et al. 2021; torchvision.models.vit_b_16 layout)
# ----------------------------------------------------------------------------------------------

VIT_B16_PARAMETERS = 86_567_656  # torchvision ViT_B_16_Weights.IMAGENET1K_V1 num_params
VIT_PATCH = 16
VIT_HIDDEN = 768
VIT_HEADS = 12
VIT_MLP = 3072
VIT_LAYERS = 12
VIT_LN_EPS = 1e-6  # torchvision vision_transformer: partial(nn.LayerNorm, eps=1e-6)
VIT_TOKENS = (IMAGE_SIZE // VIT_PATCH) ** 2 + 1  # 196 patches + class token = 197


def _ln_params(width: int) -> Params:
    return {"scale": _s(width), "bias": _s(width)}


def vit_b16_params() -> Params:
    """Abstract ViT-B/16 parameters: patch conv with bias, class token, positions, 12 blocks."""
    h = VIT_HIDDEN
    block = {
        "ln1": _ln_params(h),
        "w_qkv": _s(h, 3 * h),  # nn.MultiheadAttention in_proj_weight (transposed)
        "b_qkv": _s(3 * h),
        "w_out": _s(h, h),
        "b_out": _s(h),
        "ln2": _ln_params(h),
        "w1": _s(h, VIT_MLP),
        "b1": _s(VIT_MLP),
        "w2": _s(VIT_MLP, h),
        "b2": _s(h),
    }
    return {
        "patch": {"w": _s(VIT_PATCH, VIT_PATCH, 3, h), "b": _s(h)},
        "class_token": _s(1, 1, h),
        "positions": _s(1, VIT_TOKENS, h),
        "blocks": [dict(block) for _ in range(VIT_LAYERS)],
        "ln": _ln_params(h),
        "head": {"w": _s(h, NUM_CLASSES), "b": _s(NUM_CLASSES)},
    }


def _layer_norm(x: jax.Array, p: Params) -> jax.Array:
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
    return (x - mean) * lax.rsqrt(var + VIT_LN_EPS) * p["scale"] + p["bias"]


def _vit_block(x: jax.Array, p: Params) -> jax.Array:
    """Pre-norm encoder block: x + MHA(LN(x)), then x + MLP(LN(x)) with exact (erf) GELU."""
    n, t, h = x.shape
    d = h // VIT_HEADS
    qkv = _layer_norm(x, p["ln1"]) @ p["w_qkv"] + p["b_qkv"]
    q, k, v = jnp.split(qkv.reshape(n, t, 3, VIT_HEADS, d), 3, axis=2)
    scores = jnp.einsum("nqhd,nkhd->nhqk", q[:, :, 0], k[:, :, 0]) / jnp.sqrt(d).astype(x.dtype)
    attn = jnp.einsum("nhqk,nkhd->nqhd", jax.nn.softmax(scores, axis=-1), v[:, :, 0])
    x = x + attn.reshape(n, t, h) @ p["w_out"] + p["b_out"]
    y = jax.nn.gelu(_layer_norm(x, p["ln2"]) @ p["w1"] + p["b1"], approximate=False)
    return x + y @ p["w2"] + p["b2"]


def vit_b16_logits(params: Params, images: jax.Array) -> jax.Array:
    """ViT-B/16 forward: images (N, 224, 224, 3) -> logits (N, 1000) from the class token."""
    x = lax.conv_general_dilated(
        images,
        params["patch"]["w"],
        window_strides=(VIT_PATCH, VIT_PATCH),
        padding="VALID",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    x = (x + params["patch"]["b"]).reshape(images.shape[0], -1, VIT_HIDDEN)
    cls = jnp.broadcast_to(params["class_token"], (images.shape[0], 1, VIT_HIDDEN))
    x = jnp.concatenate([cls, x], axis=1) + params["positions"]
    for block in params["blocks"]:
        x = _vit_block(x, block)
    x = _layer_norm(x[:, 0], params["ln"])
    return x @ params["head"]["w"] + params["head"]["b"]


def vit_b16_loss(params: Params, images: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean cross-entropy of ViT-B/16 on a batch of labelled images."""
    return cross_entropy(vit_b16_logits(params, images), labels)


# ----------------------------------------------------------------------------------------------
# Compilation and the catalog file
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """One preset's JAX implementation and what it is checked against."""

    preset_id: str
    params: Callable[[], Params]
    inputs: Callable[[int], tuple[Shape, ...]]  # batch size -> abstract (inputs..., labels...)
    loss: Callable[..., jax.Array]  # (params, *inputs) -> scalar loss
    input_description: str
    tokens_per_sample: int  # 1 for images (one sample); 35 for the LSTM's sequences
    published_parameters: int
    published_exact: bool  # True: the parameter count must equal the published figure
    source: str
    note: str


MODELS: dict[str, ModelSpec] = {
    spec.preset_id: spec
    for spec in (
        ModelSpec(
            preset_id="resnet-50",
            params=resnet50_params,
            inputs=image_inputs,
            loss=resnet50_loss,
            input_description="image 224x224x3 (NHWC, float32) and an int32 class label",
            tokens_per_sample=1,
            published_parameters=RESNET50_PARAMETERS,
            published_exact=True,
            source="He et al. 2016 (arXiv:1512.03385) Table 1; torchvision resnet50 (v1.5: stride on the 3x3 conv)",
            note=(
                "Convolution and fc multiply-adds: 4.089e9 per image counting padded taps "
                "(torchvision's '4.09 GFLOPS'), 3.948e9 without them (XLA's count, 7.897e9 "
                "FLOPs); the rest of forward_flops is BatchNorm, ReLU, residual adds, "
                "max-pool, average pool and softmax. He et al. 2016 give 3.8e9 multiply-adds "
                "for v1 (stride on the 1x1 conv)."
            ),
        ),
        ModelSpec(
            preset_id="lstm-zaremba-large-ptb",
            params=lstm_params,
            inputs=lstm_inputs,
            loss=lstm_loss,
            input_description="tokens: 35 int32 token ids per sample (vocab 10000), 35 next-token targets, carried LSTM state",
            tokens_per_sample=LSTM_STEPS,
            published_parameters=LSTM_PUBLISHED_PARAMETERS,
            published_exact=False,
            source="Zaremba, Sutskever, Vinyals 2014 (arXiv:1409.2329) Section 4.1, large: 2 x 1500, 35 steps, PTB 10k vocab",
            note=(
                "66,022,000 parameters: embedding 15.0M + 2 x 18.006M + softmax 15.01M (the "
                "published 66M is rounded). Recurrence unrolled (XLA counts a while-loop body "
                "once); its backward is written cuDNN-style (one weight-gradient product over all "
                "steps; jax.custom_vjp, checked against autodiff): plain autodiff of the unrolled "
                "loop makes XLA-CPU hold ~33 per-step 36 MB weight gradients at once. Per sample "
                "= one 35-token sequence. The 65% dropout of the paper is left out."
            ),
        ),
        ModelSpec(
            preset_id="vit-b-16",
            params=vit_b16_params,
            inputs=image_inputs,
            loss=vit_b16_loss,
            input_description="image 224x224x3 (NHWC, float32) and an int32 class label",
            tokens_per_sample=1,
            published_parameters=VIT_B16_PARAMETERS,
            published_exact=True,
            source="Dosovitskiy et al. 2021 (arXiv:2010.11929) Table 1, ViT-Base; torchvision vit_b_16",
            note=(
                "Cross-check of the analytic transformer path. Exact (erf) GELU, attention "
                "without flash (197 x 197 scores materialised). XLA-CPU's training temp memory "
                "grows faster than linearly with the batch (139 MiB/image at batch 1, 244 at 8, "
                "264 at 16), hence the negative fixed activation_bytes; "
                "autodiff_residual_bytes is linear."
            ),
        ),
    )
}

METHOD = (
    "XLA cost and memory analysis of a pure-JAX implementation compiled from abstract shapes "
    "(jax.ShapeDtypeStruct; nothing allocated), float32, at batch sizes 8 and 16: "
    "jax.jit(f).lower(...).compile().cost_analysis() ['flops', 'bytes accessed'] and "
    ".memory_analysis() [temp_size_in_bytes]. forward = loss only (model + cross-entropy; "
    "BatchNorm in training mode); training = jax.value_and_grad of the loss w.r.t. all "
    "parameters (no optimizer update). per_sample = (q(16) - q(8)) / 8, fixed = q(8) - 8 * "
    "per_sample. activation_bytes = the training step's temp bytes (forward_activation_bytes: "
    "the forward's); autodiff_residual_bytes = what jax.vjp saves for the backward pass "
    "(jax.eval_shape; before XLA fusion; an upper bound). XLA counts a multiply-add as 2 FLOPs "
    "plus 1 per elementwise op, comparison and reduction step; transcendentals (exp, tanh, "
    "rsqrt, erf) are not in 'flops'; a convolution tap that falls on padding is not counted. "
    "bytes accessed and temp bytes follow the CPU backend's fusion and buffer assignment, "
    "which differ from a GPU's: treat them as estimates. No dropout anywhere."
)


def _cost(compiled: Any) -> dict[str, float]:
    analysis = compiled.cost_analysis()
    if isinstance(analysis, list):  # older JAX returns one dict per device
        analysis = analysis[0]
    return analysis


def residual_bytes(spec: ModelSpec, batch: int) -> int:
    """Bytes of the arrays JAX's autodiff saves from the forward pass for the backward pass.

    The leaves of the VJP closure, by `jax.eval_shape` (nothing compiled or allocated): what
    the program must hold between forward and backward before XLA fuses or rematerialises
    anything. The parameters are among them (they reach the fixed part); an array saved for two
    uses is counted twice, so this is an upper bound of the framework-level activation memory.
    """

    def saved(params: Params, *inputs: jax.Array) -> Any:
        return jax.vjp(lambda p: spec.loss(p, *inputs), params)[1]

    leaves = jax.tree.leaves(jax.eval_shape(saved, spec.params(), *spec.inputs(batch)))
    return sum(math.prod(leaf.shape) * leaf.dtype.itemsize for leaf in leaves)


def _on_cpu(tree: Any) -> Any:
    """The same abstract arrays, placed on the CPU device: XLA's CPU backend compiles them
    whichever accelerator the process also sees, so the figures do not depend on the machine."""
    sharding = jax.sharding.SingleDeviceSharding(jax.devices("cpu")[0])
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding), tree)


def compile_at(spec: ModelSpec, batch: int) -> dict[str, float]:
    """Compile the forward pass and one training step at `batch`; XLA's figures for both."""
    params = _on_cpu(spec.params())
    inputs = _on_cpu(spec.inputs(batch))
    forward = jax.jit(spec.loss).lower(params, *inputs).compile(COMPILER_OPTIONS)
    training = (
        jax.jit(jax.value_and_grad(spec.loss)).lower(params, *inputs).compile(COMPILER_OPTIONS)
    )
    fwd_cost, train_cost = _cost(forward), _cost(training)
    fwd_mem, train_mem = forward.memory_analysis(), training.memory_analysis()
    return {
        "autodiff_residual_bytes": float(residual_bytes(spec, batch)),
        "forward_flops": float(fwd_cost["flops"]),
        "forward_bytes_accessed": float(fwd_cost["bytes accessed"]),
        "forward_temp_bytes": float(fwd_mem.temp_size_in_bytes),
        "training_flops": float(train_cost["flops"]),
        "training_transcendentals": float(train_cost.get("transcendentals", 0.0)),
        "training_bytes_accessed": float(train_cost["bytes accessed"]),
        "training_temp_bytes": float(train_mem.temp_size_in_bytes),
        "training_argument_bytes": float(train_mem.argument_size_in_bytes),
        "training_output_bytes": float(train_mem.output_size_in_bytes),
    }


# Per-sample quantities written to the catalog: output name -> raw measurement.
PER_SAMPLE_FIELDS = {
    "forward_flops": "forward_flops",
    "training_flops": "training_flops",
    "training_transcendentals": "training_transcendentals",
    "training_bytes_accessed": "training_bytes_accessed",
    "forward_bytes_accessed": "forward_bytes_accessed",
    "activation_bytes": "training_temp_bytes",
    "forward_activation_bytes": "forward_temp_bytes",
    "autodiff_residual_bytes": "autodiff_residual_bytes",
}


def measure(spec: ModelSpec) -> dict[str, Any]:
    """The catalog entry of one model: per-sample slopes, fixed parts and the raw figures."""
    params = parameter_count(spec.params())
    if spec.published_exact and params != spec.published_parameters:
        raise AssertionError(
            f"{spec.preset_id}: {params:,} parameters, published {spec.published_parameters:,}"
        )
    lo, hi = BATCHES
    raw = {batch: compile_at(spec, batch) for batch in BATCHES}
    per_sample: dict[str, float] = {}
    fixed: dict[str, float] = {}
    for name, key in PER_SAMPLE_FIELDS.items():
        slope = (raw[hi][key] - raw[lo][key]) / (hi - lo)
        per_sample[name] = slope
        fixed[name] = raw[lo][key] - lo * slope
    return {
        "parameters": params,
        "published_parameters": spec.published_parameters,
        "parameter_bytes": params * jnp.dtype(DTYPE).itemsize,
        "input": spec.input_description,
        "tokens_per_sample": spec.tokens_per_sample,
        "dtype": jnp.dtype(DTYPE).name,
        "source": spec.source,
        "note": spec.note,
        "per_sample": per_sample,
        "fixed": fixed,
        "compiled": [{"batch": batch, **raw[batch]} for batch in BATCHES],
    }


def _today() -> str:
    """Today's date (UTC), or that of SOURCE_DATE_EPOCH when set (reproducible output)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch else dt.datetime.now(dt.UTC)
    return moment.date().isoformat()


HEADER = f"""\
# Per-sample compute, memory traffic and activation memory of the non-transformer presets
# (and ViT-B/16 as a cross-check of the analytic transformer path), from XLA's cost and memory
# analysis of pure-JAX implementations compiled from abstract shapes (nothing allocated).
# Generated by scripts/compile_model_costs.py; do not edit by hand. Regenerate with
#   {REGENERATE}
# Units: FLOPs (a multiply-add = 2), bytes; per_sample = per image, or per 35-token sequence
# for the LSTM (tokens_per_sample); fixed = the part that does not grow with the batch.
"""


def render(entries: dict[str, dict[str, Any]]) -> str:
    """The YAML text of catalog/model_costs.yaml."""
    document = {
        "generated": _today(),
        "jax_version": jax.__version__,
        "jaxlib_version": jaxlib.__version__,
        "xla_backend": jax.devices("cpu")[0].platform,
        "batch_sizes": list(BATCHES),
        "method": METHOD,
        "models": entries,
    }
    return HEADER + yaml.safe_dump(document, sort_keys=False, width=100)


def _report(preset_id: str, entry: dict[str, Any], seconds: float) -> None:
    per = entry["per_sample"]
    print(
        f"{preset_id}: {entry['parameters']:,} parameters "
        f"(published {entry['published_parameters']:,}), compiled in {seconds:.1f} s\n"
        f"  per sample: forward {per['forward_flops']:.4e} FLOPs, training "
        f"{per['training_flops']:.4e} FLOPs ({per['training_flops'] / per['forward_flops']:.2f}x), "
        f"{per['training_bytes_accessed']:.4e} bytes accessed, "
        f"activations {per['activation_bytes'] / 2**20:.1f} MiB "
        f"(fixed {entry['fixed']['activation_bytes'] / 2**20:.1f} MiB)"
    )
    if preset_id == "resnet-50":
        padded = resnet50_conv_macs(count_padding=True)
        unpadded = resnet50_conv_macs(count_padding=False)
        flops = per["forward_flops"]
        print(
            f"  cross-check: XLA forward {flops / 1e9:.3f} GFLOPs/image; torchvision 4.09 GMACs "
            f"(by hand: {padded / 1e9:.3f}) = {2 * padded / 1e9:.3f} GFLOPs, ratio "
            f"{flops / (2 * padded):.3f}; He et al. 2016: 3.8e9 multiply-adds (v1).\n"
            f"  XLA skips taps on padding: {unpadded / 1e9:.3f} GMACs = {2 * unpadded / 1e9:.3f} "
            f"GFLOPs of conv/fc; the other {(flops - 2 * unpadded) / 1e9:.3f} GFLOPs are "
            "BatchNorm, ReLU, residual adds, pooling and the loss"
        )
    if preset_id == "lstm-zaremba-large-ptb":
        print(
            f"  parameters {entry['parameters'] / 1e6:.3f}M vs published "
            f"{entry['published_parameters'] / 1e6:.0f}M (Merity et al. 2018, rounded) and "
            "66.02M of the preset note"
        )


def main(argv: list[str] | None = None) -> int:
    """Compile every model, print a summary and write catalog/model_costs.yaml."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help="YAML file to write")
    args = parser.parse_args(argv)
    jax.config.update("jax_platforms", "cpu")  # compiled for the CPU anyway (_on_cpu)
    start = time.perf_counter()
    entries = {}
    for preset_id, spec in MODELS.items():
        began = time.perf_counter()
        entries[preset_id] = measure(spec)
        _report(preset_id, entries[preset_id], time.perf_counter() - began)
    args.output.write_text(render(entries))
    print(f"wrote {args.output} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
