"""Builders for test data: catalog records and catalog folders written to a temporary path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

# A synthetic record with made-up figures: it exercises the loader, it is not catalog data.
_GPU: dict[str, Any] = {
    "id": "testvendor-gpu-a",
    "vendor": "nvidia",
    "name": "Test GPU A",
    "architecture": "Testarch",
    "segment": "datacenter",
    "form_factor": "sxm",
    "release_date": "2024-01",
    "memory_gb": 80,
    "memory_type": "HBM3",
    "memory_bandwidth_gb_s": 3000,
    "peak_tflops": {"fp32": 60.0, "tf32": 400.0, "bf16": 800.0, "fp16": 800.0},
    "tdp_w": 700,
    "pcie_gen": 5,
    "interconnect": {"type": "nvlink-4", "bandwidth_gb_s": 900},
    "ecosystem": {
        "platform": "cuda",
        "compute_capability": "9.0",
        "frameworks": {"pytorch": True, "jax": True, "tensorflow": True},
    },
    "sources": [
        {
            "title": "Test datasheet",
            "url": "https://example.com/datasheet.pdf",
            "retrieved": "2026-11-22",
        }
    ],
}

_PRICE: dict[str, Any] = {
    "gpu": "testvendor-gpu-a",
    "kind": "cloud_on_demand",
    "provider": "testcloud",
    "instance": "t.8x",
    "gpus_per_instance": 8,
    "region": "list",
    "instance_usd_per_hour": 16.0,
    "usd_per_gpu_hour": 2.0,
    "observed": "2026-11",
    "source": {
        "title": "Test prices",
        "url": "https://example.com/prices",
        "retrieved": "2026-11-22",
    },
}


def gpu_record(**overrides: Any) -> dict[str, Any]:
    """A valid GPU record; keyword arguments replace top-level fields (None deletes one)."""
    record = copy.deepcopy(_GPU)
    for key, value in overrides.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    return record


def price_record(**overrides: Any) -> dict[str, Any]:
    record = copy.deepcopy(_PRICE)
    record.update(overrides)
    return record


def write_catalog(
    root: Path,
    gpus: list[dict[str, Any]] | None = None,
    prices: list[dict[str, Any]] | None = None,
    models: list[dict[str, Any]] | None = None,
    *,
    gpu_file: str = "test.yaml",
) -> Path:
    """Write a catalog folder (gpus/<gpu_file>, prices.yaml, models.yaml) and return it."""
    catalog = root / "catalog"
    (catalog / "gpus").mkdir(parents=True, exist_ok=True)
    gpus = [gpu_record()] if gpus is None else gpus
    (catalog / "gpus" / gpu_file).write_text(yaml.safe_dump({"gpus": gpus}, sort_keys=False))
    if prices is not None:
        (catalog / "prices.yaml").write_text(yaml.safe_dump({"prices": prices}, sort_keys=False))
    if models is not None:
        (catalog / "models.yaml").write_text(yaml.safe_dump({"models": models}, sort_keys=False))
    return catalog


def llama2_shapes() -> dict[str, Any]:
    """Llama 2 7B and 70B dimensions (Touvron et al. 2023; their Hugging Face config.json)."""
    from app.estimator.model import TransformerShape

    return {
        "7b": TransformerShape(
            layers=32, hidden_size=4096, heads=32, ffn_hidden_size=11008, vocab_size=32000, gated_ffn=True
        ),
        "70b": TransformerShape(
            layers=80, hidden_size=8192, heads=64, kv_heads=8, ffn_hidden_size=28672, vocab_size=32000,
            gated_ffn=True,
        ),
    }  # fmt: skip
