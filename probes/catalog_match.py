"""The catalog side of the probes: which catalog GPU this device is (`gpu_identity.matching`,
shared with the web service), and that GPU's record (dense peaks, memory bandwidth) read from
the catalog's YAML files when they are at hand."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gpu_identity.matching import (
    RULES,
    Match,
    Rule,
    match_catalog_id,
    match_device,
    normalize,
    rule_ids,
)

__all__ = [
    "RULES",
    "Match",
    "Rule",
    "default_catalog_dir",
    "load_catalog_record",
    "match_catalog_id",
    "match_device",
    "memory_bandwidth_gb_s_of",
    "normalize",
    "peak_tflops_of",
    "rule_ids",
]


def default_catalog_dir() -> Path:
    """`$ADVISOR_CATALOG_DIR/gpus`, else the repository's catalog/gpus next to this package."""
    configured = os.environ.get("ADVISOR_CATALOG_DIR")
    root = Path(configured) if configured else Path(__file__).resolve().parent.parent / "catalog"
    return root / "gpus"


def load_catalog_record(gpu_id: str, directory: Path | None = None) -> dict[str, Any] | None:
    """The catalog record of `gpu_id` from the GPU YAML files, or None.

    None also when PyYAML is not installed or the catalog folder is absent (a remote agent may
    run the probes without the repository): the probes then skip the comparison with peaks.
    """
    try:
        import yaml
    except ImportError:
        return None
    folder = directory or default_catalog_dir()
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for record in data.get("gpus", []):
            if isinstance(record, dict) and record.get("id") == gpu_id:
                return record
    return None


def peak_tflops_of(record: Mapping[str, Any]) -> dict[str, float]:
    """Dense peak TFLOP/s by precision from a catalog record (absent or null ones left out)."""
    peaks = record.get("peak_tflops") or {}
    return {str(k): float(v) for k, v in peaks.items() if isinstance(v, int | float) and v > 0}


def memory_bandwidth_gb_s_of(record: Mapping[str, Any]) -> float | None:
    """Peak memory bandwidth in GB/s (10^9 B/s) from a catalog record, if given."""
    value = record.get("memory_bandwidth_gb_s")
    return float(value) if isinstance(value, int | float) and value > 0 else None
