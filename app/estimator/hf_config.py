"""A Hugging Face `config.json`, pasted as is, turned into transformer dimensions.

Supported families (by `model_type`): llama, mistral, mixtral, qwen2, qwen2_moe (dense part
only is refused), gemma, gemma2, phi3, gpt2, bert, roberta, t5. Field names follow each
family's configuration class in Hugging Face transformers; unknown fields are ignored, and a
missing required field is reported by name.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError

from app.estimator.model import Architecture, TransformerShape

LLAMA_LIKE = {"llama", "mistral", "mixtral", "qwen2", "gemma", "gemma2", "phi3"}
SUPPORTED_FAMILIES = sorted(LLAMA_LIKE | {"gpt2", "bert", "roberta", "t5"})


class HfConfigError(ValueError):
    """The config cannot be read; `fields` names what is missing or wrong."""

    def __init__(self, message: str, fields: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or []


def _require(config: dict[str, Any], names: list[str], family: str) -> None:
    missing = [n for n in names if config.get(n) is None]
    if missing:
        raise HfConfigError(
            f"hf_config for model_type '{family}' is missing required field(s): {', '.join(missing)}",
            missing,
        )


def _int(config: dict[str, Any], name: str) -> int:
    """A required positive integer; 4096.0 is accepted (some exporters write floats), while
    booleans, lists, objects, strings, fractions and +-Infinity are refused naming the key."""
    value = config[name]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not math.isfinite(value))
        or value != int(value)
        or value < 1
    ):
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
        raise HfConfigError(f"hf_config.{name} must be a positive integer, got {shown}", [name])
    return int(value)


def _opt_int(config: dict[str, Any], name: str, default: int | None) -> int | None:
    """An optional positive integer: absent, null or 0 give `default`; otherwise as `_int`."""
    value = config.get(name)
    if value is None or (value == 0 and not isinstance(value, bool)):
        return default
    return _int(config, name)


def _shape(keys: dict[str, str], **fields: Any) -> TransformerShape:
    """The TransformerShape, with a range error reported under the config key it came from
    (`hf_config.num_hidden_layers: ...`) rather than the internal field name."""
    try:
        return TransformerShape(**fields)
    except ValidationError as exc:
        named: list[str] = []
        messages: list[str] = []
        for error in exc.errors(include_url=False, include_context=False, include_input=False):
            field = str(error["loc"][0]) if error["loc"] else ""
            key = keys.get(field, field)
            where = f"hf_config.{key}" if key else "hf_config"
            named.append(key or "hf_config")
            messages.append(f"{where}: {error['msg']}")
        raise HfConfigError("; ".join(messages), named) from None


def shape_from_hf_config(config: dict[str, Any]) -> TransformerShape:
    """Dimensions of the model a config.json describes; HfConfigError names what is wrong."""
    family = config.get("model_type")
    if not isinstance(family, str):
        raise HfConfigError("hf_config has no model_type (e.g. 'llama', 'gpt2')", ["model_type"])
    if family not in SUPPORTED_FAMILIES:
        raise HfConfigError(
            f"hf_config model_type '{family}' is not supported; supported: {', '.join(SUPPORTED_FAMILIES)}",
            ["model_type"],
        )
    if family in LLAMA_LIKE:
        return _llama_like(config, family)
    if family == "gpt2":
        return _gpt2(config)
    if family in ("bert", "roberta"):
        return _bert(config, family)
    return _t5(config)


def _llama_like(config: dict[str, Any], family: str) -> TransformerShape:
    required = [
        "num_hidden_layers",
        "hidden_size",
        "num_attention_heads",
        "intermediate_size",
        "vocab_size",
    ]
    _require(config, required, family)
    heads = _int(config, "num_attention_heads")
    tied_default = family in ("gemma", "gemma2")
    experts = _opt_int(config, "num_local_experts", 1) or 1
    keys = {
        "layers": "num_hidden_layers",
        "hidden_size": "hidden_size",
        "heads": "num_attention_heads",
        "kv_heads": "num_key_value_heads",
        "head_dim": "head_dim",
        "ffn_hidden_size": "intermediate_size",
        "vocab_size": "vocab_size",
        "experts": "num_local_experts",
        "experts_per_token": "num_experts_per_tok",
        "max_position_embeddings": "max_position_embeddings",
    }
    return _shape(
        keys,
        layers=_int(config, "num_hidden_layers"),
        hidden_size=_int(config, "hidden_size"),
        heads=heads,
        kv_heads=_opt_int(config, "num_key_value_heads", heads),
        head_dim=_opt_int(config, "head_dim", None),
        ffn_hidden_size=_int(config, "intermediate_size"),
        vocab_size=_int(config, "vocab_size"),
        gated_ffn=True,
        tied_embeddings=bool(config.get("tie_word_embeddings", tied_default)),
        experts=experts,
        experts_per_token=_opt_int(config, "num_experts_per_tok", 1) if experts > 1 else 1,
        position_embedding="rope",
        max_position_embeddings=_opt_int(config, "max_position_embeddings", 0),
        norm="rmsnorm",
        # Qwen2 puts biases on q, k and v only (Qwen2Attention); Llama-style configs say so.
        attention_bias="qkv" if family == "qwen2" else bool(config.get("attention_bias", False)),
        mlp_bias=bool(config.get("mlp_bias", False)),
        extra_norms_per_layer=2 if family == "gemma2" else 0,
    )


def _gpt2(config: dict[str, Any]) -> TransformerShape:
    _require(config, ["n_layer", "n_embd", "n_head", "vocab_size"], "gpt2")
    hidden = _int(config, "n_embd")
    keys = {
        "layers": "n_layer",
        "hidden_size": "n_embd",
        "heads": "n_head",
        "ffn_hidden_size": "n_inner",
        "vocab_size": "vocab_size",
        "max_position_embeddings": "n_positions",
    }
    return _shape(
        keys,
        layers=_int(config, "n_layer"),
        hidden_size=hidden,
        heads=_int(config, "n_head"),
        ffn_hidden_size=_opt_int(config, "n_inner", 4 * hidden),
        vocab_size=_int(config, "vocab_size"),
        gated_ffn=False,
        tied_embeddings=bool(config.get("tie_word_embeddings", True)),
        position_embedding="learned",
        max_position_embeddings=_opt_int(config, "n_positions", 1024),
        norm="layernorm",
        attention_bias=True,
        mlp_bias=True,
    )


def _bert(config: dict[str, Any], family: str) -> TransformerShape:
    required = [
        "num_hidden_layers",
        "hidden_size",
        "num_attention_heads",
        "intermediate_size",
        "vocab_size",
    ]
    _require(config, required, family)
    keys = {
        "layers": "num_hidden_layers",
        "hidden_size": "hidden_size",
        "heads": "num_attention_heads",
        "ffn_hidden_size": "intermediate_size",
        "vocab_size": "vocab_size",
        "max_position_embeddings": "max_position_embeddings",
        "type_vocab_size": "type_vocab_size",
    }
    return _shape(
        keys,
        layers=_int(config, "num_hidden_layers"),
        hidden_size=_int(config, "hidden_size"),
        heads=_int(config, "num_attention_heads"),
        ffn_hidden_size=_int(config, "intermediate_size"),
        vocab_size=_int(config, "vocab_size"),
        gated_ffn=False,
        tied_embeddings=True,
        architecture=Architecture.encoder,
        position_embedding="learned",
        max_position_embeddings=_opt_int(config, "max_position_embeddings", 512),
        type_vocab_size=_opt_int(config, "type_vocab_size", 0),
        pooler=True,
        norm="layernorm",
        attention_bias=True,
        mlp_bias=True,
    )


def _t5(config: dict[str, Any]) -> TransformerShape:
    _require(config, ["num_layers", "d_model", "num_heads", "d_ff", "vocab_size"], "t5")
    gated = str(config.get("feed_forward_proj", "relu")).startswith("gated")
    keys = {
        "layers": "num_decoder_layers",
        "encoder_layers": "num_layers",
        "hidden_size": "d_model",
        "heads": "num_heads",
        "head_dim": "d_kv",
        "ffn_hidden_size": "d_ff",
        "vocab_size": "vocab_size",
        "relative_attention_num_buckets": "relative_attention_num_buckets",
    }
    return _shape(
        keys,
        layers=_opt_int(config, "num_decoder_layers", None) or _int(config, "num_layers"),
        encoder_layers=_int(config, "num_layers"),
        hidden_size=_int(config, "d_model"),
        heads=_int(config, "num_heads"),
        head_dim=_opt_int(config, "d_kv", None),
        ffn_hidden_size=_int(config, "d_ff"),
        vocab_size=_int(config, "vocab_size"),
        gated_ffn=gated,
        tied_embeddings=bool(config.get("tie_word_embeddings", True)),
        architecture=Architecture.encoder_decoder,
        position_embedding="relative",
        relative_attention_num_buckets=_opt_int(config, "relative_attention_num_buckets", 32),
        norm="rmsnorm",
    )
