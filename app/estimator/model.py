"""Model description: transformer dimensions, and exact parameter counts from them.

A `TransformerShape` describes decoder-only (GPT, Llama, Mistral, Mixtral, Qwen2, Gemma 2,
Phi-3), encoder-only (BERT, ViT) and encoder-decoder (T5) models. Parameter counts are exact
for a given architecture: every weight matrix, bias, norm, embedding and head is counted, so a
preset reproduces its published count (tests/estimator/test_model.py checks each within 0.5%).
"""

from __future__ import annotations

import math
from enum import StrEnum
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Architecture(StrEnum):
    decoder = "decoder"
    encoder = "encoder"
    encoder_decoder = "encoder-decoder"
    vision_transformer = "vision-transformer"


class TransformerShape(BaseModel):
    """Transformer dimensions (the API's `model.transformer`); sizes are counts, not bytes."""

    # "a vision transformer needs image_size and patch_size", stated for OpenAPI readers.
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "if": {"properties": {"architecture": {"const": "vision-transformer"}},
                   "required": ["architecture"]},
            "then": {"required": ["image_size", "patch_size"],
                     "properties": {"image_size": {"type": "integer", "minimum": 1},
                                    "patch_size": {"type": "integer", "minimum": 1}}},
        },
    )  # fmt: skip

    layers: int = Field(ge=1, le=1_000, description="Transformer blocks (decoder blocks for T5).")
    hidden_size: int = Field(ge=1, le=1_000_000)
    heads: int = Field(ge=1, le=10_000, description="Query heads.")
    kv_heads: int | None = Field(
        default=None, ge=1, le=10_000, description="Key/value heads (GQA); default = heads."
    )
    head_dim: int | None = Field(
        default=None, ge=1, le=10_000, description="Per-head size; default hidden_size / heads."
    )
    ffn_hidden_size: int | None = Field(
        default=None, ge=1, le=10_000_000, description="MLP inner size (per expert); default 4h."
    )
    vocab_size: int = Field(default=32_000, ge=1, le=10_000_000)
    gated_ffn: bool = Field(default=False, description="SwiGLU/GeGLU MLP (three matrices).")
    tied_embeddings: bool = Field(default=False, description="LM head shares the embedding.")
    experts: int = Field(default=1, ge=1, le=4_096, description="MoE experts per layer.")
    experts_per_token: int = Field(default=1, ge=1, le=4_096, description="Active experts.")
    architecture: Architecture = Architecture.decoder
    encoder_layers: int | None = Field(default=None, ge=1, le=1_000, description="T5 only.")
    position_embedding: Literal["rope", "learned", "relative", "none"] = "rope"
    max_position_embeddings: int = Field(default=0, ge=0, le=100_000_000)
    norm: Literal["rmsnorm", "layernorm"] = "rmsnorm"
    attention_bias: bool | Literal["qkv"] = Field(
        default=False, description="Projection biases: true (q, k, v, o), 'qkv' (Qwen2), false."
    )
    mlp_bias: bool = False
    router_bias: bool = False
    extra_norms_per_layer: int = Field(
        default=0, ge=0, le=8, description="Norms beyond the usual two per block (Gemma 2: 2)."
    )
    type_vocab_size: int = Field(default=0, ge=0, le=1_000, description="BERT token types.")
    pooler: bool = Field(default=False, description="BERT pooler (dense h x h).")
    relative_attention_num_buckets: int = Field(default=0, ge=0, le=10_000)
    image_size: int | None = Field(default=None, ge=1, le=100_000, description="ViT only.")
    patch_size: int | None = Field(default=None, ge=1, le=10_000)
    num_channels: int = Field(default=3, ge=1, le=1_000)
    num_classes: int = Field(default=0, ge=0, le=1_000_000)

    @model_validator(mode="after")
    def _consistent(self) -> TransformerShape:
        if self.head_dim is None and self.hidden_size % self.heads:
            raise ValueError(
                f"heads ({self.heads}) must divide hidden_size ({self.hidden_size}) "
                "unless head_dim is given"
            )
        if self.kv_heads is not None and self.heads % self.kv_heads:
            raise ValueError(f"kv_heads ({self.kv_heads}) must divide heads ({self.heads})")
        if self.experts_per_token > self.experts:
            raise ValueError(
                f"experts_per_token ({self.experts_per_token}) must be <= experts ({self.experts})"
            )
        if self.architecture is Architecture.vision_transformer and not (
            self.image_size and self.patch_size
        ):
            raise ValueError("a vision transformer needs image_size and patch_size")
        return self

    # Derived dimensions -------------------------------------------------------------------
    @property
    def n_kv_heads(self) -> int:
        return self.kv_heads or self.heads

    @property
    def d_head(self) -> int:
        return self.head_dim or self.hidden_size // self.heads

    @property
    def q_dim(self) -> int:
        """Width of the concatenated query heads (heads x head_dim)."""
        return self.heads * self.d_head

    @property
    def kv_dim(self) -> int:
        """Width of the concatenated key (or value) heads (kv_heads x head_dim)."""
        return self.n_kv_heads * self.d_head

    @property
    def ffn(self) -> int:
        return self.ffn_hidden_size or 4 * self.hidden_size

    @property
    def is_moe(self) -> bool:
        return self.experts > 1

    @property
    def decoder_layers(self) -> int:
        return self.layers

    @property
    def total_layers(self) -> int:
        return self.layers + (self.encoder_layers or 0)

    @property
    def patches(self) -> int:
        """Image tokens of a ViT (without the class token)."""
        if not (self.image_size and self.patch_size):
            return 0
        return (self.image_size // self.patch_size) ** 2

    @property
    def has_lm_head(self) -> bool:
        return self.architecture in (Architecture.decoder, Architecture.encoder_decoder)


# Parameter counts ---------------------------------------------------------------------------


def _norm_params(shape: TransformerShape) -> int:
    """One normalization layer: RMSNorm has a scale, LayerNorm a scale and a bias."""
    return shape.hidden_size * (2 if shape.norm == "layernorm" else 1)


def attention_params(shape: TransformerShape, *, cross: bool = False) -> int:
    """Q, K, V and output projections (+ biases) of one attention block.

    Cross-attention (T5 decoder) projects keys and values from the encoder with full heads.
    """
    h = shape.hidden_size
    kv = shape.q_dim if cross else shape.kv_dim
    weights = h * shape.q_dim + 2 * h * kv + shape.q_dim * h
    bias = 0
    if shape.attention_bias:
        bias = shape.q_dim + 2 * kv + (h if shape.attention_bias is True else 0)
    return weights + bias


def mlp_params_per_expert(shape: TransformerShape) -> int:
    """One MLP: gated (gate, up, down) = 3hf, plain (up, down) = 2hf, plus biases."""
    h, f = shape.hidden_size, shape.ffn
    matrices = 3 if shape.gated_ffn else 2
    bias = ((matrices - 1) * f + h) if shape.mlp_bias else 0
    return matrices * h * f + bias


def router_params(shape: TransformerShape) -> int:
    if not shape.is_moe:
        return 0
    return shape.hidden_size * shape.experts + (shape.experts if shape.router_bias else 0)


def block_params(shape: TransformerShape, *, cross_attention: bool = False) -> int:
    """One transformer block: attention, MLP (all experts), router and its norms."""
    norms = 2 + shape.extra_norms_per_layer + (1 if cross_attention else 0)
    cross = attention_params(shape, cross=True) if cross_attention else 0
    return (
        attention_params(shape)
        + cross
        + shape.experts * mlp_params_per_expert(shape)
        + router_params(shape)
        + norms * _norm_params(shape)
    )


def active_block_params(shape: TransformerShape) -> int:
    """Parameters one token touches in a block (MoE: only its experts_per_token experts)."""
    return block_params(shape) - (shape.experts - shape.experts_per_token) * mlp_params_per_expert(
        shape
    )


def embedding_params(shape: TransformerShape) -> int:
    """Token (or patch) embeddings, positions, token types, and the embedding-side norms/heads."""
    h = shape.hidden_size
    total = 0
    if shape.architecture is Architecture.vision_transformer:
        patch_in = shape.num_channels * (shape.patch_size or 0) ** 2
        total += patch_in * h + h  # patch projection (a strided conv) with bias
        total += h  # class token
        total += (shape.patches + 1) * h  # learned positions incl. the class token
    else:
        total += shape.vocab_size * h
        if shape.position_embedding == "learned":
            total += shape.max_position_embeddings * h
        total += shape.type_vocab_size * h
    if shape.position_embedding == "relative":
        # T5: a learned bias per bucket and head, in the first block of each stack.
        stacks = 2 if shape.architecture is Architecture.encoder_decoder else 1
        total += stacks * shape.relative_attention_num_buckets * shape.heads
    return total


def head_params(shape: TransformerShape) -> int:
    """Final norm(s), LM head (if untied), BERT pooler, ViT classifier."""
    h = shape.hidden_size
    final_norms = 2 if shape.architecture is Architecture.encoder_decoder else 1
    total = final_norms * _norm_params(shape)
    if shape.has_lm_head and not shape.tied_embeddings:
        total += shape.vocab_size * h
    if shape.pooler:
        total += h * h + h
    if shape.architecture is Architecture.vision_transformer and shape.num_classes:
        total += h * shape.num_classes + shape.num_classes
    return total


@lru_cache(maxsize=4096)
def parameter_count(shape: TransformerShape) -> int:
    """Every parameter of the model (all experts of an MoE).

    Source of the layout: the reference implementations (Hugging Face transformers' Llama,
    Mixtral, Qwen2, Gemma2, GPT-2, BERT, T5 and torchvision's ViT), checked against published
    counts in tests/estimator/test_model.py.
    """
    if shape.architecture is Architecture.encoder_decoder:
        encoder = (shape.encoder_layers or shape.layers) * block_params(shape)
        decoder = shape.layers * block_params(shape, cross_attention=True)
        return encoder + decoder + embedding_params(shape) + head_params(shape)
    return shape.layers * block_params(shape) + embedding_params(shape) + head_params(shape)


def active_parameter_count(shape: TransformerShape) -> int:
    """Parameters used per token (differs from parameter_count only for MoE)."""
    inactive = (shape.experts - shape.experts_per_token) * mlp_params_per_expert(shape)
    return parameter_count(shape) - shape.total_layers * inactive


def linear_layer_shapes(shape: TransformerShape) -> list[tuple[str, int, int, int]]:
    """(name, in_features, out_features, count in the model) of every block linear layer.

    Used by LoRA (adapters per targeted linear), QLoRA (which layers are quantized) and
    Adafactor (factored states per matrix). Embeddings and the LM head are excluded.
    """
    h, f = shape.hidden_size, shape.ffn
    n_blocks = shape.total_layers
    rows = [
        ("q_proj", h, shape.q_dim, n_blocks),
        ("k_proj", h, shape.kv_dim, n_blocks),
        ("v_proj", h, shape.kv_dim, n_blocks),
        ("o_proj", shape.q_dim, h, n_blocks),
    ]
    if shape.architecture is Architecture.encoder_decoder:
        rows += [
            ("cross_q_proj", h, shape.q_dim, shape.layers),
            ("cross_k_proj", h, shape.q_dim, shape.layers),
            ("cross_v_proj", h, shape.q_dim, shape.layers),
            ("cross_o_proj", shape.q_dim, h, shape.layers),
        ]
    experts = n_blocks * shape.experts
    if shape.gated_ffn:
        rows.append(("gate_proj", h, f, experts))
    rows += [("up_proj", h, f, experts), ("down_proj", f, h, experts)]
    return rows


# Shapes from other descriptions ---------------------------------------------------------


def shape_from_preset_architecture(kind: str, architecture: dict[str, Any]) -> TransformerShape:
    """Build a shape from a catalog preset's `architecture` block (extra config keys ignored)."""
    fields = set(TransformerShape.model_fields)
    values = {k: v for k, v in architecture.items() if k in fields}
    extra_norms = int(bool(architecture.get("post_attention_norm"))) + int(
        bool(architecture.get("post_ffn_norm"))
    )
    values["extra_norms_per_layer"] = extra_norms
    if kind == "encoder-decoder":
        values["architecture"] = Architecture.encoder_decoder
        values["layers"] = architecture["decoder_layers"]
        values["encoder_layers"] = architecture["encoder_layers"]
    elif kind in ("encoder", "vision-transformer"):
        values["architecture"] = Architecture(kind)
    for key in ("max_position_embeddings",):
        if values.get(key) is None:
            values.pop(key, None)
    if kind == "vision-transformer":
        values["vocab_size"] = 1
        values["max_position_embeddings"] = 0
    return TransformerShape.model_validate(values)


# A standard decoder for a bare parameter count: Llama-style blocks (SwiGLU, RMSNorm, RoPE,
# untied 32k vocabulary) with hidden/layers = 128, the ratio of Llama 2 7B (4096 / 32).
ASSUMED_ASPECT_RATIO = 128
ASSUMED_VOCAB = 32_000


def shape_for_parameter_count(parameters: float) -> TransformerShape:
    """An assumed Llama-style decoder whose parameter count is close to `parameters`."""

    def build(layers: int, hidden: int) -> TransformerShape:
        heads = max(1, hidden // 128)
        ffn = int(math.ceil(hidden * 8 / 3 / 256) * 256)
        return TransformerShape(
            layers=layers,
            hidden_size=heads * 128 if hidden >= 128 else hidden,
            heads=heads,
            ffn_hidden_size=ffn,
            vocab_size=ASSUMED_VOCAB,
            gated_ffn=True,
        )

    # 12 L h^2 ~ P with h = 128 L  ->  L = (P / (12 * 128^2))^(1/3)
    layers = max(1, round((parameters / (12 * ASSUMED_ASPECT_RATIO**2)) ** (1 / 3)))
    best = build(layers, 128)
    for hidden in range(128, 65_536 + 1, 128):
        candidate = build(layers, hidden)
        if abs(parameter_count(candidate) - parameters) < abs(parameter_count(best) - parameters):
            best = candidate
        if parameter_count(candidate) > parameters:
            break
    return best


def sequence_tokens(shape: TransformerShape, seq_len: int) -> int:
    """Tokens per sequence the model processes: a ViT's patches plus its class token (whatever
    seq_len says), else `seq_len`."""
    if shape.architecture is Architecture.vision_transformer:
        return shape.patches + 1
    return seq_len


def expert_parameter_count(shape: TransformerShape) -> int:
    """Parameters in the experts' MLPs of an MoE model (what expert parallelism splits); 0 for
    a dense model."""
    if not shape.is_moe:
        return 0
    names = {"gate_proj", "up_proj", "down_proj"}
    return sum(
        fan_in * fan_out * count
        for name, fan_in, fan_out, count in linear_layer_shapes(shape)
        if name in names
    )
