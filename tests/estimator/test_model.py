"""Parameter counts and model descriptions: presets, config.json, bare parameter counts."""

from __future__ import annotations

from typing import Any

import pytest

from app.estimator.hf_config import HfConfigError, shape_from_hf_config
from app.estimator.model import (
    TransformerShape,
    active_parameter_count,
    parameter_count,
    shape_for_parameter_count,
    shape_from_preset_architecture,
)
from app.services.catalog import LoadedCatalog
from tests.conftest import CATALOG_DIR

PRESET_TOLERANCE = 0.005  # the bound: presets within 0.5% of their published counts


def _transformer_presets() -> list[str]:
    from app.services.catalog import load_catalog

    return [m.id for m in load_catalog(CATALOG_DIR).models if m.kind not in ("cnn", "rnn")]


@pytest.mark.parametrize("preset_id", _transformer_presets())
def test_preset_parameter_count_matches_its_published_count(
    catalog: LoadedCatalog, preset_id: str
) -> None:
    preset = catalog.model(preset_id)
    assert preset is not None
    shape = shape_from_preset_architecture(preset.kind, preset.architecture)
    assert parameter_count(shape) == pytest.approx(
        preset.published_parameters, rel=PRESET_TOLERANCE
    )


def test_mixtral_counts_only_two_of_eight_experts_as_active(catalog: LoadedCatalog) -> None:
    preset = catalog.model("mixtral-8x7b")
    assert preset is not None
    shape = shape_from_preset_architecture(preset.kind, preset.architecture)
    # Mistral AI: 46.7B parameters, 12.9B used per token ("Mixtral of experts", 2024).
    assert active_parameter_count(shape) == pytest.approx(12.9e9, rel=0.005)


# Configs as Hugging Face publishes them (only the fields that matter; others are ignored).
HF_CONFIGS: dict[str, tuple[dict[str, Any], int]] = {
    "llama-2-7b": (
        {"model_type": "llama", "num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32,
         "num_key_value_heads": 32, "intermediate_size": 11008, "vocab_size": 32000,
         "rope_theta": 10000.0, "torch_dtype": "float16"},
        6_738_415_616,
    ),
    "mistral-7b": (
        {"model_type": "mistral", "num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32,
         "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000, "sliding_window": 4096},
        7_241_732_096,
    ),
    "mixtral-8x7b": (
        {"model_type": "mixtral", "num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32,
         "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000,
         "num_local_experts": 8, "num_experts_per_tok": 2},
        46_702_792_704,
    ),
    "qwen2.5-0.5b": (
        {"model_type": "qwen2", "num_hidden_layers": 24, "hidden_size": 896, "num_attention_heads": 14,
         "num_key_value_heads": 2, "intermediate_size": 4864, "vocab_size": 151936,
         "tie_word_embeddings": True},
        494_032_768,
    ),
    "gemma-2-9b": (
        {"model_type": "gemma2", "num_hidden_layers": 42, "hidden_size": 3584, "num_attention_heads": 16,
         "num_key_value_heads": 8, "head_dim": 256, "intermediate_size": 14336, "vocab_size": 256000},
        9_241_705_984,
    ),
    "phi-3-mini": (
        {"model_type": "phi3", "num_hidden_layers": 32, "hidden_size": 3072, "num_attention_heads": 32,
         "num_key_value_heads": 32, "intermediate_size": 8192, "vocab_size": 32064},
        3_821_079_552,
    ),
    "gpt2": ({"model_type": "gpt2", "n_layer": 12, "n_embd": 768, "n_head": 12, "vocab_size": 50257,
              "n_positions": 1024}, 124_439_808),
    "bert-base-uncased": (
        {"model_type": "bert", "num_hidden_layers": 12, "hidden_size": 768, "num_attention_heads": 12,
         "intermediate_size": 3072, "vocab_size": 30522, "max_position_embeddings": 512,
         "type_vocab_size": 2},
        109_482_240,
    ),
    "t5-base": (
        {"model_type": "t5", "num_layers": 12, "d_model": 768, "num_heads": 12, "d_kv": 64,
         "d_ff": 3072, "vocab_size": 32128, "feed_forward_proj": "relu"},
        222_903_552,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(HF_CONFIGS))
def test_hf_config_gives_the_exact_parameter_count(name: str) -> None:
    config, expected = HF_CONFIGS[name]
    assert parameter_count(shape_from_hf_config(config)) == expected


def test_hf_config_missing_fields_are_named() -> None:
    with pytest.raises(HfConfigError) as caught:
        shape_from_hf_config({"model_type": "llama", "hidden_size": 4096})
    assert caught.value.fields == [
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "vocab_size",
    ]


def test_hf_config_of_an_unsupported_family_is_refused() -> None:
    with pytest.raises(HfConfigError, match="model_type 'falcon' is not supported"):
        shape_from_hf_config({"model_type": "falcon", "hidden_size": 4544})


def test_hf_config_without_model_type_is_refused() -> None:
    with pytest.raises(HfConfigError, match="no model_type"):
        shape_from_hf_config({"hidden_size": 4096})


@pytest.mark.parametrize("parameters", [1.2e8, 1.3e9, 7e9, 70e9, 405e9])
def test_shape_assumed_for_a_bare_count_is_close_to_it(parameters: float) -> None:
    shape = shape_for_parameter_count(parameters)
    assert parameter_count(shape) == pytest.approx(parameters, rel=0.15)


def test_heads_must_divide_hidden_size() -> None:
    with pytest.raises(ValueError, match="heads \\(3\\) must divide hidden_size \\(100\\)"):
        TransformerShape(layers=2, hidden_size=100, heads=3)


def test_kv_heads_must_divide_heads() -> None:
    with pytest.raises(ValueError, match="kv_heads"):
        TransformerShape(layers=2, hidden_size=128, heads=8, kv_heads=3)
