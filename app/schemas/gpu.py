"""GPU as the API returns it (field names are the v1 contract of docs/api.md)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, Field

from app.schemas.catalog import FieldNote, Frameworks, PeakTflops, Platform, Segment, Vendor
from app.schemas.offers import OfferRead


class Framework(StrEnum):
    pytorch = "pytorch"
    jax = "jax"
    tensorflow = "tensorflow"


class GpuSort(StrEnum):
    id = "id"
    name = "name"
    vendor = "vendor"
    release_date = "release_date"
    memory_gb = "memory_gb"
    memory_bandwidth_gb_s = "memory_bandwidth_gb_s"
    bf16_tflops = "bf16_tflops"
    fp16_tflops = "fp16_tflops"
    fp32_tflops = "fp32_tflops"
    fp8_tflops = "fp8_tflops"
    tdp_w = "tdp_w"


@dataclass(frozen=True)
class GpuFilters:
    """What a GPU list is filtered by; None means no filter."""

    vendor: str | None = None
    segment: str | None = None
    ecosystem: str | None = None
    framework: str | None = None
    min_memory_gb: float | None = None
    q: str | None = None


class SourceRead(BaseModel):
    title: str
    url: str
    retrieved: dt.date
    fields: list[str] | None = None
    where: str | None = None


class InterconnectRead(BaseModel):
    type: str
    bandwidth_gb_s: float | None = Field(None, description="Total bidirectional GB/s per GPU.")
    note: str | None = None


class EcosystemRead(BaseModel):
    platform: Platform
    compute_capability: str | None = None
    rocm_supported: bool | None = None
    frameworks: Frameworks


class PriceRead(BaseModel):
    kind: str
    provider: str
    instance: str | None = None
    gpus_per_instance: int | None = None
    region: str | None = None
    instance_usd_per_hour: float | None = None
    usd_per_gpu_hour: float | None = None
    purchase_usd: float | None = None
    observed: str
    source: SourceRead
    note: str | None = None


class GpuRead(BaseModel):
    """A catalog GPU; `peak_tflops` holds dense figures only (int8 in TOPS)."""

    id: str
    name: str
    vendor: Vendor
    segment: Segment
    architecture: str
    form_factor: str
    release_date: str | None = None
    memory_gb: float = Field(description="Device memory, GB (10^9 bytes) as marketed.")
    memory_type: str
    memory_bandwidth_gb_s: float
    tdp_w: float | None = Field(None, description="Board power, W (None where unpublished).")
    peak_tflops: PeakTflops
    pcie_gen: int | None = None
    interconnect: InterconnectRead | None = None
    launch_price_usd: float | None = None
    ecosystem: EcosystemRead
    sources: list[SourceRead]


class GpuDetailRead(GpuRead):
    """A GPU with everything known about it: notes on derived fields, prices, measurements."""

    memory_bus_width_bits: int | None = None
    notes: list[FieldNote]
    prices: list[PriceRead]
    measurements: list[dict[str, object]] = Field(
        default_factory=list, description="Probe measurements of this GPU model, newest first."
    )
    offers: list[OfferRead] = Field(
        default_factory=list, description="Rentable instances of this GPU, cheapest first."
    )


class GpuPage(BaseModel):
    items: list[GpuRead]
    total: int = Field(description="How many GPUs match the filters in all.")
    limit: int
    offset: int
