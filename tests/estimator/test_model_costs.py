"""catalog/model_costs.yaml: XLA's per-sample costs of the non-transformer presets.

The figures come from scripts/compile_model_costs.py, which compiles pure-JAX implementations
of ResNet-50 (He et al. 2016), the Zaremba et al. 2014 "large" LSTM and ViT-B/16 (Dosovitskiy
et al. 2021) from abstract shapes. These tests check that the stored file is what the script
computes today, that the implementations have the published parameter counts, and that XLA's
ResNet-50 FLOP count is where the literature puts it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from app.config import PROJECT_ROOT

jax = pytest.importorskip("jax")

SCRIPT = PROJECT_ROOT / "scripts" / "compile_model_costs.py"
COSTS = PROJECT_ROOT / "catalog" / "model_costs.yaml"
MODELS = PROJECT_ROOT / "catalog" / "models.yaml"

RESNET50_PARAMETERS = 25_557_032  # torchvision ResNet50_Weights.IMAGENET1K_V1 num_params
VIT_B16_PARAMETERS = 86_567_656  # torchvision ViT_B_16_Weights.IMAGENET1K_V1 num_params
LSTM_LARGE_PARAMETERS = 66_022_000  # the preset note's arithmetic (published: "66M")
RECOMPUTED = "resnet-50"  # compiles fastest of the three (about 5-10 s on two CPU cores)
RELATIVE = 1e-6


def _load(path: Path) -> ModuleType:
    """Import a file that is not part of a package (scripts/ is not one)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return _load(SCRIPT)


@pytest.fixture(scope="module")
def stored() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COSTS.read_text())
    return data


def _assert_close(fresh: dict[str, float], kept: dict[str, float], where: str) -> None:
    assert fresh.keys() == kept.keys(), where
    for key, value in fresh.items():
        assert value == pytest.approx(kept[key], rel=RELATIVE), f"{where}.{key}"


def test_stored_costs_match_a_fresh_compilation(script: ModuleType, stored: dict[str, Any]) -> None:
    if stored["jax_version"] != jax.__version__:
        pytest.skip(
            f"catalog/model_costs.yaml was computed with JAX {stored['jax_version']}, this is "
            f"{jax.__version__} (XLA's counts change between versions): regenerate it with "
            f"{script.REGENERATE}"
        )
    fresh = script.measure(script.MODELS[RECOMPUTED])
    kept = stored["models"][RECOMPUTED]
    assert fresh["parameters"] == kept["parameters"]
    _assert_close(fresh["per_sample"], kept["per_sample"], "per_sample")
    _assert_close(fresh["fixed"], kept["fixed"], "fixed")
    assert [c["batch"] for c in fresh["compiled"]] == [c["batch"] for c in kept["compiled"]]
    for fresh_raw, kept_raw in zip(fresh["compiled"], kept["compiled"], strict=True):
        _assert_close(fresh_raw, kept_raw, f"compiled[batch={kept_raw['batch']}]")


def test_parameter_counts_equal_the_published_figures(stored: dict[str, Any]) -> None:
    models = stored["models"]
    assert models["resnet-50"]["parameters"] == RESNET50_PARAMETERS
    assert models["vit-b-16"]["parameters"] == VIT_B16_PARAMETERS
    assert models["lstm-zaremba-large-ptb"]["parameters"] == LSTM_LARGE_PARAMETERS
    presets = {m["id"]: m for m in yaml.safe_load(MODELS.read_text())["models"]}
    for preset_id in ("resnet-50", "vit-b-16"):  # exact published counts in the catalog too
        assert models[preset_id]["parameters"] == presets[preset_id]["published_parameters"]
    lstm = presets["lstm-zaremba-large-ptb"]["published_parameters"]  # 66M, rounded
    assert models["lstm-zaremba-large-ptb"]["parameters"] == pytest.approx(lstm, rel=0.005)


def test_resnet50_forward_flops_per_image_match_the_literature(
    script: ModuleType, stored: dict[str, Any]
) -> None:
    # torchvision: 4.09 GMACs (its "GFLOPS") = 8.18e9 FLOPs; XLA leaves out the taps that fall on
    # padding (3.95 GMACs) and adds BatchNorm, ReLU, residual adds and pooling (~0.17e9).
    flops = stored["models"]["resnet-50"]["per_sample"]["forward_flops"]
    assert 7.5e9 < flops < 9.5e9
    assert script.resnet50_conv_macs(count_padding=True) == pytest.approx(4.09e9, rel=1e-3)
    elementwise = flops - 2 * script.resnet50_conv_macs(count_padding=False)
    assert 0 < elementwise < 0.05 * flops
    ratio = stored["models"]["resnet-50"]["per_sample"]["training_flops"] / flops
    assert ratio == pytest.approx(3.0, rel=0.02)  # backward = 2 x forward


def test_every_model_has_per_sample_and_fixed_figures(stored: dict[str, Any]) -> None:
    fields = {
        "forward_flops",
        "training_flops",
        "training_bytes_accessed",
        "activation_bytes",
        "autodiff_residual_bytes",
    }
    assert set(stored["models"]) == {"resnet-50", "lstm-zaremba-large-ptb", "vit-b-16"}
    for preset_id, entry in stored["models"].items():
        assert fields <= entry["per_sample"].keys() <= entry["fixed"].keys(), preset_id
        assert all(entry["per_sample"][f] > 0 for f in fields), preset_id
    assert stored["models"]["lstm-zaremba-large-ptb"]["tokens_per_sample"] == 35
    assert stored["xla_backend"] == "cpu"


def test_lstm_hand_written_backward_equals_autodiff(script: ModuleType) -> None:
    """The cuDNN-style backward of the LSTM recurrence gives autodiff's gradients (tiny sizes)."""
    jnp = jax.numpy
    steps, batch, hidden = 4, 2, 3
    keys = jax.random.split(jax.random.key(0), 5)
    w_hh = 0.5 * jax.random.normal(keys[0], (hidden, 4 * hidden))
    x_proj = jax.random.normal(keys[1], (steps, batch, 4 * hidden))
    h0 = jax.random.normal(keys[2], (batch, hidden))
    c0 = jax.random.normal(keys[3], (batch, hidden))
    weights = jax.random.normal(keys[4], (steps, batch, hidden))

    def autodiff(*args: Any) -> Any:
        return jnp.sum(script._recurrence_forward(*args)[0] * weights)

    def hand_written(*args: Any) -> Any:
        return jnp.sum(script._lstm_recurrence(*args) * weights)

    args = (w_hh, x_proj, h0, c0)
    expected = jax.jit(jax.grad(autodiff, argnums=(0, 1, 2, 3)))(*args)
    got = jax.jit(jax.grad(hand_written, argnums=(0, 1, 2, 3)))(*args)
    for want, have in zip(expected, got, strict=True):
        assert jnp.allclose(have, want, rtol=1e-5, atol=1e-6)
