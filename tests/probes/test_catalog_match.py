"""Device names (as CUDA/ROCm report them to JAX) map to catalog ids, or honestly to None."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.config import PROJECT_ROOT
from probes.catalog_match import (
    RULES,
    load_catalog_record,
    match_catalog_id,
    match_device,
    memory_bandwidth_gb_s_of,
    normalize,
    peak_tflops_of,
    rule_ids,
)

GPU_DIR = PROJECT_ROOT / "catalog" / "gpus"

# (device_kind, memory in GiB or None, expected id). Memory is what the device reports
# (an "80GB" card has 79.6 GiB), or None when unknown.
NAMED = [
    ("NVIDIA H100 80GB HBM3", None, "nvidia-h100-sxm"),
    ("NVIDIA H100 PCIe", None, "nvidia-h100-pcie"),
    ("NVIDIA H100 NVL", None, "nvidia-h100-nvl"),
    ("NVIDIA H200", None, "nvidia-h200-sxm"),
    ("NVIDIA H200 NVL", None, "nvidia-h200-nvl"),
    ("NVIDIA H20", None, "nvidia-h20"),
    ("NVIDIA GH200 480GB", None, "nvidia-gh200"),
    ("NVIDIA B200", None, "nvidia-b200"),
    ("NVIDIA GB200", None, "nvidia-gb200"),
    ("NVIDIA B300 SXM6 AC", None, "nvidia-b300"),
    ("NVIDIA A100-SXM4-80GB", None, "nvidia-a100-sxm4-80gb"),
    ("NVIDIA A100-SXM4-40GB", None, "nvidia-a100-sxm4-40gb"),
    ("NVIDIA A100-PCIE-40GB", None, "nvidia-a100-pcie-40gb"),
    ("NVIDIA A100 80GB PCIe", None, "nvidia-a100-pcie-80gb"),
    ("Tesla V100-SXM2-16GB", None, "nvidia-v100-sxm2-16gb"),
    ("Tesla V100-SXM2-32GB", None, "nvidia-v100-sxm2-32gb"),
    ("Tesla V100-PCIE-32GB", None, "nvidia-v100-pcie-32gb"),
    ("Tesla T4", None, "nvidia-t4"),
    ("NVIDIA A10G", None, "nvidia-a10g"),
    ("NVIDIA A10", None, "nvidia-a10"),
    ("NVIDIA A2", None, "nvidia-a2"),
    ("NVIDIA L4", None, "nvidia-l4"),
    ("NVIDIA L40", None, "nvidia-l40"),
    ("NVIDIA L40S", None, "nvidia-l40s"),
    ("NVIDIA GeForce RTX 4090", None, "nvidia-geforce-rtx-4090"),
    ("NVIDIA GeForce RTX 3090", None, "nvidia-geforce-rtx-3090"),
    ("NVIDIA GeForce RTX 3090 Ti", None, "nvidia-geforce-rtx-3090-ti"),
    ("NVIDIA GeForce RTX 4070 Ti SUPER", None, "nvidia-geforce-rtx-4070-ti-super"),
    ("NVIDIA GeForce RTX 5090", None, "nvidia-geforce-rtx-5090"),
    ("NVIDIA RTX A6000", None, "nvidia-rtx-a6000"),
    ("NVIDIA RTX A2000 12GB", None, "nvidia-rtx-a2000-12gb"),
    ("NVIDIA RTX 6000 Ada Generation", None, "nvidia-rtx-6000-ada"),
    ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", None, "nvidia-rtx-pro-6000-blackwell"),
    (
        "NVIDIA RTX PRO 6000 Blackwell Server Edition",
        None,
        "nvidia-rtx-pro-6000-blackwell-server",
    ),
    ("Quadro RTX 8000", None, "nvidia-quadro-rtx-8000"),
    ("NVIDIA TITAN V", None, "nvidia-titan-v"),
    ("AMD Instinct MI300X", None, "amd-instinct-mi300x"),
    ("AMD Instinct MI250X", None, "amd-instinct-mi250x"),
    ("AMD Radeon RX 7900 XTX", None, "amd-radeon-rx-7900-xtx"),
    ("Intel(R) Data Center GPU Max 1550", None, "intel-max-1550"),
    ("NVIDIA H800", None, "nvidia-h800"),
    ("NVIDIA A800-SXM4-80GB", None, "nvidia-a800"),
    (
        "NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition",
        None,
        "nvidia-rtx-pro-6000-blackwell-max-q",
    ),
    ("NVIDIA GB10", None, "nvidia-gb10"),
    ("AMD Radeon AI PRO R9700", None, "amd-radeon-ai-pro-r9700"),
    ("Intel(R) Arc(TM) Pro B60 Graphics", None, "intel-arc-pro-b60"),
]

BY_MEMORY = [
    # the name lacks the size: the measured memory settles it
    ("NVIDIA GeForce RTX 3080", 9.8, "nvidia-geforce-rtx-3080-10gb"),
    ("NVIDIA GeForce RTX 3080", 11.8, "nvidia-geforce-rtx-3080-12gb"),
    ("NVIDIA GeForce RTX 3060", 12.0, "nvidia-geforce-rtx-3060-12gb"),
    ("NVIDIA GeForce RTX 4060 Ti", 15.7, "nvidia-geforce-rtx-4060-ti-16gb"),
    ("NVIDIA A100-SXM4", 79.2, "nvidia-a100-sxm4-80gb"),
    ("gfx942", 191.5, "amd-instinct-mi300x"),
    # the size in the name wins over the measured memory
    ("NVIDIA A100-SXM4-40GB", 79.2, "nvidia-a100-sxm4-40gb"),
]

UNMATCHED = [
    ("cpu", None),
    ("TPU v5 lite", None),
    ("NVIDIA GeForce RTX 4090 Laptop GPU", None),  # another chip under the same number
    ("NVIDIA GeForce RTX 4090 D", None),
    ("NVIDIA H800 PCIe", None),  # the PCIe H800 is not in the catalog
    ("Tesla V100S-PCIE-32GB", None),
    ("NVIDIA A800-SXM4-40GB", None),  # only the 80 GB A800 is in the catalog
    ("NVIDIA GH200 144G HBM3e", None),
    ("NVIDIA A100-SXM4", None),  # 40 or 80 GB: unknown memory cannot settle it
    ("NVIDIA GeForce RTX 3060", 8.0),  # the 8 GB variant is not in the catalog
    ("NVIDIA GeForce RTX 3080", 20.0),  # no variant near 20 GB
    ("NVIDIA H100", None),  # SXM or PCIe, both 80 GB: the name does not say
]


@pytest.mark.parametrize(("kind", "memory_gib", "expected"), NAMED + BY_MEMORY)
def test_device_names_match_their_catalog_gpu(
    kind: str, memory_gib: float | None, expected: str
) -> None:
    assert match_catalog_id(kind, memory_gib) == expected


@pytest.mark.parametrize(("kind", "memory_gib"), UNMATCHED)
def test_devices_not_surely_in_the_catalog_are_unmatched(
    kind: str, memory_gib: float | None
) -> None:
    match = match_device(kind, memory_gib)
    assert match.gpu_id is None
    assert match.reason


def _catalog_ids() -> set[str]:
    ids = set()
    for path in sorted(GPU_DIR.glob("*.yaml")):
        ids.update(record["id"] for record in yaml.safe_load(path.read_text())["gpus"])
    return ids


def test_every_id_a_rule_can_return_is_in_the_catalog() -> None:
    assert rule_ids() - _catalog_ids() == set()


def test_every_catalog_gpu_a_jax_backend_can_see_has_a_rule() -> None:
    # Gaudi runs on its own stack (no JAX device); the rest should be reachable.
    reachable = {gpu_id for gpu_id in _catalog_ids() if not gpu_id.startswith("intel-gaudi")}
    assert reachable - rule_ids() == set()


def test_no_rule_shadows_another() -> None:
    patterns = [rule.pattern for rule in RULES]
    assert len(patterns) == len(set(patterns))


@pytest.mark.parametrize(
    ("kind", "normal"),
    [
        ("NVIDIA A100-SXM4-80GB", "a100 sxm4 80gb"),
        ("Tesla T4", "t4"),
        ("Intel(R) Data Center GPU Max 1550", "data center gpu max 1550"),
        ("  NVIDIA  GeForce RTX 4090 ", "geforce rtx 4090"),
    ],
)
def test_names_are_normalised_before_matching(kind: str, normal: str) -> None:
    assert normalize(kind) == normal


def test_a_matched_record_gives_its_dense_peaks_and_bandwidth() -> None:
    record = load_catalog_record("nvidia-h100-sxm", GPU_DIR)
    assert record is not None
    peaks = peak_tflops_of(record)
    assert peaks["bf16"] == pytest.approx(989.4)
    assert memory_bandwidth_gb_s_of(record) == 3350


def test_null_peaks_are_left_out() -> None:
    record = load_catalog_record("nvidia-rtx-a5500", GPU_DIR)
    assert record is not None
    assert "bf16" not in peak_tflops_of(record)


def test_an_unknown_id_or_a_missing_catalog_gives_no_record(tmp_path: Path) -> None:
    assert load_catalog_record("nvidia-h100-sxm", tmp_path / "absent") is None
    assert load_catalog_record("no-such-gpu", GPU_DIR) is None
