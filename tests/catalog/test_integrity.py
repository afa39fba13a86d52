"""Integrity checks that catch the classic catalog errors.

Sparse figures passed off as dense, FP16-accumulate GeForce figures passed off as the training
rate, shader FP32 passed off as tensor throughput, implausible bandwidths, unsourced records,
undated prices.
"""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlparse

import pytest

from app.schemas.catalog import PRECISIONS, CatalogGpu
from app.services.catalog import LoadedCatalog

# Plausible per-device bandwidth (GB/s) by memory type: slowest and fastest shipping parts of
# each memory generation (e.g. GDDR6: 128-bit at 14 Gbps = 224 ... 384-bit at 20 Gbps = 960;
# HBM3e: 4 stacks ~ 4.0 TB/s ... 8 stacks at 8 Gbps = 8 TB/s).
BANDWIDTH_RANGE_GB_S = {
    "GDDR5": (40, 600),
    "GDDR6": (150, 1_000),
    "GDDR6X": (400, 1_100),
    "GDDR7": (400, 1_900),
    "HBM2": (250, 1_600),  # A100 40GB: five stacks, 1,555 GB/s
    "HBM2E": (800, 3_800),  # Gaudi 3: eight stacks, 3.7 TB/s
    "HBM3": (1_600, 5_400),
    "HBM3E": (2_000, 8_500),
}
# A vendor's dense bf16/fp16 tensor peak rarely more than doubles from one flagship to the next
# (V100 125 -> A100 312 was 2.5x with bf16 new; H100 989 was 3.2x): a bigger jump must carry a
# note explaining it, or it is a sparse figure.
FLAGSHIP_JUMP = 2.2


def _tensor_peak(gpu: CatalogGpu) -> float | None:
    return gpu.peak_tflops.bf16 or gpu.peak_tflops.fp16


def _has_note(gpu: CatalogGpu, field: str) -> bool:
    return any(n.field.startswith(field) or field.startswith(n.field) for n in gpu.notes)


def test_the_catalog_holds_at_least_80_gpus_of_all_vendors_and_segments(
    catalog: LoadedCatalog,
) -> None:
    assert len(catalog.gpus) >= 80
    assert {g.vendor.value for g in catalog.gpus} == {"nvidia", "amd", "intel"}
    assert {g.segment.value for g in catalog.gpus} == {"consumer", "workstation", "datacenter"}


def test_ids_are_unique(catalog: LoadedCatalog) -> None:
    duplicates = [i for i, n in Counter(g.id for g in catalog.gpus).items() if n > 1]
    assert duplicates == []


def test_every_record_cites_https_sources_dated_on_or_before_today(catalog: LoadedCatalog) -> None:
    for gpu in catalog.gpus:
        assert gpu.sources, gpu.id
        for source in gpu.sources:
            assert urlparse(str(source.url)).scheme in {"https", "http"}, gpu.id
            assert source.retrieved.year >= 2024, gpu.id


def test_every_key_figure_is_backed_by_a_named_source(catalog: LoadedCatalog) -> None:
    """Each source lists the fields it backs; memory, bandwidth, peaks and power all need one."""
    problems = []
    for gpu in catalog.gpus:
        covered: set[str] = set()
        for source in gpu.sources:
            covered |= set(source.fields or ["*"])
        for field in ("memory_gb", "memory_bandwidth_gb_s", "peak_tflops", "tdp_w"):
            if field == "tdp_w" and gpu.tdp_w is None:
                continue
            if "*" not in covered and not any(
                c == field or c.startswith(field + ".") for c in covered
            ):
                problems.append(f"{gpu.id}: no source backs {field}")
    assert problems == []


def test_notes_and_source_fields_name_real_fields(catalog: LoadedCatalog) -> None:
    top = set(CatalogGpu.model_fields)
    for gpu in catalog.gpus:
        named = [n.field for n in gpu.notes] + [f for s in gpu.sources for f in s.fields or []]
        for field in named:
            assert field.split(".")[0].split("[")[0] in top | {"sources", "general", "record"}, (
                gpu.id,
                field,
            )


def test_tensor_throughput_is_at_least_vector_fp32(catalog: LoadedCatalog) -> None:
    for gpu in catalog.gpus:
        peak = gpu.peak_tflops
        for tensor in (peak.fp16, peak.bf16):
            if tensor and peak.fp32:
                assert tensor >= peak.fp32 * 0.99, f"{gpu.id}: tensor {tensor} < fp32 {peak.fp32}"


def test_fp8_and_int8_are_at_most_twice_bf16(catalog: LoadedCatalog) -> None:
    """Dense fp8/int8 run at 2x bf16 on data-center and workstation chips; more means a sparse
    figure slipped in. GeForce int8 runs at 4x its (half-rate, FP32-accumulate) bf16."""
    for gpu in catalog.gpus:
        base = _tensor_peak(gpu)
        geforce = gpu.vendor.value == "nvidia" and gpu.segment.value == "consumer"
        for name in ("fp8", "int8"):
            value = getattr(gpu.peak_tflops, name)
            limit = 4.1 if (geforce and name == "int8") else 2.05
            if value and base:
                assert value <= limit * base or _has_note(gpu, f"peak_tflops.{name}"), (
                    gpu.id,
                    name,
                )


def test_geforce_tensor_rate_is_the_fp32_accumulate_figure(catalog: LoadedCatalog) -> None:
    """GeForce Ampere/Ada/Blackwell run FP16/BF16 with FP32 accumulate at 2x the shader FP32
    rate (whitepaper appendices); 4x means the FP16-accumulate (or a sparse) figure was taken."""
    for gpu in catalog.gpus:
        if gpu.vendor.value != "nvidia" or gpu.segment.value != "consumer":
            continue
        tensor, fp32 = _tensor_peak(gpu), gpu.peak_tflops.fp32
        if tensor and fp32 and gpu.architecture.startswith(("Ampere", "Ada", "Blackwell")):
            assert tensor / fp32 <= 2.2, f"{gpu.id}: tensor/fp32 = {tensor / fp32:.2f}"


def test_no_tensor_peak_jumps_past_the_previous_flagship_without_a_note(
    catalog: LoadedCatalog,
) -> None:
    problems = []
    dated = [g for g in catalog.gpus if g.release_date and _tensor_peak(g)]
    for gpu in dated:
        earlier = [
            _tensor_peak(g) or 0.0
            for g in dated
            if g.vendor == gpu.vendor and (g.release_date or "") < (gpu.release_date or "")[:4]
        ]
        if not earlier:
            continue
        flagship = max(earlier)
        peak = _tensor_peak(gpu) or 0.0
        field = "peak_tflops.bf16" if gpu.peak_tflops.bf16 else "peak_tflops.fp16"
        if peak > FLAGSHIP_JUMP * flagship and not _has_note(gpu, field):
            problems.append(f"{gpu.id}: {peak} > {FLAGSHIP_JUMP} x earlier flagship {flagship}")
    assert problems == []


def test_memory_bandwidth_is_plausible_for_the_memory_type(catalog: LoadedCatalog) -> None:
    for gpu in catalog.gpus:
        kind = gpu.memory_type.upper().replace(" ", "")
        if kind not in BANDWIDTH_RANGE_GB_S:
            continue
        low, high = BANDWIDTH_RANGE_GB_S[kind]
        assert low <= gpu.memory_bandwidth_gb_s <= high, (gpu.id, kind, gpu.memory_bandwidth_gb_s)


def test_every_gpu_has_its_software_stack(catalog: LoadedCatalog) -> None:
    for gpu in catalog.gpus:
        platform = gpu.ecosystem.platform.value
        expected = {"nvidia": {"cuda"}, "amd": {"rocm"}, "intel": {"oneapi", "synapseai"}}[
            gpu.vendor.value
        ]
        assert platform in expected, gpu.id
        if platform == "cuda":
            assert gpu.ecosystem.compute_capability, f"{gpu.id}: no compute capability"


def test_every_gpu_has_a_throughput_figure(catalog: LoadedCatalog) -> None:
    for gpu in catalog.gpus:
        assert any(getattr(gpu.peak_tflops, p) for p in PRECISIONS), gpu.id


def test_prices_are_dated_and_plausible(catalog: LoadedCatalog) -> None:
    for price in catalog.prices:
        assert price.source.retrieved.year >= 2024, price
        if price.observed == "unknown":
            assert price.note, (
                f"{price.gpu} {price.provider}: undated price without a note saying why"
            )
        if price.usd_per_gpu_hour is not None:
            assert 0.05 <= price.usd_per_gpu_hour <= 100, price
        if price.purchase_usd is not None:
            assert 100 <= price.purchase_usd <= 500_000, price


@pytest.mark.parametrize("vendor", ["nvidia", "amd", "intel"])
def test_each_vendor_has_datacenter_parts(catalog: LoadedCatalog, vendor: str) -> None:
    assert any(g.vendor.value == vendor and g.segment.value == "datacenter" for g in catalog.gpus)
